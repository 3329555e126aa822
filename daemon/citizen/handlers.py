"""Citizen mail: a form opens a case (or joins the same form's case); mail on a citizen case is
threaded there, carries handlers' commands, or is another actor's answer to our question.

The citizen's own mail on the case is kept and never answered automatically: nothing they wrote
is echoed back by e-mail. The citizen's later mail and another actor's answer are told to the
owner's people (`citizen.notices.followup`), without what they say. `citizen.hooks` registers
these handlers with the pipeline.
"""

from __future__ import annotations

from sqlmodel import Session

from ..pipeline import commands
from ..pipeline.commands import run_commands
from ..pipeline.handlers.held import hold_if_flooding
from ..pipeline.proof import reply_address
from ..pipeline.quoted import own_text
from ..registry import cases, sql
from ..registry.models import Case
from . import notices, workflow
from .deadlines import local_date
from .forms import read_form


def new_form(session: Session, rt, message, mail, verdict) -> None:
    reading = read_form(mail.subject, mail.text, [(a.filename, a.content_type, a.data) for a in mail.attachments])
    sender = reply_address(mail)[:500]
    if hold_if_flooding(session, rt, message, mail, sender):
        return
    automatic = verdict.reason.startswith("automatic")
    workflow.register(session, rt, message, workflow.Submission(
        reading=reading, channel="email", received=local_date(message.received_at),
        submitted_at=message.received_at,
        reply_address=workflow.citizen_address(rt.config, sender, reading.fields.get("email", ""),
                                               automatic=automatic),
        recipients=[r for r in (*message.rcpt_tos.split(","), *mail.to, *mail.cc) if r],
        body=mail.text, who=sender or "unknown"))


def reply(session: Session, rt, message, mail, verdict) -> None:
    case = sql.get(session, Case, verdict.case_id)
    sender = mail.from_addr
    lines = commands.parse(own_text(mail.text))
    if lines and commands.handler_address(session, rt.config, case, sender):
        cases.attach_message(session, case, message, who=sender, detail={"matched_by": verdict.reason})
        run_commands(session, rt, case, message, mail, lines)
    elif workflow.answers_a_question(session, case, mail):
        cases.attach_message(session, case, message, who=sender, action="actor_answer_received",
                             detail={"matched_by": verdict.reason})
        notices.followup(session, rt, case, message, kind="actor_answer", sender=sender)
    else:
        cases.attach_message(session, case, message, who=sender, detail={"matched_by": verdict.reason})
        if lines:  # not a handler's: recorded, and (unlike incidents) not answered, to echo nothing
            cases.note(session, case, "command_refused", who=sender, message_pk=message.id,
                       detail={"commands": len(lines), "reason": "not a handler of an involved actor"})
        notices.followup(session, rt, case, message, kind="message", sender=sender)
