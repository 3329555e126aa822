"""The transactional outbox: a mail is queued in the same transaction as the change causing it.

Decides nothing about content: `outbound.render` composes the mail, `outbound.sender` sends it.
`enqueue` writes the outbound Message (with the exact bytes and Message-ID that every retry will
send), its raw copy and the OutboxMail row in the caller's transaction; the caller commits them together with the case change and its audit
event, so a mail is queued exactly when the change happens, and never without it.
"""

from __future__ import annotations

import hashlib

from sqlmodel import Session

from . import sql
from .models import Message, OutboxMail, row_values
from .store import write_raw


def enqueue(session: Session, mail, *, case_id: str | None, purpose: str, envelope_from: str) -> int:
    """Queue MAIL (an `outbound.render.Composed`: raw, message_id, recipients, subject, text) in
    the caller's transaction; return its Message id. The rows are written at once
    (`registry.sql`); CASE_ID's row must be written already."""
    pk = sql.insert_row(session, Message, row_values(
        Message,
        direction="out",
        fingerprint=hashlib.sha256(mail.raw).hexdigest(),
        message_id=mail.message_id,
        size=len(mail.raw),
        source="outbox",
        mail_from=envelope_from,
        rcpt_tos=",".join(mail.recipients),
        status="queued",
        case_id=case_id,
        classification=purpose,
        subject=mail.subject,
        from_addr=envelope_from,
        text=mail.text,
    ), returning_id=True)
    write_raw(session, pk, mail.raw)  # a large mail (logs forwarded to NHN) through a blob handle
    sql.insert_row(session, OutboxMail, row_values(
        OutboxMail,
        message_pk=pk,
        case_id=case_id,
        purpose=purpose,
        mail_from=envelope_from,
        recipients=",".join(mail.recipients),
    ))
    return pk
