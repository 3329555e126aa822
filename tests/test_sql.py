"""The registry's statements on the driver (registry/sql.py) read and write what the ORM would:
a row loaded without the ORM has every column's value as the ORM loads it, on SQLite and on
PostgreSQL, and a change written through is in the database and in the session's object."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest
from sqlmodel import Session

from daemon.registry import cases, sql
from daemon.registry.db import open_engine, read_only
from daemon.registry.models import CitizenForm, Message, as_utc

PG = "host=127.0.0.1 port=5432 dbname=test user=postgres"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        engine = open_engine(f"sqlite:///{tmp_path}/sakspost.db")
        yield engine
        engine.dispose()
        return
    name = f"sakspost_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = open_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    yield engine
    engine.dispose()
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _columns(obj) -> dict:
    return {c.key: getattr(obj, c.key) for c in type(obj).__table__.columns}


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, datetime) and isinstance(y, datetime):
            x, y = as_utc(x), as_utc(y)
        assert (x, type(x)) == (y, type(y)), key


def test_a_row_read_on_the_driver_is_the_row_the_orm_reads(engine):
    moment = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=timezone.utc)
    with Session(engine) as session:
        case = cases.open_case(session, "citizen_form", who="ola@example.no", now=moment, subject="Innsyn æøå",
                               severity="B", received_at=date(2026, 12, 1), deadline=date(2027, 1, 1),
                               escalated_at=moment + timedelta(hours=1))
        session.add(CitizenForm(case_id=case.id, refused=True, extension_months=2, answered_on=date(2026, 12, 24)))
        session.commit()
        case_id = case.id
    with Session(read_only(engine)) as session:
        by_orm = _columns(session.get(cases.Case, case_id))
        form_by_orm = _columns(session.get(CitizenForm, case_id))
    with read_only(engine).connect() as conn:
        (case,) = sql.load(conn, cases.Case, [case_id])
        (form,) = sql.load(conn, CitizenForm, [case_id])
    _same(_columns(case), by_orm)
    _same(_columns(form), form_by_orm)
    assert by_orm["escalated_at"] is not None and form_by_orm["refused"] is True
    with read_only(engine).connect() as conn:
        assert sql.load(conn, cases.Case, ["SAK-1999-000001"]) == []


def test_get_gives_the_session_s_own_object_and_a_write_reaches_the_database(engine):
    with Session(engine) as session:
        case = cases.open_case(session, "incident", who="kari@sykehus.example")
        session.commit()
        case_id = case.id
    with Session(engine) as session:
        case = sql.get(session, cases.Case, case_id)
        assert sql.get(session, cases.Case, case_id) is case  # the identity map first
        assert sql.get(session, cases.Case, "SAK-1999-000001") is None
        changed = sql.write(session, case, severity="A", contact="55 55 55 55")
        assert changed == {"contact": ("", "55 55 55 55"), "severity": (None, "A")}
        assert sql.write(session, case, severity="A") == {}  # nothing changed, nothing written
        assert not session.dirty
        session.commit()
    with Session(read_only(engine)) as session:
        row = session.get(cases.Case, case_id)
        assert (row.severity, row.contact) == ("A", "55 55 55 55")


def test_a_driver_error_is_the_error_sqlalchemy_raises(engine):
    from sqlalchemy.exc import IntegrityError

    with Session(engine) as session:
        row = {c.key: None for c in Message.__table__.columns if c.key != "id"}
        with pytest.raises(IntegrityError):
            sql.insert_row(session, Message, row)  # NOT NULL columns


def test_a_database_error_does_not_carry_the_values_it_was_given(engine):
    """What a failed statement says (it is logged, and kept as a dead-lettered message's
    reason) names the statement and the error, not the values bound to it: a mail's subject
    and text are health data, and the log leaves the database (its formatter takes out
    identity numbers, not names)."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from daemon.registry.models import Case, row_values

    with Session(engine) as session:
        case = cases.open_case(session, "incident", who="kari@sykehus.example")
        session.commit()
        row = row_values(Case, id=case.id, kind="incident", state="new",
                         subject="Journalen til pasient Ola Nordmann vises ikke")
        for path in ("driver", "core"):
            with pytest.raises(IntegrityError) as raised:  # the same case number again
                if path == "driver":
                    sql.insert_row(session, Case, row)
                else:
                    session.execute(insert(Case).values(**row))
            session.rollback()
            assert "Ola Nordmann" not in str(raised.value), path
            assert "case" in str(raised.value)
