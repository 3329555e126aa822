"""What a management meeting goes through: every open incident, the incidents closed in the
period, and the citizen cases near or past their deadline.

Decides which cases are in the report and what is said of each. Open means any active state
(new, awaiting_info, open, resolved); an incident is "closed in the period" when its `closed_at`
is at or after SINCE. Each open incident shows its severity, lead actor, NHN's reference and
classification, its age, its last `#status` and the next step (derived from its state, never
typed); each closed one the time from received to NHN being told, to the fix (`#løst`), to
closure, and who confirmed the fix. Citizen cases are listed from `[citizen].reminder_days`'
largest value before their deadline (dates from `daemon.citizen.deadlines`). The clock (NOW) is
given by the caller. Free text (service, subject, status text) is redacted of identity numbers
here; which of it is shown is decided in `formats`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from ..citizen.deadlines import OSLO, local_date, nb_date, title
from ..pii import redact_identity_numbers
from ..registry import states
from ..registry.models import AuditEvent, Case, OutboxMail, as_utc
from ..config import SEVERITIES

STATE_NB = {
    states.NEW: "ny", states.AWAITING_INFO: "venter på opplysninger", states.OPEN: "åpen",
    states.RESOLVED: "løst, overvåkes", states.CLOSED: "lukket",
}
NO_SEVERITY = "-"
AGE_BUCKETS = ((timedelta(days=7), "under 1 uke"), (timedelta(days=28), "1–4 uker"), (None, "over 4 uker"))


@dataclass
class OpenIncident:
    id: str
    severity: str
    lead: str
    state: str
    nhn_reference: str
    nhn_classification: str
    created_at: datetime
    age: timedelta
    escalated_at: datetime | None
    last_status_at: datetime | None
    last_status: str
    next_step: str
    service: str
    subject: str

    @property
    def age_bucket(self) -> str:
        return bucket(self.age)


@dataclass
class ClosedIncident:
    id: str
    severity: str
    lead: str
    nhn_reference: str
    nhn_classification: str
    created_at: datetime
    closed_at: datetime
    to_nhn: timedelta | None
    to_fix: timedelta | None
    to_close: timedelta
    confirmed_by: str
    service: str
    subject: str


@dataclass
class CitizenDue:
    id: str
    title: str
    owner: str
    deadline: date
    days_left: int
    state: str


@dataclass
class MeetingReport:
    now: datetime
    since: datetime
    open: list[OpenIncident] = field(default_factory=list)
    closed: list[ClosedIncident] = field(default_factory=list)
    citizen: list[CitizenDue] = field(default_factory=list)

    def open_by_severity_and_age(self) -> dict[str, dict[str, int]]:
        """{severity: {age bucket: count}} over every severity and bucket (zeros included)."""
        counts = {s: {label: 0 for _, label in AGE_BUCKETS} for s in (*SEVERITIES, NO_SEVERITY)}
        for case in self.open:
            counts[case.severity][case.age_bucket] += 1
        return counts


def bucket(age: timedelta) -> str:
    return next(label for limit, label in AGE_BUCKETS if limit is None or age < limit)


def _severity_key(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _actor_name(config, actor_id: str | None) -> str:
    actor = config.actor_by_id(actor_id) if actor_id else None
    return actor.name if actor else (actor_id or "-")


def _events(session: Session, case_ids: list[str], actions: tuple[str, ...]) -> dict[str, list[AuditEvent]]:
    """The audit events ACTIONS of CASE_IDS, in order, by case (one query)."""
    found: dict[str, list[AuditEvent]] = {}
    if not case_ids:
        return found
    for event in session.exec(select(AuditEvent).where(AuditEvent.case_id.in_(case_ids),
                                                       AuditEvent.action.in_(actions)).order_by(AuditEvent.id)):
        found.setdefault(event.case_id, []).append(event)
    return found


def _detail(event: AuditEvent) -> dict:
    try:
        return json.loads(event.detail or "{}")
    except ValueError:
        return {}


def next_step(config, case: Case, lead: str) -> str:
    """What happens next, from the case's state alone (no free text)."""
    if case.state in (states.NEW, states.AWAITING_INFO):
        return "venter på opplysninger fra melderen"
    if case.state == states.RESOLVED:
        until = as_utc(case.resolved_at) + timedelta(hours=config.incident.verification_hours) \
            if case.resolved_at else None
        when = f" til {local_time(until)}" if until else ""
        return f"tjenesten overvåkes{when}, så lukkes saken"
    if case.escalated_at is not None and not case.nhn_reference:
        return "venter på NHNs saksnummer"
    if case.escalated_at is not None:
        return "følges opp med NHN"
    if case.severity in ("A", "B"):
        return "meldes til NHN"
    return f"under behandling hos {lead}"


def gather(session: Session, config, *, now: datetime, since: datetime) -> MeetingReport:
    report = MeetingReport(now=as_utc(now), since=as_utc(since))
    open_rows = list(session.exec(select(Case).where(Case.kind == "incident", Case.state.in_(states.ACTIVE))))
    closed_rows = list(session.exec(select(Case).where(Case.kind == "incident", Case.state == states.CLOSED,
                                                       Case.closed_at >= report.since)))
    statuses = _events(session, [c.id for c in open_rows], ("status",))
    for case in open_rows:
        lead = _actor_name(config, case.lead_actor)
        last = statuses.get(case.id, [])[-1:]
        report.open.append(OpenIncident(
            id=case.id, severity=case.severity or NO_SEVERITY, lead=lead, state=case.state,
            nhn_reference=case.nhn_reference or "", nhn_classification=case.nhn_classification or "",
            created_at=as_utc(case.created_at), age=report.now - as_utc(case.created_at),
            escalated_at=as_utc(case.escalated_at),
            last_status_at=as_utc(last[0].at) if last else None,
            last_status=redact_identity_numbers(str(_detail(last[0]).get("text", ""))) if last else "",
            next_step=next_step(config, case, lead), service=redact_identity_numbers(case.service),
            subject=redact_identity_numbers(case.subject)))
    report.open.sort(key=lambda c: (_severity_key(c.severity), c.lead, c.created_at, c.id))
    report.closed = _closed(session, config, closed_rows)
    report.citizen = _citizen_due(session, config, local_date(report.now))
    return report


def _closed(session: Session, config, rows: list[Case]) -> list[ClosedIncident]:
    ids = [c.id for c in rows]
    moves = _events(session, ids, ("state_changed",))
    told = {m.case_id: as_utc(m.sent_at) for m in session.exec(
        select(OutboxMail).where(OutboxMail.case_id.in_(ids), OutboxMail.purpose == "nhn_forward",
                                 OutboxMail.sent_at.is_not(None)).order_by(OutboxMail.id.desc()))} if ids else {}
    out = []
    for case in rows:
        created = as_utc(case.created_at)
        to_resolved = [e for e in moves.get(case.id, []) if _detail(e).get("to") == states.RESOLVED]
        to_closed = [e for e in moves.get(case.id, []) if _detail(e).get("to") == states.CLOSED]
        confirmer = to_resolved[-1] if to_resolved else (to_closed[-1] if to_closed else None)
        nhn_at = told.get(case.id) or as_utc(case.escalated_at)
        out.append(ClosedIncident(
            id=case.id, severity=case.severity or NO_SEVERITY, lead=_actor_name(config, case.lead_actor),
            nhn_reference=case.nhn_reference or "", nhn_classification=case.nhn_classification or "",
            created_at=created, closed_at=as_utc(case.closed_at),
            to_nhn=nhn_at - created if nhn_at else None,
            to_fix=as_utc(case.resolved_at) - created if case.resolved_at else None,
            to_close=as_utc(case.closed_at) - created,
            confirmed_by=_who(confirmer.who) if confirmer else "-",
            service=redact_identity_numbers(case.service), subject=redact_identity_numbers(case.subject)))
    out.sort(key=lambda c: (c.closed_at, c.id))
    return out


def _who(who: str) -> str:
    return "sakspost (verifisering)" if who == "system" else who


def _citizen_due(session: Session, config, today: date) -> list[CitizenDue]:
    horizon = today + timedelta(days=max(config.citizen.reminder_days or (7,)))
    rows = session.exec(select(Case).where(Case.kind == "citizen_form", Case.state.in_(states.ACTIVE),
                                           Case.deadline.is_not(None), Case.deadline <= horizon)
                        .order_by(Case.deadline, Case.id))
    return [CitizenDue(id=c.id, title=title(c.form_type), owner=_actor_name(config, c.owner_actor),
                       deadline=c.deadline, days_left=(c.deadline - today).days, state=c.state) for c in rows]


# -- how durations and moments read ------------------------------------------------------------

def duration(value: timedelta | None) -> str:
    """4 t 20 min, 2 d 3 t, 12 min; '-' for none."""
    if value is None:
        return "-"
    minutes = max(0, int(value.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} t" if hours else f"{days} d"
    if hours:
        return f"{hours} t {minutes} min"
    return f"{minutes} min"


def local_time(moment: datetime | None) -> str:
    """DD.MM.YYYY HH:MM, Norwegian time."""
    return as_utc(moment).astimezone(OSLO).strftime("%d.%m.%Y %H:%M") if moment else "-"


def local_day(day: date | None) -> str:
    return nb_date(day)
