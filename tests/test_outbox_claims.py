"""The outbox sender's claims: a queued mail is claimed by one sender at a time, a claim whose
sender died is taken again after ten minutes, and a mail not yet due waits."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from conftest import incident_mail
from daemon import config as config_mod
from daemon.outbound.sender import claim_due
from daemon.pipeline.process import run_until_empty
from daemon.registry.models import utcnow
from daemon.registry.store import Incoming, store_group
from daemon.runtime import Runtime


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


@pytest.fixture
def queued(tmp_path):
    """queued(N): a registry with N new reports applied, so N acknowledgements queued; the
    runtime, the database, and the (outbox id, message pk) of each queued mail, in order."""
    runtimes = []

    def make(n: int):
        cfg = config_mod.parse({"database": {"url": f"sqlite:///{tmp_path}/sakspost.db"},
                                "paths": {"var_dir": str(tmp_path / "var")}})
        rt = Runtime.open(cfg)
        runtimes.append(rt)
        store_group(rt.engine, [Incoming(incident_mail(subject=f"Feil {i}", message_id=f"<ob-{i}@sykehus.example>"),
                                         "test") for i in range(n)])
        run_until_empty(rt)
        db = sqlite3.connect(tmp_path / "sakspost.db")
        rows = [tuple(row) for row in db.execute("select id, message_pk from outboxmail order by id")]
        assert len(rows) == n
        return rt, db, rows

    yield make
    for rt in runtimes:
        rt.close()


def test_a_queued_mail_is_claimed_once_and_again_when_its_claim_is_stale(queued):
    rt, db, rows = queued(2)
    (first, _), (second, _) = rows
    with db:  # the second is not due for an hour (a retry's backoff)
        db.execute("update outboxmail set next_attempt_at = ? where id = ?",
                   (_stamp(utcnow() + timedelta(hours=1)), second))
    assert claim_due(rt) == [first]
    assert claim_due(rt) == []  # claimed: no other sender takes it
    with db:  # its sender died eleven minutes ago
        db.execute("update outboxmail set claimed_at = ? where id = ?",
                   (_stamp(utcnow() - timedelta(minutes=11)), first))
    assert claim_due(rt, limit=5) == [first]


def test_a_delivery_that_raises_leaves_the_rest_of_its_batch_neither_lost_nor_sent_twice(queued, tmp_path):
    """A mail whose delivery raises (its stored bytes are gone) ends the batch: the mails
    delivered before it are recorded as sent at once, not left claimed to be sent again in ten
    minutes; the ones after it are released and go with the next batch; it keeps its claim."""
    from daemon.outbound.sender import send_due

    rt, db, rows = queued(3)
    with db:
        db.execute("delete from rawmessage where message_pk = ?", (rows[1][1],))
    with pytest.raises(IndexError):  # the runner logs it and goes on
        send_due(rt)

    def state():
        return [tuple(row) for row in db.execute("select status, claimed_at is not null from outboxmail order by id")]

    assert state() == [("sent", 0), ("pending", 1), ("pending", 0)]
    assert send_due(rt) == {rows[2][0]: "sent"}
    assert state() == [("sent", 0), ("pending", 1), ("sent", 0)]
    assert len(list((tmp_path / "var" / "sent" / "new").iterdir())) == 2
