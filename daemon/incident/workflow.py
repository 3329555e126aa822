"""The incident workflow's decisions: review a report, escalate to NHN, share with the working
group, resolve and close. Every change is made through `registry.cases`, in the caller's
transaction, so a decision, its audit events and the mail it causes commit together.

- A report lacking what a case must document (see `fields`) waits in `awaiting_info`; the
  reporter gets one templated request, at most one per `[incident].info_request_interval_hours`.
- A case that is or becomes severity A or B is forwarded to NHN's customer centre at once,
  once; a later change of severity goes to NHN as an update on the same thread. C and D are
  forwarded only on a handler's `#meld-nhn`.
- Mail to other organisations (NHN, the working group's actors and vendors) carries what they
  need to act on the fault and not the patient (`pii.disclosure`): identity numbers, patient
  names, birth dates, diagnoses and their codes are replaced in every text and text attachment;
  attachments that cannot be read in full or rewritten (images, binaries, a PDF holding patient
  data) are withheld and named, to be sent through a secure channel on request. The mail's
  footer says what was removed, only when something was, and each removal is an audit event
  (`patient_data_removed`: kind, count, where) in the same transaction as the mail.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session, select

from .. import notify
from ..pii import disclosure
from ..pipeline.handlers import held
from ..registry import cases, limits, states
from ..registry.models import Attachment, Case, CaseActor, Message, as_utc, utcnow
from .fields import ESCALATE, ReportFields

log = logging.getLogger("sakspost.incident")

FIELD_NAMES_NB = {
    "description": "hva som skjedde (beskrivelse av feilen)",
    "discovered": "når feilen ble oppdaget (dato og klokkeslett)",
    "service": "hvor feilen oppstod (tjeneste, XCA-gateway eller system)",
    "actor": "hvilken aktør (virksomhet) som er berørt",
    "severity": "alvorlighetsgrad (A, B, C eller D)",
    "contact": "kontaktperson og telefonnummer",
}


# -- helpers ---------------------------------------------------------------------------------

def first_message(session: Session, case: Case) -> Message | None:
    return session.exec(select(Message).where(Message.case_id == case.id, Message.direction == "in")
                        .order_by(Message.id).limit(1)).first()


def nhn_thread(session: Session, case: Case) -> Message | None:
    """Our forward to NHN, which later updates reply to."""
    return session.exec(select(Message).where(Message.case_id == case.id, Message.direction == "out",
                                              Message.classification == "nhn_forward")
                        .order_by(Message.id).limit(1)).first()


def nhn_actor_id(config) -> str:
    if config.nhn.actor:
        return config.nhn.actor
    actor = next((a for a in config.actor if a.kind == "nhn"), None)
    return actor.id if actor else ""


def group_addresses(session: Session, rt, case: Case, exclude_actors=()) -> list[str]:
    """Contact addresses of the lead and every working-group actor, never our own nor those of
    EXCLUDE_ACTORS (the actor whose content is being passed on)."""
    ids = [case.lead_actor, *[row.actor_id for row in session.exec(
        select(CaseActor).where(CaseActor.case_id == case.id).order_by(CaseActor.id))]]
    ours = rt.config.identity.address.lower()
    out = []
    for actor_id in dict.fromkeys(i for i in ids if i and i not in exclude_actors):
        actor = rt.config.actor_by_id(actor_id)
        if actor and actor.contact and actor.contact.lower() != ours:
            out.append(actor.contact)
    return list(dict.fromkeys(out))


def case_attachments(session: Session, case: Case, sender_filter=None) -> list[Attachment]:
    stmt = (select(Attachment).join(Message, Message.id == Attachment.message_pk)
            .where(Message.case_id == case.id, Message.direction == "in").order_by(Attachment.id))
    rows = list(session.exec(stmt))
    if sender_filter is not None:
        rows = [a for a in rows if sender_filter(session.get(Message, a.message_pk))]
    return rows


def actor_context(config, actor_id: str | None) -> dict:
    actor = config.actor_by_id(actor_id) if actor_id else None
    return {"id": actor_id or "", "name": actor.name if actor else (actor_id or ""),
            "contact": actor.contact if actor else "", "phone": actor.phone if actor else ""}


# -- review and escalation ---------------------------------------------------------------------

def apply_fields(session: Session, case: Case, fields: ReportFields, *, who: str, message_pk: int | None,
                 only_missing: bool) -> dict:
    values = {}
    for name in ("description", "discovered", "service", "actor", "contact", "severity"):
        value = getattr(fields, name)
        if value and (not only_missing or not getattr(case, name)):
            values[name] = value
    return cases.change(session, case, who=who, message_pk=message_pk, action="details_added", **values)


def missing(rt, case: Case) -> list[str]:
    fields = ReportFields(description=case.description, discovered=case.discovered, service=case.service,
                          actor=case.actor or "", severity=case.severity or "", contact=case.contact)
    return fields.missing(require_actor=bool(rt.config.actor))


def review(session: Session, rt, case: Case, *, who: str, message: Message | None,
           first: Message | None = None, mail=None) -> None:
    """Move the case to open or awaiting_info, escalate A/B, and answer the reporter once (MAIL,
    the report as parsed, decides whether an automatic answer may go: `answers_system`)."""
    lacking = missing(rt, case)
    first = first or first_message(session, case)  # a new report is its own first message
    if lacking:
        if case.state != states.AWAITING_INFO:
            cases.transition(session, case, states.AWAITING_INFO, who=who,
                             reason="mangler: " + ", ".join(lacking))
        if not answers_system(session, rt, case, case.reporter, mail, "info_request"):
            request_info(session, rt, case, lacking, first)
    elif case.state in (states.NEW, states.AWAITING_INFO):
        cases.transition(session, case, states.OPEN, who=who, reason="documented")
    if case.severity in ESCALATE and case.escalated_at is None:
        escalate_to_nhn(session, rt, case, who="system", reason=f"alvorlighetsgrad {case.severity}")


def request_info(session: Session, rt, case: Case, lacking: list[str], first: Message | None) -> bool:
    interval = timedelta(hours=rt.config.incident.info_request_interval_hours)
    now = utcnow()
    if case.info_requested_at is not None and now - as_utc(case.info_requested_at) < interval:
        cases.note(session, case, "info_request_skipped", detail={"missing": lacking,
                                                                  "reason": "already asked within the interval"})
        return False
    cases.change(session, case, action="info_requested", info_requested_at=now)
    cases.send(session, rt, case, "info_request",
               {"missing": [FIELD_NAMES_NB[n] for n in lacking], "reporter_name": case.reporter_name,
                "first_request": case.info_requested_at is None},
               to=[case.reporter], purpose="info_request", reply_to_message=first)
    return True



def acknowledge(session: Session, rt, case: Case, message: Message, *, to: str = "", name: str = "",
                joined: bool = False, mail=None) -> None:
    """Acknowledge to the reporter (or TO, a worker whose report JOINED a case already known).
    NHN, when it opened the case, is thanked, not told to call itself; a reporter of an A/B case
    that could not be escalated is told to phone NHN's customer centre."""
    to = to or case.reporter
    if answers_system(session, rt, case, to, mail, "acknowledgement"):
        return
    cases.send(session, rt, case, "acknowledgement",
               {"reporter_name": name if to != case.reporter else case.reporter_name,
                "escalated": case.escalated_at is not None, "nhn_phone": rt.config.nhn.phone,
                "to_nhn": is_nhn_address(rt.config, to), "joined": joined,
                "not_escalated": case.severity in ESCALATE and case.escalated_at is None},
               to=[to], purpose="acknowledgement", reply_to_message=message)


def is_system_mailbox(config, address: str) -> bool:
    """Whether ADDRESS is a system's, not a person's: NHN's intake, an actor's contact address (NHN's
    among them) or a no-reply gateway (`[citizen] no_reply_senders`). A person at NHN writing from
    their own address is no system."""
    address = (address or "").strip().lower()
    if not address:
        return False
    if address == config.nhn.intake_address.lower():
        return True
    if any(address == (actor.contact or "").lower() for actor in config.actor):
        return True
    domain = address.rpartition("@")[2]
    listed = {e.lower().lstrip("@") for e in config.citizen.no_reply_senders}
    return address in listed or domain in listed


def names_our_case(rt, case: Case, mail) -> bool:
    """Whether MAIL refers to CASE as a person answering us would: our tag in its subject, or
    one of our Message-IDs for the case in its threading."""
    if f"[{case.id}]" in (mail.subject or ""):
        return True
    return any(rt.tokens.case_of(mid) == case.id for mid in mail.thread_ids)


def answers_system(session: Session, rt, case: Case, to: str, mail, purpose: str) -> bool:
    """True (and recorded on CASE) when an automatic answer to MAIL must not go to TO: TO is a
    system's mailbox and MAIL names our case nowhere. Two systems answering each other's
    automatic mail is a loop (a ticket system that drops Auto-Submitted and threading); a
    person at NHN or an actor who writes about our case quotes its tag or thread."""
    if mail is None or not is_system_mailbox(rt.config, to) or names_our_case(rt, case, mail):
        return False
    cases.note(session, case, "mail_not_sent", detail={
        "purpose": purpose, "to": [to],
        "reason": "a system's mailbox, and the mail it would answer names our case nowhere (no loop)"})
    return True


def is_nhn_address(config, address: str) -> bool:
    """Whether ADDRESS is NHN's: its intake, an address in its sender domains or its actor's."""
    if config.is_nhn_sender(address):
        return True
    actor = config.actor_by_id(nhn_actor_id(config))
    return bool(actor) and (address or "").lower() in actor.addresses()


def escalate_to_nhn(session: Session, rt, case: Case, *, who: str, reason: str, released: bool = False) -> bool:
    """Forward CASE to NHN's customer centre, once. Returns False if it already went, or if it
    waits: past `[limits] nhn_forwards_per_hour` a forward waits for a handler's `#godta` or
    `#meld-nhn` (RELEASED: one of those, which the cap does not stop)."""
    intake = rt.config.nhn.intake_address
    if case.escalated_at is not None:
        return False
    if intake and not released:
        if held.has_flag(case, held.FORWARD_WAITS):
            return False
        if not limits.take_total(session, rt.config, limits.NHN_FORWARD):
            held.hold_forward(session, rt, case, reason=f"flere enn {rt.config.limits.nhn_forwards_per_hour} "
                                                        "saker er meldt til NHN den siste timen")
            return False
    if not intake:
        cases.note(session, case, "escalation_impossible", who=who,
                   detail={"reason": "no [nhn].intake_address configured"})
        log.error("case %s (severity %s) cannot be escalated to NHN: no [nhn].intake_address configured; "
                  "the reporter is told to phone NHN's customer centre", case.id, case.severity)
        notify.news(session, rt, case, "Kan ikke meldes til NHN",
                    "Saken skulle meldes til NHNs kundesenter, men [nhn] intake_address er ikke satt opp. "
                    "Ring NHNs kundesenter.", purpose="handler_escalation_failed")
        return False
    shown, _, attachments, removed = disclosure.prepare(case, attachments=case_attachments(session, case))
    cases.change(session, case, who=who, action="escalated_to_nhn", reason=reason,
                 escalated_at=utcnow(), escalated_severity=case.severity,
                 channel=case.channel or "e-posttråden for saken",
                 flags=held.flags_with(case.flags, **{held.FORWARD_WAITS: False}))
    nhn = nhn_actor_id(rt.config)
    if nhn:
        cases.add_actor(session, case, nhn, "member", who=who)
    send_outside(session, rt, case, "nhn_forward",
                 {"case": shown, "reporter_actor": actor_context(rt.config, case.actor)}, removed,
                 to=[intake], purpose="nhn_forward", auto_submitted=rt.config.nhn.auto_submitted or None,
                 attachments=attachments, who=who)
    return True


def send_outside(session: Session, rt, case: Case, template: str, context: dict, removed, *, purpose: str,
                 who: str = "system", **send) -> int | None:
    """Queue a mail to other organisations, scrubbed by REMOVED (a `pii.disclosure.Disclosure`),
    with its footer and the withheld attachments named, and audit what was removed beside it;
    the queued mail's id, or None when nothing was queued."""
    footer = disclosure.Footer(removed)
    queued = cases.send(session, rt, case, template, {**context, "withheld": removed.withheld, "removed": footer},
                        purpose=purpose, who=who, **send)
    detail = removed.audit_detail(purpose)
    if detail is not None and queued is not None:
        cases.note(session, case, "patient_data_removed", who=who, detail=detail)
    return queued


def severity_changed(session: Session, rt, case: Case, *, who: str, old: str | None) -> None:
    if case.escalated_at is None:
        if case.severity in ESCALATE:
            escalate_to_nhn(session, rt, case, who=who, reason=f"alvorlighetsgrad endret fra {old or '-'} "
                                                               f"til {case.severity}")
        return
    if case.severity != case.escalated_severity:
        previous = case.escalated_severity
        cases.change(session, case, who=who, action="nhn_severity_update", escalated_severity=case.severity)
        shown, _, _, removed = disclosure.prepare(case)
        send_outside(session, rt, case, "nhn_update", {"case": shown, "old": previous, "new": case.severity},
                     removed, to=[rt.config.nhn.intake_address], purpose="nhn_update",
                     reply_to_message=nhn_thread(session, case),
                     auto_submitted=rt.config.nhn.auto_submitted or None, who=who)


# -- sharing, resolution, closure --------------------------------------------------------------

def share_with_group(session: Session, rt, case: Case, headline: str, text: str, *, who: str,
                     purpose: str, attachments=(), include_reporter: bool = False, exclude_actors=()) -> None:
    """HEADLINE and TEXT to the working group (and the reporter), never to EXCLUDE_ACTORS: the
    party whose content it is does not get it back."""
    recipients = group_addresses(session, rt, case, exclude_actors)
    if include_reporter and case.reporter:
        recipients.append(case.reporter)
    shown, texts, shared, removed = disclosure.prepare(case, texts={"text": text}, attachments=attachments)
    send_outside(session, rt, case, "status_update", {"case": shown, "headline": headline, "text": texts["text"]},
                 removed, to=list(dict.fromkeys(recipients)), purpose=purpose, attachments=shared, who=who,
                 reply_to_message=first_message(session, case))


def resolve(session: Session, rt, case: Case, text: str, *, who: str, message_pk: int | None) -> None:
    cases.change(session, case, who=who, message_pk=message_pk, action="resolution_recorded", resolution=text)
    cases.transition(session, case, states.RESOLVED, who=who, reason=text, message_pk=message_pk)
    hours = rt.config.incident.verification_hours
    share_with_group(session, rt, case, "Feilen er rettet", f"{text}\n\nTjenesten overvåkes i {hours:g} timer "
                     "før saken lukkes.", who=who, purpose="resolved_notice", include_reporter=True)


def close(session: Session, rt, case: Case, *, who: str, message_pk: int | None = None, reason: str = "",
          confirmed_by: str = "") -> None:
    """Close CASE and send the closure notice to the reporter (greeted by name) and, in a mail of
    its own, to every working-group actor; CONFIRMED_BY (a handler, or the quiet end of the
    verification period) is recorded."""
    cases.transition(session, case, states.CLOSED, who=who, reason=reason, message_pk=message_pk)
    cases.note(session, case, "closure_confirmed", who=who, message_pk=message_pk,
               detail={"confirmed_by": confirmed_by or who})
    first = first_message(session, case)
    context = {"resolution": case.resolution, "reporter_name": case.reporter_name}
    if case.reporter:  # the reporter may read what the case says, identity numbers aside
        cases.send(session, rt, case, "closure_notice",
                   {**context, "greeting_name": case.reporter_name, "for_reporter": True},
                   to=[case.reporter], purpose="closure_notice", who=who, reply_to_message=first)
    group = [a for a in group_addresses(session, rt, case) if a.lower() != (case.reporter or "").lower()]
    if group:  # other organisations: what they need to act on the fault, not the patient
        shown, _, _, removed = disclosure.prepare(case)
        send_outside(session, rt, case, "closure_notice",
                     {**context, "case": shown, "resolution": shown.resolution, "greeting_name": "",
                      "for_reporter": False}, removed,
                     to=group, purpose="closure_notice", who=who, reply_to_message=first)


def close_verified(rt) -> int:
    """Close resolved incidents whose verification period has passed (a scheduled job)."""
    cutoff = utcnow() - timedelta(hours=rt.config.incident.verification_hours)
    closed = 0
    with rt.writer.turn(), Session(rt.engine) as session:
        for case in session.exec(select(Case).where(Case.kind == "incident", Case.state == states.RESOLVED,
                                                    Case.resolved_at <= cutoff)).all():
            close(session, rt, case, who="system", reason="verifiseringsperioden er over uten ny feil",
                  confirmed_by="verifiseringsperioden gikk uten nye meldinger")
            closed += 1
        session.commit()
    if closed:
        rt.wake_sender.set()
    return closed
