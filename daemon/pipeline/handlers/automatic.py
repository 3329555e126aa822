"""Automatic mail (auto-replies, bounces, list mail, our own mail come back): record, never answer.

If it belongs to a case it is attached there with an audit event, so a bounce of an
acknowledgement is visible on the case (and, for an incident, our handlers are told); otherwise it is only kept as a processed message.
"""

from sqlmodel import Session

from ... import notify
from ...registry import cases, sql
from ...registry.models import Case


def record(session: Session, rt, message, mail, verdict) -> None:
    if verdict.case_id:
        case = sql.get(session, Case, verdict.case_id)
        if case is not None:
            cases.attach_message(session, case, message, action="automatic_mail_received",
                                 detail={"rule": verdict.rule, "reason": verdict.reason})
            if verdict.rule == "bounce" and case.kind == "incident":
                notify.bounce(session, rt, case, message)
