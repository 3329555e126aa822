"""Deadlines of citizens' inquiries: when each is due, who is reminded, and extensions.

Decides the arithmetic and the timing. A form is due a number of calendar months after the
day it was received (`[citizen.deadline_months]`, one month for every type by default: GDPR
art. 12(3); pasientjournalloven § 18 for the access log; pasient- og brukerrettighetsloven
§§ 5-1 and 5-2): the same day of the month, or the month's last day where it has no such day
(31 January + 1 month = 28 or 29 February). Days are Norwegian calendar days (Europe/Oslo).

The owner's people (`notices.reminder_people`: the owner's case address or this organisation's
handlers, and the owner's handlers by name) are reminded `[citizen].reminder_days` before the
deadline (7, 2 and 0: the day it runs out), and, where `[citizen].escalation_address` is set,
told once more the day after it passed unanswered, with the escalation address in copy
(`OVERDUE`). `send_due_reminders` is given "today" (the clock is injected), sends only the
nearest reminder that is due, and records it on the form, so each goes once even if the job
runs late, twice, or from two daemons.

An extension of up to `max_extension_months` (two) more months needs a reason, must be made
before the deadline has passed, and queues a notice to the citizen (by e-mail where they wrote
by e-mail; otherwise it is due by post). The notice names only the legal ground (GDPR art.
12(3)), the months and the new deadline, and says a letter follows: the handler's reason stays
on the case and goes into the letter (`letters`), never into an e-mail.
"""

from __future__ import annotations

import calendar
import logging
import re
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ..config import FORM_TYPES
from ..registry import cases, states
from ..registry.models import Case, CitizenForm, as_utc

log = logging.getLogger("sakspost.citizen")
OSLO = ZoneInfo("Europe/Oslo")

TITLES_NB = {
    "copy_of_record": "Kopi av pasientjournal",
    "access_log": "Innsyn i tilgangslogg",
    "blocking": "Sperring",
    "correction": "Endring eller retting",
    "lookup_question": "Spørsmål om oppslag",
}
UNKNOWN_TITLE = "Innbyggerhenvendelse (skjematype ikke gjenkjent)"
OVERDUE = -1  # the "days before" of the notice sent once the deadline has passed


class NotAllowed(Exception):
    """The step cannot be taken on this case; the message says why, in bokmål."""


def title(form_type: str | None) -> str:
    return TITLES_NB.get(form_type or "", UNKNOWN_TITLE)


# -- dates -------------------------------------------------------------------------------------

def local_date(moment: datetime) -> date:
    """The Norwegian calendar day of MOMENT (naive datetimes are UTC, as stored)."""
    return as_utc(moment).astimezone(OSLO).date()


def today() -> date:
    return local_date(datetime.now(timezone.utc))


def add_months(day: date, months: int) -> date:
    """DAY plus MONTHS calendar months, clamped to the last day of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


_NB_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


def parse_date(text: str) -> date:
    """YYYY-MM-DD or DD.MM.YYYY; ValueError otherwise."""
    text = (text or "").strip()
    m = _NB_DATE.match(text)
    if m:
        return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    return date.fromisoformat(text)


def nb_date(day: date | None) -> str:
    return day.strftime("%d.%m.%Y") if day else "-"


def deadline_for(config, form_type: str | None, received: date) -> date:
    """The statutory deadline of a form received on RECEIVED (an unread type: the shortest)."""
    months = config.citizen.deadline_months
    if form_type in FORM_TYPES:
        return add_months(received, getattr(months, form_type))
    return add_months(received, min(getattr(months, t) for t in FORM_TYPES))


# -- reminders ---------------------------------------------------------------------------------

def _marks(form: CitizenForm) -> set[str]:
    return {m for m in form.reminders_sent.split(",") if m}


def due_reminder(config, deadline: date, today_: date, sent: set[str]) -> tuple[int, list[str]] | None:
    """(days before the deadline, marks to record) of the reminder due today, or None.

    Only the nearest milestone counts: a job that missed the 7-day reminder and runs 2 days
    before sends the 2-day one, and the 7-day one is recorded as passed. With an escalation
    address, a deadline that has passed gives one more: (OVERDUE, marks)."""
    days_left = (deadline - today_).days

    def mark(milestone) -> str:
        return f"{deadline.isoformat()}:{milestone}"
    due = sorted(d for d in set(config.citizen.reminder_days) if days_left <= d)
    if days_left < 0 and config.citizen.escalation_address and mark("overdue") not in sent:
        return OVERDUE, [mark(d) for d in (*due, "overdue") if mark(d) not in sent]
    if not due or mark(due[0]) in sent:
        return None
    return due[0], [mark(d) for d in due if mark(d) not in sent]


def send_due_reminders(rt, today_: date) -> list[tuple[str, int]]:
    """Remind the owners of open citizen cases whose deadline is near or has passed TODAY_.

    Returns (case id, days before the deadline) for each reminder queued."""
    sent: list[tuple[str, int]] = []
    with rt.writer.turn(), Session(rt.engine, expire_on_commit=False) as session:
        rows = session.exec(
            select(Case, CitizenForm).join(CitizenForm, CitizenForm.case_id == Case.id)
            .where(Case.kind == "citizen_form", Case.state.in_(states.ACTIVE), Case.deadline.is_not(None))
            .order_by(Case.deadline, Case.id).with_for_update(skip_locked=True)
        ).all()
        for case, form in rows:
            due = due_reminder(rt.config, case.deadline, today_, _marks(form))
            if due is None:
                continue
            days, marks = due
            remind(session, rt, case, form, days, today_, marks)
            sent.append((case.id, days))
        session.commit()
    if sent:
        rt.wake_sender.set()
        log.info("queued %d deadline reminder(s)", len(sent))
    return sent


def remind(session: Session, rt, case: Case, form: CitizenForm, days: int, today_: date, marks: list[str]) -> None:
    from .notices import context, reminder_people

    recipients = reminder_people(rt.config, case)
    cases.change(session, case, on=form, action="deadline_reminder",
                 reminders_sent=",".join([*[m for m in form.reminders_sent.split(",") if m], *marks]))
    if not recipients:
        cases.note(session, case, "deadline_reminder_impossible",
                   detail={"days_before": days, "reason": f"no handlers or contact for {case.owner_actor!r}"})
        return
    escalation = rt.config.citizen.escalation_address if days == OVERDUE else ""
    if escalation:
        cases.note(session, case, "deadline_escalated", detail={"to": escalation, "deadline": case.deadline})
    cases.send(session, rt, case, "deadline_reminder",
               {**context(rt.config, case), "days_left": (case.deadline - today_).days,
                "extended": form.extension_months > 0, "escalated": bool(escalation)},
               to=recipients, cc=[escalation] if escalation else [],
               purpose="deadline_overdue" if escalation else "deadline_reminder", auto_submitted="auto-generated")


# -- extension ---------------------------------------------------------------------------------

def extend(session: Session, rt, case: Case, form: CitizenForm, *, months: int | None, reason: str,
           who: str, today_: date, message_pk: int | None = None) -> date:
    """Move the deadline up to the allowed months past the statutory one; return the new one."""
    allowed = rt.config.citizen.max_extension_months
    if case.state == states.CLOSED:
        raise NotAllowed("saken er lukket")
    if not reason.strip():
        raise NotAllowed("forlengelse krever en begrunnelse: #forleng [MÅNEDER] BEGRUNNELSE")
    if case.deadline is None or today_ > case.deadline:
        raise NotAllowed(f"fristen {nb_date(case.deadline)} er passert; forlengelse må gjøres før fristen")
    remaining = allowed - form.extension_months
    months = remaining if months is None else months
    if months < 1 or months > remaining:
        raise NotAllowed(f"fristen kan forlenges med inntil {allowed} måneder i alt; "
                         f"{remaining} gjenstår")
    original = form.original_deadline or case.deadline
    total = form.extension_months + months
    new = add_months(original, total)
    cases.change(session, case, on=form, who=who, message_pk=message_pk, action="extension_recorded",
                 original_deadline=original, extension_months=total,
                 extension_reason="\n".join(r for r in (form.extension_reason, reason.strip()) if r))
    cases.change(session, case, who=who, message_pk=message_pk, action="deadline_extended",
                 reason=reason.strip(), deadline=new)
    if form.reply_address:
        cases.send(session, rt, case, "citizen_extension_notice",
                   {"deadline": nb_date(new), "months": months},
                   to=[form.reply_address], purpose="extension_notice", who=who)
    else:
        cases.note(session, case, "extension_notice_due_by_post", who=who, message_pk=message_pk,
                   detail={"deadline": new.isoformat()})
    return new
