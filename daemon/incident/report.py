"""Proof of escalation: a case's whole audit trail, and how each case reached NHN.

Decides what an actor can show an auditor: who did what and when, with which mail, and for
every case that went to NHN (severity A or B, a C or D a handler sent on with `#meld-nhn`, or a
case NHN opened first) when it came in, how it went (`route`: `severity`, `meld-nhn`,
`opened_by_nhn`), when NHN was told (the forward queued and sent), NHN's reference, and how long
each step took; as JSON, a table, Markdown or CSV (what senders wrote made inert, `inert`).
"""

from __future__ import annotations

import io
import json
from datetime import datetime

from sqlmodel import Session, select

from ..inert import SpreadsheetWriter, markdown_text
from ..registry.models import AuditEvent, Case, Message, OutboxMail, as_utc
from ..views import _iso, audit_json, case_json


def export(session: Session, case: Case, show_pii: bool = False) -> dict:
    events = []
    for event in session.exec(select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id)):
        row = audit_json(event, show_pii)
        if event.message_pk:
            m = session.get(Message, event.message_pk)
            row["mail"] = {"direction": m.direction, "message_id": m.message_id, "from": m.from_addr,
                           "to": m.rcpt_tos, "subject": row["detail"].get("subject") or m.subject}
        events.append(row)
    return {"case": case_json(case, show_pii), "audit": events}


def export_markdown(data: dict) -> str:
    case = data["case"]
    md = markdown_text
    lines = [f"# {case['id']}: {md(case['subject'])}", "",
             f"- kind: {case['kind']}", f"- state: {case['state']}", f"- severity: {case['severity'] or '-'}",
             f"- reporter: {md(case['reporter'])}", f"- lead actor: {md(case['lead_actor'] or '-')}",
             f"- NHN reference: {md(case['nhn_reference'] or '-')}", f"- created: {case['created_at']}", "",
             "| # | when (UTC) | who | what | detail | mail |", "|---|---|---|---|---|---|"]
    for i, e in enumerate(data["audit"], 1):
        detail = md(json.dumps(e["detail"], ensure_ascii=False))
        mail = ""
        if "mail" in e:
            mail = md(f"{e['mail']['direction']} <{e['mail']['message_id']}>")
        lines.append(f"| {i} | {e['at']} | {md(e['who'])} | {e['action']} | {detail} | {mail} |")
    return "\n".join(lines) + "\n"


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round((as_utc(b) - as_utc(a)).total_seconds() / 60, 1)


def escalations(session: Session, *, actor: str | None = None, since: datetime | None = None) -> list[dict]:
    stmt = select(Case).where(Case.kind == "incident").order_by(Case.created_at)
    rows = []
    for case in session.exec(stmt):
        if case.severity not in ("A", "B") and case.escalated_at is None and not case.nhn_reference:
            continue
        if actor and actor not in (case.actor, case.lead_actor):
            continue
        if since and as_utc(case.created_at) < since:
            continue
        forward = session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id,
                                                        OutboxMail.purpose == "nhn_forward")
                               .order_by(OutboxMail.id).limit(1)).first()
        ref_event = session.exec(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                          AuditEvent.action == "nhn_reference_recorded")
                                 .order_by(AuditEvent.id).limit(1)).first()
        escalated = session.exec(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                          AuditEvent.action == "escalated_to_nhn")
                                 .order_by(AuditEvent.id).limit(1)).first()
        told = forward.sent_at if forward and forward.sent_at else None
        reference_at = ref_event.at if ref_event else (case.escalated_at if case.nhn_reference else None)
        rows.append({
            "id": case.id, "severity": case.severity, "actor": case.actor, "lead_actor": case.lead_actor,
            "state": case.state, "received_at": _iso(case.created_at), "route": _route(case, escalated),
            "escalated_by": escalated.who if escalated else None,
            "escalated_at": _iso(case.escalated_at), "nhn_told_at": _iso(told),
            "forward_status": forward.status if forward else ("opened by NHN" if case.nhn_reference else "not sent"),
            "nhn_reference": case.nhn_reference, "nhn_reference_at": _iso(reference_at),
            "resolved_at": _iso(case.resolved_at), "closed_at": _iso(case.closed_at),
            "minutes_to_escalation": _minutes(case.created_at, case.escalated_at),
            "minutes_to_nhn_told": _minutes(case.created_at, told),
            "minutes_to_nhn_reference": _minutes(told or case.escalated_at, reference_at),
            "minutes_to_closed": _minutes(case.created_at, case.closed_at),
        })
    return rows


def _route(case: Case, escalated: AuditEvent | None) -> str:
    """How CASE reached NHN: by its severity (automatically), by a handler's #meld-nhn, or NHN opened it."""
    if escalated is None:
        return "opened_by_nhn" if case.nhn_reference else "not_sent"
    detail = json.loads(escalated.detail or "{}")
    by_severity = detail.get("escalated_severity", {}).get("to") in ("A", "B") and \
        str(detail.get("reason", "")).startswith("alvorlighetsgrad")
    return "severity" if by_severity else "meld-nhn"


ESCALATION_COLUMNS = ["id", "severity", "route", "escalated_by", "actor", "lead_actor", "state", "received_at",
                      "escalated_at", "nhn_told_at", "forward_status", "nhn_reference", "nhn_reference_at",
                      "resolved_at", "closed_at", "minutes_to_escalation", "minutes_to_nhn_told",
                      "minutes_to_nhn_reference", "minutes_to_closed"]


def escalations_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = SpreadsheetWriter(out, ESCALATION_COLUMNS, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def escalations_markdown(rows: list[dict]) -> str:
    header = ["Sak", "Grad", "Vei til NHN", "Mottatt (UTC)", "NHN fikk den (UTC)", "NHN-ref.", "Min. til NHN",
              "Min. til ref.", "Min. til lukking", "Tilstand"]
    route_nb = {"severity": "alvorlighetsgrad", "meld-nhn": "#meld-nhn", "opened_by_nhn": "NHN åpnet",
                "not_sent": "ikke sendt"}
    lines = ["# Saker meldt til NHN", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["id"], r["severity"], route_nb.get(r["route"], r["route"]) +
                 (f" ({r['escalated_by']})" if r["route"] == "meld-nhn" else ""),
                 r["received_at"], r["nhn_told_at"] or r["forward_status"], r["nhn_reference"],
                 r["minutes_to_nhn_told"], r["minutes_to_nhn_reference"], r["minutes_to_closed"], r["state"]]
        lines.append("| " + " | ".join("-" if v in (None, "") else markdown_text(v) for v in cells) + " |")
    return "\n".join(lines) + "\n"
