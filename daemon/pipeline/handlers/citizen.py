"""Citizen forms: register the inquiry as a case of kind citizen_form."""

from __future__ import annotations

from sqlmodel import Session

from ...registry import cases, states


def new_form(session: Session, rt, message, mail, verdict) -> None:
    sender = mail.reply_to or mail.from_addr
    case = cases.open_case(session, "citizen_form", who=sender or "unknown", message_pk=message.id,
                           reporter=sender, subject=mail.subject[:500] or "(uten emne)")
    cases.attach_message(session, case, message, who=sender)
    cases.transition(session, case, states.OPEN, reason="registered")
