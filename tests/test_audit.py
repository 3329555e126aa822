"""The audit trail: every event recorded in a transaction is written when it commits, in the
order it was recorded; a rolled-back savepoint takes exactly its own events with it, and a
rolled-back transaction all of them."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from daemon.registry import cases
from daemon.registry.db import open_engine, read_only
from daemon.registry.models import AuditEvent, Case, as_utc


@pytest.fixture
def engine(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/sakspost.db")
    yield engine
    engine.dispose()


def _trail(engine) -> list[tuple[str, str]]:
    with Session(read_only(engine)) as session:
        return [(e.case_id, e.action) for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]


class Boom(Exception):
    pass


def test_events_are_written_at_commit_in_the_order_recorded(engine):
    with Session(engine) as session:
        case = cases.open_case(session, "incident", who="kari@sykehus.example")
        for i in range(3):
            cases.note(session, case, f"note_{i}")
        assert _trail(engine) == []  # nothing is visible before the commit
        case_id = case.id
        session.commit()
    assert _trail(engine) == [(case_id, "opened"), (case_id, "note_0"), (case_id, "note_1"), (case_id, "note_2")]


def test_a_rolled_back_savepoint_takes_only_its_own_events(engine):
    with Session(engine) as session:
        case = cases.open_case(session, "incident", who="kari@sykehus.example")
        cases.note(session, case, "before")
        with pytest.raises(Boom):
            with session.begin_nested():
                cases.note(session, case, "inside")
                raise Boom
        assert case in session  # opened before the savepoint: still the session's
        with session.begin_nested():  # a savepoint that is released keeps its events
            cases.note(session, case, "kept")
        with pytest.raises(Boom):
            with session.begin_nested():
                cases.note(session, case, "inside")
                with session.begin_nested():
                    cases.note(session, case, "nested inside")
                raise Boom
        cases.note(session, case, "after")
        session.commit()
    assert [action for _, action in _trail(engine)] == ["opened", "before", "kept", "after"]


def test_events_after_a_released_savepoint_go_with_the_savepoint_around_it(engine):
    with Session(engine) as session:
        case = cases.open_case(session, "incident", who="kari@sykehus.example")
        with pytest.raises(Boom):
            with session.begin_nested():
                cases.note(session, case, "inside")
                with session.begin_nested():  # released: its events belong to the one around it
                    cases.note(session, case, "nested inside")
                cases.note(session, case, "after the nested one")
                raise Boom
        with session.begin_nested():
            cases.note(session, case, "kept")
            with session.begin_nested():
                cases.note(session, case, "kept inside")
            cases.note(session, case, "kept after")
        session.commit()
    assert [action for _, action in _trail(engine)] == ["opened", "kept", "kept inside", "kept after"]


def test_a_savepoint_begun_before_the_first_event_takes_them_all(engine):
    with Session(engine) as session:
        case = cases.open_case(session, "incident", who="kari@sykehus.example")
        session.commit()
        with pytest.raises(Boom):
            with session.begin_nested():
                cases.note(session, case, "inside")
                raise Boom
        cases.note(session, case, "after")
        session.commit()
    assert [action for _, action in _trail(engine)] == ["opened", "after"]


@pytest.mark.parametrize("end", [Session.rollback, Session.close], ids=["rollback", "close"])
def test_a_transaction_rolled_back_or_closed_takes_all_its_events(engine, end):
    with Session(engine) as session:
        case = cases.open_case(session, "incident", who="kari@sykehus.example")
        session.commit()
        cases.note(session, case, "lost")
        end(session)  # the session may be used again after either
        cases.note(session, session.merge(case), "kept")
        session.commit()
    assert [action for _, action in _trail(engine)] == ["opened", "kept"]


def test_a_flush_inside_a_savepoint_does_not_lose_the_events_before_it(engine):
    with Session(engine) as session:
        case = cases.open_case(session, "incident", who="kari@sykehus.example")
        cases.note(session, case, "before")
        with pytest.raises(Boom):
            with session.begin_nested():
                cases.transition(session, case, "open")
                session.flush()  # as any query inside would (autoflush)
                session.exec(select(AuditEvent)).all()
                raise Boom
        cases.note(session, case, "after")
        session.commit()
    assert [action for _, action in _trail(engine)] == ["opened", "before", "after"]


# -- rows written through (registry/sql.py): in the database at once, undone with their savepoint

def _row(engine, case_id: str) -> tuple | None:
    with Session(read_only(engine)) as session:
        case = session.get(Case, case_id)
        return None if case is None else (case.state, as_utc(case.updated_at))


def test_a_change_is_in_the_database_before_commit_and_leaves_nothing_to_flush(engine):
    with Session(engine) as session:
        case = cases.open_case(session, "incident", who="kari@sykehus.example")
        session.commit()
        cases.transition(session, case, "open", reason="documented")
        assert not session.dirty and not session.new  # nothing waits in the unit of work
        # the transaction's own reads see it without a flush
        state = session.connection().exec_driver_sql('select state from "case" where id = ?', (case.id,)).scalar()
        assert state == "open"
        session.commit()
        assert _row(engine, case.id)[0] == "open"
        assert [action for _, action in _trail(engine)] == ["opened", "state_changed"]


def test_a_rolled_back_savepoint_undoes_what_it_wrote_through_and_the_session_sees_the_row_again(engine):
    with Session(engine, expire_on_commit=False) as session:
        case = cases.open_case(session, "incident", who="kari@sykehus.example")
        session.commit()
        before = _row(engine, case.id)
        with pytest.raises(Boom):
            with session.begin_nested():
                cases.transition(session, case, "open")
                cases.change(session, case, severity="B")
                assert case.state == "open"
                raise Boom
        # the object reads the row as the rollback left it, not what the savepoint wrote
        assert (case.state, case.severity) == ("new", None)
        cases.transition(session, case, "awaiting_info")
        session.commit()
    assert _row(engine, case.id)[0] == "awaiting_info" and _row(engine, case.id) != before
    assert [action for _, action in _trail(engine)] == ["opened", "state_changed"]


def test_a_case_opened_in_a_rolled_back_savepoint_is_gone_and_its_number_is_given_out_again(engine):
    with Session(engine) as session:
        with pytest.raises(Boom):
            with session.begin_nested():
                lost = cases.open_case(session, "incident", who="kari@sykehus.example")
                raise Boom
        assert lost not in session
        kept = cases.open_case(session, "incident", who="ola@sykehus.example")
        assert kept.id == lost.id  # no gap in the series, and no clash in the session
        session.commit()
        assert _row(engine, kept.id) is not None
    assert [action for _, action in _trail(engine)] == ["opened"]


def test_a_case_opened_in_a_rolled_back_transaction_is_gone_from_the_session_reused_after_it(engine):
    with Session(engine) as session:
        lost = cases.open_case(session, "incident", who="kari@sykehus.example")
        session.rollback()
        assert lost not in session
        kept = cases.open_case(session, "incident", who="ola@sykehus.example")
        assert kept.id == lost.id  # the same number again, and no clash with the row that is not there
        session.commit()
        assert _row(engine, kept.id) is not None
    assert [action for _, action in _trail(engine)] == ["opened"]


def test_updated_at_is_the_time_of_the_case_s_last_event(engine):
    with Session(engine) as session:
        case = cases.open_case(session, "incident", who="kari@sykehus.example")
        cases.note(session, case, "first")
        cases.transition(session, case, "open")
        session.commit()
        case_id = case.id
    with Session(read_only(engine)) as session:
        last = session.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)
                            .order_by(AuditEvent.id.desc())).first()
        assert as_utc(session.get(Case, case_id).updated_at) == as_utc(last.at)
