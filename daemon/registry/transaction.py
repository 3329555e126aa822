"""What a session's transaction holds besides SQLAlchemy's unit of work, and how it ends.

Decides when the registry's deferred writes happen and what a rolled-back savepoint takes with
it. Three things are kept per session, in the order they happened:

- audit events (`cases.audit`), written in one INSERT just before the transaction commits
  (one statement for a whole pipeline transaction instead of one per event);
- the cases those events touched, whose `updated_at` is written with them (one UPDATE per case
  for the transaction, where there was one per event);
- the rows written through (`sql.write`, `models.as_written`): their columns are already in
  the database, and the session's objects hold them as committed values.

A savepoint keeps a mark where it began. Rolled back, it takes exactly what was recorded after
the mark: its events and touches are dropped, the objects it wrote through are expired (the next
read loads the row as the rollback left it) and the rows it inserted are expunged. SQLAlchemy's
`after_soft_rollback` fires for savepoints too, which is what makes the mark per savepoint. A
transaction that ends takes what is left with it: committed, written; otherwise dropped with
the changes it would have described.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session


class _Pending:
    __slots__ = ("events", "touched", "written", "marks", "connection", "connection_for")

    def __init__(self):
        self.connection = None  # the Core connection, as last asked of the session (`sql`)
        self.connection_for = None  # ... for this (innermost) transaction
        self.events: list[dict] = []  # audit event rows
        self.touched: list[tuple[str, object]] = []  # (case id, updated_at)
        self.written: list[tuple[object, bool]] = []  # (object, inserted here)
        self.marks: dict = {}  # savepoint -> (len(events), len(touched), len(written)) when it began


_KEY = "sakspost_pending"


def _pending(session: Session) -> _Pending:
    pending = session.info.get(_KEY)
    if pending is None:
        pending = session.info[_KEY] = _Pending()
    return pending


def audit_event(session: Session, row: dict, case_id: str, at) -> None:
    """Record the audit event ROW, and that case CASE_ID was changed AT, for this transaction."""
    pending = _pending(session)
    pending.events.append(row)
    pending.touched.append((case_id, at))


def pending_events(session: Session, case_id: str) -> list[dict]:
    """CASE_ID's audit events of this transaction not yet written (their row values), oldest first."""
    pending = session.info.get(_KEY)
    return [row for row in pending.events if row["case_id"] == case_id] if pending is not None else []


def connection(session: Session):
    """SESSION's Core connection for its innermost transaction: `Session.connection()` once per
    transaction or savepoint, not once per statement (it is not cheap). It must be asked again
    when a savepoint begins: that is when SQLAlchemy emits the SAVEPOINT (a test rolls a savepoint back after statements run on the driver)."""
    pending = _pending(session)
    current = session.get_nested_transaction() or session.get_transaction()
    if pending.connection is None or pending.connection_for is not current:
        pending.connection = session.connection()
        pending.connection_for = session.get_nested_transaction() or session.get_transaction()
    return pending.connection


def written(session: Session, obj, *, inserted: bool = False) -> None:
    """OBJ's changes (or, INSERTED, its whole row) were written through in this transaction."""
    _pending(session).written.append((obj, inserted))


@event.listens_for(Session, "before_commit")
def _write_before_commit(session) -> None:
    # SQLAlchemy fires this for a savepoint's release too: the events wait for the transaction
    # itself (the savepoints around them still need their marks into the same list)
    if session.in_nested_transaction():
        return
    pending = session.info.get(_KEY)
    if pending is not None and pending.events:
        from . import sql
        from .models import AuditEvent, Case

        events, touched = pending.events, dict(pending.touched)  # a case's last change wins
        pending.events, pending.touched = [], []
        session.flush()  # nothing, as every row is written through; were there any, before the events
        sql.insert_rows(session, AuditEvent, events)
        sql.update_rows(session, Case, ("updated_at",),
                        [{"updated_at": at, "pk_id": case_id} for case_id, at in touched.items()])


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session, trans) -> None:
    pending = session.info.get(_KEY)
    if trans.nested and pending is not None:
        pending.marks[trans] = (len(pending.events), len(pending.touched), len(pending.written))


@event.listens_for(Session, "after_rollback")
def _forget_inserted(session) -> None:
    # The database has rolled the whole transaction back (SQLAlchemy fires this before the
    # transaction ends, and `after_soft_rollback` only after that, when nothing is pending any
    # more): SQLAlchemy expires every object, but rows inserted here are not there at all, and
    # a session used again must not find them. A savepoint's rollback: `_forget_rolled_back`.
    pending = session.info.get(_KEY)
    if pending is None or session.in_nested_transaction():
        return
    for obj, inserted in pending.written:
        if inserted and obj in session:
            session.expunge(obj)
    pending.written = []


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session, previous_transaction) -> None:
    pending = session.info.get(_KEY)
    if pending is None:
        return
    if not previous_transaction.nested:
        return  # the whole transaction: `_forget_inserted`, and its end drops the rest
    # no mark: the savepoint began before anything was recorded, so all of it came after it
    events, touched, written_ = pending.marks.pop(previous_transaction, (0, 0, 0))
    del pending.events[events:], pending.touched[touched:]
    undone, pending.written = pending.written[written_:], pending.written[:written_]
    inserted = {id(obj): obj for obj, new in undone if new}
    for obj in inserted.values():
        if obj in session:
            session.expunge(obj)
    for obj, _ in undone:
        if id(obj) not in inserted and obj in session:
            session.expire(obj)


@event.listens_for(Session, "after_transaction_end")
def _end_transaction(session, trans) -> None:
    # Committed (its events written), rolled back or closed, nothing of the transaction is
    # pending any more. `parent is None`: not a savepoint, nor the inner transaction of a flush.
    if trans.parent is None:
        session.info.pop(_KEY, None)
