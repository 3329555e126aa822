"""The working group around an incident: who is told what, so that every party hears of it once
and nobody gets their own words back.

- Content from NHN or another actor goes to the rest of the working group and to our handlers,
  never back to the actor it came from (`pass_on`).
- A later message from the reporter reaches our handlers, and NHN on the forward's thread when
  the case went to NHN (`reporter_wrote`); mail to NHN the relay refused for good is told to
  the handlers (`tell_failed_forwards`, on the clock).
- During verification (`resolved`) a message that is not automatic from the reporter or a group
  member holds the closure: the case is reopened and the handlers told (`hold_closure`).
- An actor added to the group gets a briefing: summary, severity, lead, NHN's reference and
  classification, the agreed channel and the status history (`brief`). Identity numbers are
  redacted by the renderer as in every mail that leaves.
"""

from __future__ import annotations

import json
import logging

from sqlmodel import Session, select

from .. import notify
from ..config import without_plus
from ..outbound.wording import actor_name, state_name
from ..pii import disclosure
from ..registry import cases, states, transaction
from ..registry.models import AuditEvent, Case, OutboxMail
from . import workflow

log = logging.getLogger("sakspost.incident")
TO_NHN = ("nhn_forward", "nhn_update", "nhn_detail")
HISTORY = ("opened", "state_changed", "escalated_to_nhn", "nhn_reference_recorded", "nhn_classified",
           "lead_changed", "actor_added", "status", "changed", "report_joined", "verification_held")


def actor_of(config, address: str) -> str:
    """The id of the actor ADDRESS belongs to (one of its addresses, else NHN by its sender
    domains), or "" for a person we know only by address."""
    address = without_plus((address or "").strip().lower())
    if not address:
        return ""
    actor = config.actor_by_address(address)
    if actor is not None:
        return actor.id
    if workflow.is_nhn_address(config, address):
        return workflow.nhn_actor_id(config) or "nhn"
    return ""


def role_of(session: Session, case: Case, actor_id: str) -> str:
    """ACTOR_ID's role in CASE's working group: "vendor", else "member"."""
    roles = {row.actor_id: row.role for row in cases.working_group(session, case)}
    return "vendor" if roles.get(actor_id) == "vendor" else "member"


def known_domain(config, address: str) -> bool:
    """Whether ADDRESS is at our own domain or that of a configured actor: who may join a case by
    naming its NHN reference (a stranger who names one opens a case of their own, as before)."""
    domain = (address or "").rpartition("@")[2].lower()
    if not domain:
        return False
    return domain == config.identity.domain.lower() or any(domain in actor.domains() for actor in config.actor)


def is_reporter(session: Session, case: Case, address: str) -> bool:
    """Whether ADDRESS reported CASE: its reporter, or a worker whose report joined it."""
    address = (address or "").lower()
    if not address:
        return False
    if address == (case.reporter or "").lower():
        return True
    joined = session.exec(select(AuditEvent.detail).where(AuditEvent.case_id == case.id,
                                                          AuditEvent.action == "report_joined"))
    return any(json.loads(d or "{}").get("reporter", "").lower() == address for d in joined)


def is_our_handler(config, address: str) -> bool:
    return (address or "").lower() in {a.lower() for a in notify.handler_addresses(config)}


def pass_on(session: Session, rt, case: Case, message, text: str, *, sender: str, actor_id: str,
            headline: str, attachments=()) -> None:
    """What ACTOR_ID wrote, to the other members of the working group and to our handlers."""
    workflow.share_with_group(session, rt, case, headline, text[:20_000], who=sender, purpose="shared_with_group",
                              attachments=attachments, exclude_actors=(actor_id,))
    notify.news(session, rt, case, headline, text[:20_000], purpose="handler_actor_answer", sender=sender,
                reply_to_message=message, attachments=attachments)


def reporter_wrote(session: Session, rt, case: Case, message, text: str, *, sender: str = "",
                   tell_handlers: bool = True) -> None:
    """The reporter's later message: to our handlers, and to NHN on the same thread if escalated."""
    if tell_handlers:
        notify.news(session, rt, case, "Ny melding fra melderen", text[:20_000], purpose="handler_reporter_message",
                    sender=sender or case.reporter, reply_to_message=message)
    if case.escalated_at is not None and rt.config.nhn.intake_address and text.strip():
        shown, scrubbed, _, removed = disclosure.prepare(case, texts={"text": text[:20_000]})
        workflow.send_outside(session, rt, case, "nhn_detail", {"case": shown, "text": scrubbed["text"]}, removed,
                              to=[rt.config.nhn.intake_address], purpose="nhn_detail",
                              reply_to_message=workflow.nhn_thread(session, case),
                              auto_submitted=rt.config.nhn.auto_submitted or None, who=sender or case.reporter)


def hold_closure(session: Session, rt, case: Case, message, *, sender: str, text: str) -> bool:
    """A message during verification keeps the case from closing: reopen it, tell the handlers.
    Returns whether the case was held."""
    if case.kind != "incident" or case.state != states.RESOLVED:
        return False
    cases.transition(session, case, states.OPEN, who=sender, message_pk=message.id,
                     reason="ny melding i verifiseringsperioden")
    cases.note(session, case, "verification_held", who=sender, message_pk=message.id, detail={"from": sender})
    notify.news(session, rt, case, "Saken er gjenåpnet: ny melding i verifiseringsperioden", text[:20_000],
                purpose="handler_verification_held", sender=sender, reply_to_message=message)
    return True


def tell_failed_forwards(rt) -> int:
    """Mail to NHN that the relay refused for good (a forward, an update, a detail): logged at
    error level and told to the handlers, once each (a scheduled job). Returns how many."""
    with rt.writer.turn(), Session(rt.engine) as session:
        rows = list(session.exec(select(OutboxMail).where(OutboxMail.status == "failed",
                                                          OutboxMail.purpose.in_(TO_NHN),
                                                          OutboxMail.case_id.is_not(None))))
        told = set(session.exec(select(AuditEvent.detail).where(AuditEvent.action == "escalation_failed")))
        fresh = [o for o in rows if json.dumps({"outbox": o.id}) not in told]
        for row in fresh:
            case = session.get(Case, row.case_id)
            cases.note(session, case, "escalation_failed", detail={"outbox": row.id})
            log.error("case %s: mail to NHN (%s) failed for good: %s", case.id, row.purpose, row.last_error)
            notify.news(session, rt, case, "E-post til NHN kom ikke fram",
                        f"{row.purpose} til {row.recipients}: {row.last_error}\nRing NHNs kundesenter.",
                        purpose="handler_escalation_failed")
        session.commit()
    if fresh:
        rt.wake_sender.set()
    return len(fresh)


def brief(session: Session, rt, case: Case, actor_id: str, role: str, *, who: str) -> bool:
    """The briefing for ACTOR_ID, just added to CASE's working group as ROLE."""
    actor = rt.config.actor_by_id(actor_id)
    if actor is None or not actor.contact or actor.contact.lower() == rt.config.identity.address.lower():
        return False
    course = history(session, rt, case)
    texts = {"description": case.description[:4000], **{f"history {i}": h["text"] for i, h in enumerate(course)}}
    shown, scrubbed, _, removed = disclosure.prepare(case, texts=texts)  # another organisation: not the patient
    course = [{"at": h["at"], "text": scrubbed[f"history {i}"]} for i, h in enumerate(course)]
    return bool(workflow.send_outside(session, rt, case, "briefing",
                                      {"case": shown, "actor": actor, "role": role,
                                       "description": scrubbed["description"], "history": course}, removed,
                                      to=[actor.contact], purpose="briefing", who=who, auto_submitted=None,
                                      reply_to_message=workflow.first_message(session, case)))


def history(session: Session, rt, case: Case) -> list[dict]:
    """The case's course in bokmål, oldest first: states, escalation, NHN, lead, members, statuses."""
    stored = session.exec(select(AuditEvent.at, AuditEvent.action, AuditEvent.detail).where(
        AuditEvent.case_id == case.id, AuditEvent.action.in_(HISTORY)).order_by(AuditEvent.id))
    pending = [(row["at"], row["action"], row["detail"]) for row in transaction.pending_events(session, case.id)]
    out = []
    for at, action, detail in [*stored, *pending]:
        text = describe(rt.config, action, json.loads(detail or "{}"))
        if text:
            out.append({"at": at, "text": text})
    return out


PHRASES = {
    "nb": {"opened": "saken ble registrert", "state_changed": "saken er {}",
           "escalated_to_nhn": "meldt til NHNs kundesenter",
           "nhn_reference_recorded": "NHN-referanse {}", "nhn_classified": "NHNs klassifisering: {}",
           "lead_changed": "ledes av {}", "vendor": "{} lagt til som leverandør", "member": "{} lagt til som medlem",
           "status": "statusmelding: {}", "severity": "alvorlighetsgrad {}", "channel": "avtalt kanal: {}",
           "report_joined": "en ny melding om samme feil ble lagt til saken",
           "verification_held": "gjenåpnet: ny melding i verifiseringsperioden"},
    "en": {"opened": "the case was registered", "state_changed": "the case is {}",
           "escalated_to_nhn": "reported to NHN's customer centre", "nhn_reference_recorded": "NHN reference {}",
           "nhn_classified": "NHN's classification: {}", "lead_changed": "led by {}", "vendor": "{} added as vendor",
           "member": "{} added as member", "status": "status message: {}", "severity": "severity {}",
           "channel": "agreed channel: {}", "report_joined": "another report of the same fault was added",
           "verification_held": "reopened: a new message during verification"},
}


def describe(config, action: str, detail: dict) -> str:
    """One line of history for an audit event, in the language of our mail, or "" for an event
    a party need not see."""
    language = config.identity.language
    say = PHRASES.get(language, PHRASES["nb"])

    def change(key: str) -> str:
        return (detail.get(key) or {}).get("to") or "-"

    if action == "state_changed":
        return say[action].format(state_name(detail.get("to"), language))
    if action == "nhn_reference_recorded":
        return say[action].format(change("nhn_reference"))
    if action == "nhn_classified":
        return say[action].format(change("nhn_classification"))
    if action == "lead_changed":
        return say[action].format(actor_name(config, change("lead_actor")))
    if action == "actor_added":
        role = "vendor" if detail.get("role") == "vendor" else "member"
        return say[role].format(actor_name(config, detail.get("actor")))
    if action == "status":
        return say[action].format(detail.get("text", ""))
    if action == "changed":
        key = next((k for k in ("severity", "channel") if k in detail), None)
        return say[key].format(change(key)) if key else ""
    return say.get(action, "")
