"""Stale incidents: an open case nobody has touched for a while reminds its lead actor.

Decides when a case counts as stale and who hears of it. A case in `new`, `awaiting_info` or
`open` whose last activity (any audit event: a mail, a command, a change; `Case.updated_at`)
is `[incident].stale_days` (per severity, A soonest; none counts as D) old or older reminds the
lead actor's handlers (else its contact point; no lead: this organisation). The reminder is
itself recorded on the case, which makes it the case's last activity: so a case that stays
untouched is reminded once per period, not on every run, and two daemons never both remind
(the rows are claimed `FOR UPDATE SKIP LOCKED`). Resolved cases close themselves and are left
alone. The clock (NOW) is given by the caller.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session, select

from ..config import SEVERITIES
from ..outbound.wording import state_name
from ..registry import cases, states
from ..registry.models import Case, as_utc

log = logging.getLogger("sakspost.incident")
WATCHED = (states.NEW, states.AWAITING_INFO, states.OPEN)


def send_stale_reminders(rt, now: datetime) -> list[tuple[str, int]]:
    """Remind the leads of stale incidents at NOW; return (case id, idle days) for each reminder."""
    stale = rt.config.incident.stale_days
    now = as_utc(now)
    shortest = min(getattr(stale, s) for s in SEVERITIES)
    sent: list[tuple[str, int]] = []
    with rt.writer.turn(), Session(rt.engine, expire_on_commit=False) as session:
        rows = session.exec(select(Case).where(Case.kind == "incident", Case.state.in_(WATCHED),
                                               Case.updated_at <= now - timedelta(days=shortest))
                            .order_by(Case.updated_at, Case.id).with_for_update(skip_locked=True)).all()
        for case in rows:
            limit = stale.for_severity(case.severity)
            idle = now - as_utc(case.updated_at)
            if idle < timedelta(days=limit):
                continue
            remind(session, rt, case, idle.days, limit)
            sent.append((case.id, idle.days))
        session.commit()
    if sent:
        rt.wake_sender.set()
        log.info("queued %d stale-case reminder(s)", len(sent))
    return sent


def remind(session: Session, rt, case: Case, idle_days: int, limit: int) -> None:
    lead = case.lead_actor or rt.config.identity.actor
    actor = rt.config.actor_by_id(lead) if lead else None
    recipients = actor.reached_at() if actor else []
    cases.note(session, case, "stale_reminder", detail={"idle_days": idle_days, "stale_days": limit,
                                                        "lead": lead, "to": recipients})
    if not recipients:
        log.warning("stale case %s: no handlers or contact for its lead %r", case.id, lead)
        return
    cases.send(session, rt, case, "stale_reminder",
               {"idle_days": idle_days, "stale_days": limit, "lead": actor.name if actor else (lead or "-"),
                "state": state_name(case.state)},
               to=recipients, purpose="stale_reminder", auto_submitted="auto-generated")
