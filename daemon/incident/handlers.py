"""Incident mail: a new report opens a case; a reply is threaded, may fill in missing details,
and may carry handlers' commands; NHN's mail records its reference, classification and logs.
`incident.hooks` registers these handlers with the pipeline for their verdicts.
"""

from __future__ import annotations

import re

from sqlmodel import Session, select

from .. import notify
from ..outbound.wording import actor_name
from ..pipeline import commands
from ..pipeline.commands import run_commands
from ..pipeline import roles
from ..pipeline.handlers import held
from ..pipeline.handlers.held import hold_if_flooding
from ..pipeline.proof import reply_address
from ..pipeline.quoted import own_text
from ..registry import cases, limits, sql, states
from ..registry.lookup import case_for_reference
from ..registry.models import Attachment, Case
from . import group, workflow
from .fields import read_report, severity_in


def new_report(session: Session, rt, message, mail, verdict) -> None:
    reporter = reply_address(mail)[:500]
    if hold_if_flooding(session, rt, message, mail, reporter):
        return
    known = case_for_reference(session, quoted_reference(rt, mail)) if group.known_domain(rt.config, reporter) else None
    known = sql.get(session, Case, known) if known else None
    if known is not None and known.state in states.ACTIVE:  # a closed case's fault back again: a new case
        return join_report(session, rt, known, message, mail, reporter)
    # why the report must wait for a handler before anyone is answered or NHN told, or ""
    waits = ("" if mail.accepted else
             "avsenderens domene feilet DMARC-kontrollen (avsenderen kan være forfalsket)"
             if roles.border_says_fail(mail, rt.config) else
             f"flere enn {rt.config.limits.new_cases_per_hour_total} nye saker den siste timen"
             if not limits.take_total(session, rt.config, limits.NEW_CASE_TOTAL) else "")
    fields = read_report(rt.config, mail.subject, mail.text, reporter, documented=mail.documented)
    case = cases.open_case(
        session, "incident", who=reporter or "unknown", message_pk=message.id,
        reporter=reporter, reporter_name=mail.from_name[:200], subject=mail.subject[:500] or "(uten emne)",
        description=fields.description[:100_000], discovered=fields.discovered, service=fields.service,
        actor=fields.actor or None, severity=fields.severity or None, contact=fields.contact,
        lead_actor=rt.config.identity.actor or None,
    )
    cases.attach_message(session, case, message, who=reporter)
    if waits:
        return held.hold_report(session, rt, case, message, reason=waits)
    open_and_acknowledge(session, rt, case, message, who=reporter, mail=mail)
    notify.new_case(session, rt, case, message)


def join_report(session: Session, rt, case: Case, message, mail, reporter: str) -> None:
    """A worker's report quoting the NHN reference of a case we have: one case per fault. The
    report joins it (no new case, no second forward to NHN), the worker is acknowledged with the
    case's number, and the handlers are told."""
    proof = roles.proven(mail, rt, case.id) if case.state == states.RESOLVED else None
    if proof is not None and not proof:  # it would reopen the case: as the reporter, unproven
        cases.attach_message(session, case, message, who=reporter)
        return roles.hold(session, rt, case, message, mail, "reporter", proof)
    cases.attach_message(session, case, message, who=reporter, action="report_joined",
                         detail={"reference": case.nhn_reference, "reporter": reporter})
    fields = read_report(rt.config, mail.subject, mail.text, reporter, infer=False, documented=mail.documented)
    fields.description = ""
    workflow.apply_fields(session, case, fields, who=reporter, message_pk=message.id, only_missing=True)
    if not group.hold_closure(session, rt, case, message, sender=reporter, text=own_text(mail.text)):
        notify.news(session, rt, case, f"Ny melding om samme feil (NHN: {case.nhn_reference})",
                    own_text(mail.text)[:20_000], purpose="handler_report_joined", sender=reporter,
                    reply_to_message=message)
    workflow.acknowledge(session, rt, case, message, to=reporter, name=mail.from_name[:200], joined=True)


def open_and_acknowledge(session: Session, rt, case: Case, message, *, who: str, mail=None) -> None:
    workflow.review(session, rt, case, who=who, message=message, first=message, mail=mail)
    if case.state != states.AWAITING_INFO:  # the request for details doubles as the acknowledgement
        workflow.acknowledge(session, rt, case, message, mail=mail)


def reply(session: Session, rt, message, mail, verdict) -> None:
    case = sql.get(session, Case, verdict.case_id)
    sender = mail.from_addr
    cases.attach_message(session, case, message, who=sender, detail={"matched_by": verdict.reason})
    lines = commands.parse(own_text(mail.text))
    if lines:
        run_commands(session, rt, case, message, mail, lines)
    elif case.kind == "incident" and case.state == states.AWAITING_INFO and sender == case.reporter:
        fill_in(session, rt, case, message, mail)
    elif case.kind == "incident":
        message_in(session, rt, case, message, mail)


def message_in(session: Session, rt, case: Case, message, mail) -> None:
    """A message on the case that carries no commands: it holds a closure under verification,
    and it reaches whoever has not seen it (see `incident.group`)."""
    sender, text = mail.from_addr, own_text(mail.text)
    if group.is_our_handler(rt.config, sender):
        return  # our own handler's words are on the thread; they #gjenåpne if they mean it
    actor_id, reporter = group.actor_of(rt.config, sender), group.is_reporter(session, case, sender)
    if reporter or (actor_id and actor_id != rt.config.identity.actor):
        proof = roles.proven(mail, rt, case.id)
        if not proof:  # as the reporter or the group's member it reopens, reaches NHN or the group
            return roles.hold(session, rt, case, message, mail, "reporter" if reporter else group.role_of(
                session, case, actor_id), proof)
    attachments = list(session.exec(select(Attachment).where(Attachment.message_pk == message.id)))
    reopened = (reporter or bool(actor_id)) and group.hold_closure(session, rt, case, message, sender=sender,
                                                                   text=text)
    if reporter:
        group.reporter_wrote(session, rt, case, message, text, sender=sender, tell_handlers=not reopened)
    elif actor_id and actor_id != rt.config.identity.actor:
        group.pass_on(session, rt, case, message, text, sender=sender, actor_id=actor_id,
                      headline=f"Svar fra {actor_name(rt.config, actor_id)}", attachments=attachments)
    elif not reopened:
        notify.news(session, rt, case, "Ny melding i saken", text[:20_000], purpose="handler_message",
                    sender=sender, reply_to_message=message)


def fill_in(session: Session, rt, case: Case, message, mail) -> None:
    """The reporter's answer to our request: take what it adds, then review the case again."""
    fields = read_report(rt.config, mail.subject, mail.text, mail.from_addr, infer=False,
                         documented=mail.documented)
    fields.description = ""  # the reply's prose is on the thread; the report's description stays
    old = case.severity
    workflow.apply_fields(session, case, fields, who=mail.from_addr, message_pk=message.id, only_missing=True)
    if case.severity != old:
        workflow.severity_changed(session, rt, case, who=mail.from_addr, old=old)
    workflow.review(session, rt, case, who=mail.from_addr, message=message)
    if case.state == states.OPEN:
        workflow.acknowledge(session, rt, case, message)
    notify.news(session, rt, case, "Melderen har svart", own_text(mail.text)[:20_000],
                purpose="handler_reporter_message", sender=mail.from_addr, reply_to_message=message)


# -- NHN ----------------------------------------------------------------------------------

_CLASSIFICATION = re.compile(r"^\s*(?:klassifisering|klassifikasjon|nhn[- ]prioritet|prioritet|alvorlighetsgrad|"
                             r"classification|priority)\s*[:=]\s*(.{1,40}?)\s*$", re.IGNORECASE | re.MULTILINE)


def nhn_reference(rt, mail) -> str | None:
    pattern = re.compile(rt.config.nhn.reference_pattern)
    subject = re.sub(r"\[SAK-\d{4}-\d{6}\]", " ", mail.subject)
    for text in (subject, own_text(mail.text)):
        m = pattern.search(text)
        if m:
            return m.group(0)[:100]
    return None


def quoted_reference(rt, mail) -> str | None:
    """An NHN reference a worker's mail names anywhere: its subject, its text or what it quotes."""
    if not rt.config.nhn.reference_pattern:
        return None
    m = re.compile(rt.config.nhn.reference_pattern).search(f"{mail.subject}\n{mail.text}")
    return m.group(0)[:100] if m else None


def nhn_mail(session: Session, rt, message, mail, verdict) -> None:
    """Mail from NHN: thread it, record reference and classification, share what NHN sent."""
    reference = nhn_reference(rt, mail)
    case_id = verdict.case_id or case_for_reference(session, reference)
    automatic = verdict.reason.startswith("automatic")
    proof = roles.proven(mail, rt, case_id)
    if not proof:  # a forged NHN: its reference, classification and text are believed by no one
        if case_id is None:
            case, _ = held.held_case(session, rt, message, mail, mail.from_addr[:500] or "unknown")
        else:
            case = sql.get(session, Case, case_id)
            cases.attach_message(session, case, message, who=mail.from_addr or "unknown")
        return roles.hold(session, rt, case, message, mail, "nhn", proof)
    if case_id is None:
        if automatic:
            return  # an automatic mail from NHN about nothing we know: kept, not answered
        return opened_by_nhn(session, rt, message, mail, reference)
    case = sql.get(session, Case, case_id)
    cases.attach_message(session, case, message, who=mail.from_addr, action="nhn_mail_received",
                         detail={"matched_by": verdict.reason if verdict.case_id else "NHN reference"})
    if reference and not case.nhn_reference:
        cases.change(session, case, who=mail.from_addr, message_pk=message.id, action="nhn_reference_recorded",
                     nhn_reference=reference)
    m = _CLASSIFICATION.search(own_text(mail.text))
    classified = bool(m) and m.group(1) != case.nhn_classification
    if classified:
        cases.change(session, case, who=mail.from_addr, message_pk=message.id, action="nhn_classified",
                     nhn_classification=m.group(1))
    lines = commands.parse(own_text(mail.text))
    if lines and not automatic:
        run_commands(session, rt, case, message, mail, lines)
    if automatic:
        return
    group.hold_closure(session, rt, case, message, sender=mail.from_addr, text=own_text(mail.text))
    attachments = list(session.exec(select(Attachment).where(Attachment.message_pk == message.id)))
    if attachments or own_text(mail.text):
        headline = f"Svar fra NHN (klassifisering: {case.nhn_classification})" if classified else "Svar fra NHN"
        group.pass_on(session, rt, case, message, own_text(mail.text), sender=mail.from_addr,
                      actor_id=workflow.nhn_actor_id(rt.config) or "nhn", headline=headline, attachments=attachments)


def opened_by_nhn(session: Session, rt, message, mail, reference: str | None) -> None:
    """NHN (a health worker called them) opened the case first: register it with their reference."""
    nhn = workflow.nhn_actor_id(rt.config)
    fields = read_report(rt.config, mail.subject, mail.text, mail.from_addr, infer=False,
                         documented=mail.documented)
    case = cases.open_case(
        session, "incident", who=mail.from_addr, message_pk=message.id, reporter=mail.from_addr,
        reporter_name=mail.from_name[:200], subject=mail.subject[:500] or "(uten emne)",
        description=fields.description[:100_000], discovered=fields.discovered, service=fields.service,
        severity=fields.severity or severity_in(mail.subject) or None, contact=fields.contact or mail.from_addr,
        actor=nhn or None, lead_actor=rt.config.identity.actor or None, nhn_reference=reference,
        escalated_at=message.received_at, escalated_severity=fields.severity or None,
        channel="e-posttråden for saken",
    )
    cases.attach_message(session, case, message, who=mail.from_addr, action="nhn_mail_received",
                         detail={"opened_by": "nhn"})
    if nhn:
        cases.add_actor(session, case, nhn, "member", who="system")
    cases.transition(session, case, states.OPEN, reason="opened by NHN")
    workflow.acknowledge(session, rt, case, message, mail=mail)
    notify.new_case(session, rt, case, message)
