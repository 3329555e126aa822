"""Case events as an operator sees them: one log line each, and a counter.

Decides which audit events are worth a line of their own and what the line may say: ids, kinds and
severities only, never a subject, a name or a text. The events are read from the transaction's
pending audit rows just before it commits (`transaction` writes them in one INSERT then) and are
logged only once it has committed: a rolled-back case was never opened.

    opened              a case was registered
    escalated           NHN was told of an A/B incident (with the minutes it took)
    escalation_failed   an A/B incident could not be escalated
    acknowledged        the reporter's acknowledgement or the citizen's receipt was queued
    closed              a case was closed
    bounced             a bounce of one of our mails came back on a case
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from .. import metrics
from .models import Case, as_utc

log = logging.getLogger("sakspost.cases")

_KEY = "sakspost_case_events"
_ACKNOWLEDGING = {"acknowledgement", "citizen_receipt"}


_ACTIONS = frozenset({"opened", "escalation_impossible", "escalated_to_nhn", "mail_queued", "state_changed",
                      "automatic_mail_received"})  # the only audit actions that can be an event


def _event_of(row: dict) -> str | None:
    action = row["action"]
    if action in ("opened", "escalation_impossible", "escalated_to_nhn"):
        return {"opened": "opened", "escalation_impossible": "escalation_failed"}.get(action, "escalated")
    if action not in ("mail_queued", "state_changed", "automatic_mail_received"):
        return None
    detail = json.loads(row["detail"] or "{}")
    if action == "mail_queued" and detail.get("purpose") in _ACKNOWLEDGING:
        return "acknowledged"
    if action == "state_changed" and detail.get("to") == "closed":
        return "closed"
    if action == "automatic_mail_received" and detail.get("rule") == "bounce":
        return "bounced"
    return None


@event.listens_for(Session, "before_commit", insert=True)  # before `transaction` writes and clears them
def _collect(session) -> None:
    if session.in_nested_transaction():
        return
    pending = session.info.get("sakspost_pending")
    if pending is None or not pending.events:
        return
    found = []
    for row in pending.events:
        name = _event_of(row) if row["action"] in _ACTIONS else None
        if name is None:
            continue
        case = session.identity_map.get(session.identity_key(Case, row["case_id"]))
        entry = {"event": name, "case_id": row["case_id"], "kind": getattr(case, "kind", "") or ""}
        if case is not None and case.severity:
            entry["severity"] = case.severity
        if name == "escalated" and case is not None and case.created_at is not None:
            entry["latency_seconds"] = round((as_utc(row["at"]) - as_utc(case.created_at)).total_seconds(), 3)
        found.append(entry)
    session.info[_KEY] = session.info.get(_KEY, []) + found


@event.listens_for(Session, "after_commit")
def _report(session) -> None:
    for entry in session.info.pop(_KEY, ()):
        metrics.CASE_EVENTS.labels(entry["event"], entry["kind"]).inc()
        if "latency_seconds" in entry:
            metrics.ESCALATION_LATENCY.observe(max(entry["latency_seconds"], 0))
        shown = ", ".join(str(entry[k]) for k in ("kind", "severity", "latency_seconds") if entry.get(k))
        log.info("case %s %s%s", entry["case_id"], entry["event"], f" ({shown})" if shown else "", extra=entry)


@event.listens_for(Session, "after_rollback")
def _forget(session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_KEY, None)
