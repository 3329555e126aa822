"""Who at home is told about a case, and when: the handlers of this organisation.

Decides the recipients (`[notify] address` if set, else the `handlers` of the `[[actor]]` that is
this organisation, `[identity] actor`) and which new cases are told at once: severity A and B
always; C, D and cases still without a severity as `[notify] minor_cases` says ("immediate",
"digest": one mail a day listing them, or "none"). Each handler gets a mail of their own, so it
greets no one by someone else's name and carries that handler's command address as Reply-To
(`registry.cases.send`): answering it with `#commands` acts on the case.

`tell_handlers` is a plain function (session, runtime, case, template, context) that both
workflows use; it queues mail in the caller's transaction like every other change.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session, select

from .registry import cases
from .registry.models import AuditEvent, Case, utcnow

log = logging.getLogger("sakspost.notify")

URGENT = ("A", "B")


def handler_addresses(config) -> list[str]:
    """Where news of a case goes at home: `[notify] address`, else this organisation's handlers."""
    if config.notify.address:
        return [config.notify.address]
    actor = config.actor_by_id(config.identity.actor) if config.identity.actor else None
    return list(dict.fromkeys(actor.handlers)) if actor else []


def tell_handlers(session: Session, rt, case: Case, template: str, context: dict, *, purpose: str,
                  who: str = "system", reply_to_message=None, attachments=()) -> int:
    """Queue TEMPLATE to each of our handlers about CASE; returns how many mails were queued.
    With nobody to tell, the case records that nobody was told."""
    recipients = handler_addresses(rt.config)
    if not recipients:
        cases.note(session, case, "handlers_not_told", who="system",
                   detail={"purpose": purpose, "reason": "no [notify] address and no handlers of [identity] actor"})
        return 0
    queued = 0
    for address in recipients:
        if cases.send(session, rt, case, template, {"greeting_name": "", **context}, to=[address],
                      purpose=purpose, who=who, reply_to_message=reply_to_message,
                      auto_submitted="auto-generated", attachments=attachments):
            queued += 1
    return queued


def news(session: Session, rt, case: Case, headline: str, text: str = "", *, purpose: str, who: str = "system",
         sender: str = "", reply_to_message=None, attachments=()) -> int:
    """Tell the handlers HEADLINE about CASE, with TEXT (what someone wrote, or why)."""
    return tell_handlers(session, rt, case, "handler_notice",
                         {"headline": headline, "text": text, "sender": sender}, purpose=purpose, who=who,
                         reply_to_message=reply_to_message, attachments=attachments)


def new_case(session: Session, rt, case: Case, message=None) -> int:
    """A case was opened: tell the handlers now if it is urgent or `minor_cases` is immediate."""
    if case.severity not in URGENT and rt.config.notify.minor_cases != "immediate":
        return 0
    headline = (f"Ny sak med alvorlighetsgrad {case.severity}" if case.severity else "Ny sak")
    return news(session, rt, case, headline, case.description[:4000], purpose="handler_new_case",
                sender=case.reporter, reply_to_message=message)


def bounce(session: Session, rt, case: Case, message) -> int:
    """A mail of ours about CASE came back: tell the handlers, once a day a case at most (a
    bounce of this very notice must not start a loop)."""
    since = utcnow() - timedelta(days=1)
    told = session.exec(select(AuditEvent.id).where(
        AuditEvent.case_id == case.id, AuditEvent.action == "mail_queued", AuditEvent.at > since,
        AuditEvent.detail.contains('"purpose": "handler_bounce"')).limit(1)).first()
    if told is not None:
        return 0
    return news(session, rt, case, "E-post kom i retur", f"Emne: {message.subject}\nFra: {message.from_addr}",
                purpose="handler_bounce")


def mailbox_refused(rt, mailbox, reason: str) -> int:
    """MAILBOX's login is refused (its password, or its OAuth 2.0 client): tell the handlers, in
    a transaction of its own. The caller tells them once a refusal (`Cursor.refused`). Returns how
    many mails were queued."""
    recipients = handler_addresses(rt.config)
    if not recipients:
        log.warning("mailbox %s: no [notify] address and no handlers of [identity] actor to tell of "
                    "its refused login", mailbox.name)
        return 0
    context = {"mailbox": mailbox.name, "username": mailbox.username, "host": mailbox.host, "reason": reason,
               "greeting_name": ""}
    with rt.writer.turn(), Session(rt.engine) as session:
        queued = sum(1 for address in recipients
                     if cases.send(session, rt, None, "mailbox_refused", context, to=[address],
                                   purpose="mailbox_refused", auto_submitted="auto-generated"))
        session.commit()
    rt.wake_sender.set()
    return queued


def send_digest(rt, now=None) -> int:
    """The day's minor cases in one mail to each handler (`minor_cases = "digest"`): a scheduled
    job. Returns how many cases it listed."""
    if rt.config.notify.minor_cases != "digest":
        return 0
    now = now or utcnow()
    with rt.writer.turn(), Session(rt.engine) as session:
        rows = list(session.exec(select(Case).where(Case.created_at > now - timedelta(days=1))
                                 .order_by(Case.created_at)))
        rows = [c for c in rows if c.kind == "incident" and c.severity not in URGENT]
        recipients = handler_addresses(rt.config)
        if not rows or not recipients:
            return 0
        for address in recipients:
            cases.send(session, rt, None, "handler_digest", {"cases": rows, "greeting_name": ""}, to=[address],
                       purpose="handler_digest", auto_submitted="auto-generated")
        session.commit()
    rt.wake_sender.set()
    return len(rows)
