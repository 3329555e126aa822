"""Removing closed cases past their retention, and the record that they were removed.

Decides what a purge takes: a case closed before the cut-off goes with everything that is part
of it (its messages in and out, their raw bytes and attachments, its outbox rows, its audit
trail, its working group, its citizen form). What stays is one `PurgeRecord` per purge: the
cut-off, who asked, the ids of the cases and how many rows of each kind went, written in the same
transaction as the deletions. Open cases, cases closed since the cut-off and messages that belong
to no case are never touched. A large purge runs in transactions of `BATCH` cases.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlmodel import Session

from . import sql, states
from .writer import unit_of_work
from .models import (Attachment, AuditEvent, Case, CaseActor, CitizenForm, Message, OutboxMail, PurgeRecord,
                     RawMessage, utcnow)

BATCH = 500


def due(engine, closed_before: datetime) -> list[str]:
    """The ids of the cases a purge with this cut-off would remove, oldest first."""
    with engine.connect() as conn:
        return list(conn.execute(select(Case.id).where(Case.state == states.CLOSED, Case.closed_at.is_not(None),
                                                       Case.closed_at < closed_before)
                                 .order_by(Case.closed_at, Case.id)).scalars())


def purge(engine, closed_before: datetime, *, who: str) -> dict:
    """Remove the cases closed before CLOSED_BEFORE; returns what went (`case_ids`, `counts`)."""
    case_ids = due(engine, closed_before)
    totals: dict[str, int] = {}
    for start in range(0, len(case_ids), BATCH):
        batch = case_ids[start:start + BATCH]
        with unit_of_work(engine) as session:
            counts = _remove(session, batch)
            sql.insert_object(session, PurgeRecord(at=utcnow(), who=who, closed_before=closed_before,
                                                   case_ids=json.dumps(batch), counts=json.dumps(counts, sort_keys=True)))
        for table, n in counts.items():
            totals[table] = totals.get(table, 0) + n
    return {"closed_before": closed_before.isoformat(), "case_ids": case_ids, "counts": totals}


def _remove(session: Session, case_ids: list[str]) -> dict[str, int]:
    conn = session.connection()
    # again within the transaction: a case reopened meanwhile stays
    case_ids = list(conn.execute(select(Case.id).where(Case.id.in_(case_ids), Case.state == states.CLOSED)).scalars())
    messages = set(conn.execute(select(Message.id).where(Message.case_id.in_(case_ids))).scalars())
    messages |= set(conn.execute(select(OutboxMail.message_pk).where(OutboxMail.case_id.in_(case_ids))).scalars())
    messages = sorted(messages)
    counts = {}
    # another case's audit event may name one of these mails: it keeps the event, not the link
    conn.execute(update(AuditEvent).where(AuditEvent.message_pk.in_(messages), AuditEvent.case_id.not_in(case_ids))
                 .values(message_pk=None))
    for name, statement in (
        ("audit_events", delete(AuditEvent).where(AuditEvent.case_id.in_(case_ids))),
        ("outbox", delete(OutboxMail).where(OutboxMail.message_pk.in_(messages))),
        ("attachments", delete(Attachment).where(Attachment.message_pk.in_(messages))),
        ("raw_messages", delete(RawMessage).where(RawMessage.message_pk.in_(messages))),
        ("messages", delete(Message).where(Message.id.in_(messages))),
        ("case_actors", delete(CaseActor).where(CaseActor.case_id.in_(case_ids))),
        ("citizen_forms", delete(CitizenForm).where(CitizenForm.case_id.in_(case_ids))),
        ("cases", delete(Case).where(Case.id.in_(case_ids))),
    ):
        counts[name] = conn.execute(statement).rowcount
    return counts
