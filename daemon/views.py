"""Read-only views of the registry for the command line: stable JSON and plain tables.

Decides what `--json` output looks like; operators' scripts depend on these field names.
Identity numbers are masked (`311299*****`) unless the caller asks for them.
"""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from .pii import mask_identity_numbers
from .registry.states import ACTIVE
from .registry.models import AuditEvent, Case, CaseActor, CitizenForm, Message, MailboxState, OutboxMail, as_utc


def _iso(value):
    if isinstance(value, datetime):
        return as_utc(value).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def case_json(case: Case, show_pii: bool = False) -> dict:
    mask = (lambda s: s) if show_pii else (lambda s: mask_identity_numbers(s) if isinstance(s, str) else s)
    data = {
        "id": case.id,
        "kind": case.kind,
        "state": case.state,
        "severity": case.severity,
        "reporter": case.reporter,
        "subject": mask(case.subject),
        "created_at": _iso(case.created_at),
        "updated_at": _iso(case.updated_at),
        "closed_at": _iso(case.closed_at),
        "actor": case.actor,
        "lead_actor": case.lead_actor,
        "nhn_reference": case.nhn_reference,
        "nhn_classification": case.nhn_classification,
        "escalated_at": _iso(case.escalated_at),
        "service": mask(case.service),
        "discovered": mask(case.discovered),
        "contact": case.contact,
        "channel": case.channel,
        "flags": [f for f in case.flags.split(",") if f],
    }
    if case.kind == "citizen_form":
        data.update({
            "form_type": case.form_type,
            "owner_actor": case.owner_actor,
            "answering_actor": case.answering_actor,
            "received_at": _iso(case.received_at),
            "deadline": _iso(case.deadline),
        })
    return data


def form_json(form: CitizenForm, show_pii: bool = False) -> dict:
    """What a citizen's form said and how its answer went; identity numbers masked unless asked."""
    fields = json.loads(form.fields_json or "{}")
    if not show_pii:
        fields = {k: mask_identity_numbers(v) if isinstance(v, str) else v for k, v in fields.items()}
    return {
        "channel": form.channel,
        "fields": fields,
        "missing": [m for m in form.missing.split(",") if m],
        "routed_by": form.routed_by,
        "original_deadline": _iso(form.original_deadline),
        "extension_months": form.extension_months,
        "extension_reason": form.extension_reason,
        "reminders_sent": [m for m in form.reminders_sent.split(",") if m],
        "source_confirmed_at": _iso(form.source_confirmed_at),
        "refused": form.refused,
        "refusal_reason": form.refusal_reason,
        "statsforvalter_notice": form.statsforvalter_notice,
        "answered_on": _iso(form.answered_on),
        "answered_by": form.answered_by,
    }


def message_json(message: Message, show_pii: bool = False, full_text: bool = False) -> dict:
    """A message; its text with identity numbers masked unless FULL_TEXT (our own operators')."""
    mask = (lambda s: s) if show_pii else mask_identity_numbers
    return {
        "id": message.id,
        "direction": message.direction,
        "status": message.status,
        "classification": message.classification,
        "message_id": message.message_id,
        "from": message.from_addr,
        "subject": mask(message.subject),
        "received_at": _iso(message.received_at),
        "error": mask(message.error),
        "size": message.size,
        "text": message.text if full_text else mask(message.text),
    }


def audit_json(event: AuditEvent, show_pii: bool = False) -> dict:
    detail = json.loads(event.detail or "{}")
    if not show_pii:
        detail = json.loads(mask_identity_numbers(json.dumps(detail, ensure_ascii=False)))
    return {"at": _iso(event.at), "who": event.who, "action": event.action,
            "detail": detail, "message": event.message_pk}


def case_detail(session: Session, case: Case, show_pii: bool = False, full_text: bool = False) -> dict:
    data = case_json(case, show_pii)
    form = session.get(CitizenForm, case.id) if case.kind == "citizen_form" else None
    if form is not None:
        data["form"] = form_json(form, show_pii)
    data["working_group"] = [{"actor": a.actor_id, "role": a.role}
                             for a in session.exec(select(CaseActor).where(CaseActor.case_id == case.id)
                                                   .order_by(CaseActor.id))]
    data["messages"] = [message_json(m, show_pii, full_text) for m in session.exec(
        select(Message).where(Message.case_id == case.id).order_by(Message.id))]
    data["audit"] = [audit_json(e, show_pii) for e in session.exec(
        select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id))]
    # a mail held as unproven in a role that no handler has accepted (`pipeline.roles`)
    waiting: dict[int, bool] = {}
    for e in data["audit"]:
        if e["action"] in ("message_unproven", "message_accepted") and e["message"] is not None:
            waiting[e["message"]] = e["action"] == "message_unproven"
    for m in data["messages"]:
        m["unproven"] = waiting.get(m["id"], False)
    data["outbox"] = [{"id": o.id, "purpose": o.purpose, "to": o.recipients.split(","),
                       "status": o.status, "attempts": o.attempts, "last_error": o.last_error,
                       "sent_at": _iso(o.sent_at)}
                      for o in session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id)
                                            .order_by(OutboxMail.id))]
    return data


def _counts(session: Session, column, *where) -> dict:
    stmt = select(column, func.count()).group_by(column)
    for w in where:
        stmt = stmt.where(w)
    return {str(k): v for k, v in session.exec(stmt).all()}


def stats(session: Session) -> dict:
    inbound = Message.direction == "in"
    by_status = _counts(session, Message.status, inbound)
    cases_by_state = _counts(session, Case.state)
    return {
        "messages": {
            "total": sum(by_status.values()),
            "by_status": by_status,
            "by_classification": _counts(session, Message.classification, inbound),
            "failed": by_status.get("failed", 0),
        },
        "cases": {
            "total": sum(cases_by_state.values()),
            "by_kind": _counts(session, Case.kind),
            "by_state": cases_by_state,
            # A/B incidents still open that never reached NHN (no [nhn] intake_address)
            "escalation_impossible": session.exec(select(func.count()).select_from(Case).where(
                Case.kind == "incident", Case.severity.in_(("A", "B")), Case.escalated_at.is_(None),
                Case.state.in_(ACTIVE))).one(),
        },
        "outbox": {"by_status": _counts(session, OutboxMail.status)},
        "mailboxes": {
            m.name: {"state": m.state, "last_error": m.last_error, "since": _iso(m.since),
                     "uidvalidity": m.uidvalidity, "last_uid": m.last_uid,
                     "ingested": m.ingested, "duplicates": m.duplicates}
            for m in session.exec(select(MailboxState).order_by(MailboxState.name))
        },
    }
