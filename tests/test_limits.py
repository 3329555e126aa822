"""The `[limits]` caps as the registry keeps them, on SQLite and PostgreSQL: an address gets its
hour's worth and no more, the hour slides, each address and kind is counted on its own, and an
exempt sender is never counted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from daemon import config as config_mod
from daemon.registry import limits
from daemon.registry.db import open_engine
from daemon.registry.models import utcnow


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/sakspost.db"
    else:
        url = request.getfixturevalue("pg_database")
    engine = open_engine(url)
    yield engine
    engine.dispose()


def test_an_address_gets_its_hours_worth_and_no_more(engine):
    cfg = config_mod.parse({"limits": {"auto_mails_per_hour": 3, "new_cases_per_hour": 2,
                                       "exempt_senders": ["skjema.example"]}})
    start = utcnow() - timedelta(minutes=90)
    with Session(engine) as session:
        got = [limits.take(session, cfg, limits.AUTO_MAIL, "Ola@Sykehus.example", start + timedelta(minutes=i))
               for i in range(5)]
        assert got == [True, True, True, False, False]
        # another kind, another address: counted on their own
        assert [limits.take(session, cfg, limits.NEW_CASE, "ola@sykehus.example", start) for _ in range(3)] == [
            True, True, False]
        assert limits.take(session, cfg, limits.AUTO_MAIL, "kari@sykehus.example", start)
        # the exempt are never counted
        assert all(limits.take(session, cfg, limits.AUTO_MAIL, "post@skjema.example", start) for _ in range(10))
        assert limits.recent(session, limits.AUTO_MAIL, "post@skjema.example", start) == 0
        session.commit()
    with Session(engine) as session:  # what was counted was committed with the caller's transaction
        assert limits.recent(session, limits.AUTO_MAIL, "ola@sykehus.example", start + timedelta(minutes=5)) == 3
        # the hour slides: once the first two are more than an hour old, two more may go (the
        # refused were not counted)
        later = start + timedelta(minutes=61, seconds=30)
        assert limits.take(session, cfg, limits.AUTO_MAIL, "ola@sykehus.example", later)
        assert limits.take(session, cfg, limits.AUTO_MAIL, "ola@sykehus.example", later)
        assert not limits.take(session, cfg, limits.AUTO_MAIL, "ola@sykehus.example", later)
        session.rollback()
    with Session(engine) as session:  # rolled back with it
        assert limits.recent(session, limits.AUTO_MAIL, "ola@sykehus.example", start + timedelta(minutes=5)) == 3
        assert limits.recent(session, limits.AUTO_MAIL, "ola@sykehus.example", later) == 1
