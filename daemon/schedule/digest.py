"""The meeting digest: when it is due, and sending each due one once.

Decides the timing. `[digest] schedule` is a crontab line in Norwegian time (default Monday
08:00, `0 8 * * mon`); its moments ("slots") are worked out by APScheduler's `CronTrigger` in
Europe/Oslo, so a daylight-saving weekend moves Monday's digest with the wall clock and neither
skips nor doubles it. The daemon asks every minute (`send_due_digest`, given the clock): the
digest is due when the latest slot at or before now is later than the one last sent for. After
downtime only that latest slot is sent, so a week away sends one digest, not one per missed
slot; with nothing sent yet, slots up to `FIRST_LOOKBACK` back count. The slot last sent for is
kept in the registry (`ScheduledSend`; looked at without a lock, then locked and looked at again
while the digest is queued, in the same transaction), never in APScheduler's job store, so several daemons on one registry send it once.
The digest is the meeting report (`daemon.meeting`) as a mail to `[digest] recipients`, queued
in the outbox like every other mail; no recipients, no digest.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ..citizen.deadlines import OSLO
from ..meeting import formats
from ..meeting.report import MeetingReport, gather
from ..registry import cases, sql
from ..registry.db import read_only
from ..registry.models import ScheduledSend, as_utc

log = logging.getLogger("sakspost.digest")
NAME = "digest"
FIRST_LOOKBACK = timedelta(days=8)  # with no digest sent yet: how far back a slot still counts
MAX_CATCH_UP = timedelta(days=366)  # a longer downtime is not walked slot by slot
DEFAULT_PERIOD = timedelta(days=7)  # closed cases in the first digest: this far back
TICK_SECONDS = 60


def trigger(config) -> CronTrigger:
    return CronTrigger.from_crontab(config.digest.schedule, timezone=OSLO)


def due_slot(cron: CronTrigger, now: datetime, last: datetime | None) -> datetime | None:
    """The latest slot of CRON at or before NOW and after LAST (UTC), or None."""
    now = as_utc(now)
    floor = now - (FIRST_LOOKBACK if last is None else MAX_CATCH_UP)
    start = max(as_utc(last), floor) if last is not None else floor
    slot, upcoming = None, cron.get_next_fire_time(None, start + timedelta(seconds=1))
    while upcoming is not None and as_utc(upcoming) <= now:
        slot = as_utc(upcoming)
        upcoming = cron.get_next_fire_time(upcoming, upcoming + timedelta(seconds=1))
    return slot


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _locked_state(session: Session) -> ScheduledSend:
    """The digest's row, locked for this transaction (made on first use; another daemon making
    it at the same moment wins, and its row is read)."""
    stmt = select(ScheduledSend).where(ScheduledSend.name == NAME).with_for_update()
    row = session.exec(stmt).first()
    if row is None:
        try:
            with session.begin_nested():
                sql.insert_object(session, ScheduledSend(name=NAME))
        except IntegrityError:
            pass
        row = session.exec(stmt.execution_options(populate_existing=True)).first()
    return row


def build(session: Session, rt, now: datetime, last_slot: datetime | None) -> MeetingReport:
    """The report a digest at NOW carries: cases closed since the last digest's slot."""
    since = as_utc(last_slot) if last_slot else as_utc(now) - DEFAULT_PERIOD
    return gather(session, rt.config, now=now, since=since)


def send_due_digest(rt, now: datetime) -> datetime | None:
    """Queue the digest if one is due at NOW; return the slot it was sent for, or None."""
    recipients = list(rt.config.digest.recipients)
    if not recipients:
        return None
    cron = trigger(rt.config)
    with Session(read_only(rt.engine)) as session:  # most minutes nothing is due: no write lock for that
        state = session.get(ScheduledSend, NAME)
        if due_slot(cron, now, as_utc(state.last_slot) if state else None) is None:
            return None
    with rt.writer.turn(), Session(rt.engine, expire_on_commit=False) as session:
        state = _locked_state(session)
        slot = due_slot(cron, now, as_utc(state.last_slot))
        if slot is None:
            session.rollback()
            return None
        report = build(session, rt, now, state.last_slot)
        pk = cases.send(session, rt, None, "digest", formats.context(report, for_mail=True), to=recipients,
                        purpose="digest", auto_submitted="auto-generated")
        sql.write(session, state, last_slot=slot, sent_at=as_utc(now), sent_by=instance_name(), message_pk=pk)
        session.commit()
    rt.wake_sender.set()
    log.info("queued the meeting digest for %s to %d recipient(s)", slot.astimezone(OSLO).isoformat(), len(recipients))
    return slot


def preview(rt, now: datetime) -> tuple[str, str, str | None]:
    """(subject, text, html) of the digest as it would go out at NOW; nothing is recorded."""
    with Session(rt.engine) as session:
        state = session.get(ScheduledSend, NAME)
        report = build(session, rt, now, state.last_slot if state else None)
        return rt.renderer.render("digest", {"case": None, **formats.context(report, for_mail=True)})
