"""Incident reports from health personnel: open a case and acknowledge it; thread replies."""

from __future__ import annotations

from sqlmodel import Session

from ...registry import cases, states
from ...registry.models import Case


def new_report(session: Session, rt, message, mail, verdict) -> None:
    reporter = mail.reply_to or mail.from_addr
    case = cases.open_case(
        session, "incident", who=reporter or "unknown", message_pk=message.id,
        reporter=reporter, reporter_name=mail.from_name[:200], subject=mail.subject[:500] or "(uten emne)",
        description=mail.text[:100_000],
    )
    cases.attach_message(session, case, message, who=reporter)
    cases.transition(session, case, states.OPEN, reason="registered")
    cases.send(session, rt, case, "acknowledgement", {"reporter_name": mail.from_name},
               to=[reporter], purpose="acknowledgement", reply_to_message=message)


def reply(session: Session, rt, message, mail, verdict) -> None:
    case = session.get(Case, verdict.case_id)
    cases.attach_message(session, case, message, detail={"matched_by": verdict.reason})
