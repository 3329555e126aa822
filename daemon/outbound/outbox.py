"""The transactional outbox: a mail is queued in the same transaction as the change causing it.

Decides nothing about content. `enqueue` adds the outbound Message (with the exact bytes and
Message-ID that every retry will send), its raw copy and the OutboxMail row to the caller's
session; the caller (the registry) commits them together with the case change and its audit
event, so a mail is queued exactly when the change happens, and never without it.
"""

from __future__ import annotations

import hashlib

from sqlmodel import Session

from ..registry.models import Message, OutboxMail, RawMessage
from .render import Composed


def enqueue(session: Session, mail: Composed, *, case_id: str | None, purpose: str, envelope_from: str) -> OutboxMail:
    msg = Message(
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
    )
    session.add(msg)
    # Linked by relationship, not by id: all three rows are written by the caller's next flush.
    session.add(RawMessage(message=msg, data=mail.raw))
    row = OutboxMail(
        message=msg,
        case_id=case_id,
        purpose=purpose,
        mail_from=envelope_from,
        recipients=",".join(mail.recipients),
    )
    session.add(row)
    return row
