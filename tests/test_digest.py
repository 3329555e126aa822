"""The meeting digest on its schedule, with an injected clock: one digest after a week of
downtime, Monday's neither skipped nor doubled over a daylight-saving weekend, one from three
daemons on PostgreSQL; what the mail says and leaves out; stale-case reminders once per period."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy

import pytest
from conftest import ROOT, render_toml
from meeting_registry import DIGEST_TO, HANDLER, incident, runtime, settings
from sqlmodel import Session, select

from daemon.incident.stale import send_stale_reminders
from daemon.registry.models import OutboxMail, RawMessage
from daemon.schedule.digest import send_due_digest

UTC = timezone.utc


def digests(rt) -> list[OutboxMail]:
    with Session(rt.engine) as session:
        return list(session.exec(select(OutboxMail).where(OutboxMail.purpose == "digest").order_by(OutboxMail.id)))


def run_clock(rt, start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Tick the digest job from START to END; the moments at which a digest was queued."""
    sent, now = [], start
    while now <= end:
        if send_due_digest(rt, now) is not None:
            sent.append(now)
        now += step
    return sent


def test_a_week_of_downtime_sends_one_digest(tmp_path):
    rt = runtime(tmp_path)
    # Monday 23 November 2026, 08:00 in Oslo (CET) is 07:00 UTC
    assert run_clock(rt, datetime(2026, 11, 23, 7, 0, tzinfo=UTC), datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
                     timedelta(minutes=1)) == [datetime(2026, 11, 23, 7, 0, tzinfo=UTC)]
    # down from Sunday the 29th until Wednesday 9 December: two Mondays missed, one digest on return
    back = datetime(2026, 12, 9, 10, 0, tzinfo=UTC)
    assert run_clock(rt, back, back + timedelta(hours=20), timedelta(minutes=10)) == [back]
    assert run_clock(rt, datetime(2026, 12, 14, 6, 0, tzinfo=UTC), datetime(2026, 12, 14, 8, 0, tzinfo=UTC),
                     timedelta(minutes=5)) == [datetime(2026, 12, 14, 7, 0, tzinfo=UTC)]
    assert len(digests(rt)) == 3
    rt.close()


@pytest.mark.parametrize("first_monday, dst_monday_utc", [
    # last Sunday of March 2027 (the 28th): Monday 08:00 is 07:00 UTC before, 06:00 UTC after
    (datetime(2027, 3, 22, 7, 0, tzinfo=UTC), datetime(2027, 3, 29, 6, 0, tzinfo=UTC)),
    # last Sunday of October 2026 (the 25th): 06:00 UTC before, 07:00 UTC after
    (datetime(2026, 10, 19, 6, 0, tzinfo=UTC), datetime(2026, 10, 26, 7, 0, tzinfo=UTC)),
])
def test_a_daylight_saving_weekend_neither_skips_nor_doubles_monday(tmp_path, first_monday, dst_monday_utc):
    rt = runtime(tmp_path)
    sent = run_clock(rt, first_monday, dst_monday_utc + timedelta(days=1), timedelta(minutes=15))
    assert sent == [first_monday, dst_monday_utc]
    rt.close()


def test_digest_lists_the_cases_and_leaves_out_free_text(tmp_path):
    rt = runtime(tmp_path)
    now = datetime(2026, 11, 30, 7, 5, tzinfo=UTC)
    open_a = incident(rt, severity="A", age=timedelta(days=3), now=now, nhn_reference="NHN-123456",
                      subject="Pasient Ola Hansen 31129956715 får ikke opp journal")
    closed = incident(rt, severity="B", age=timedelta(days=6), closed_ago=timedelta(days=2), resolved_by=HANDLER, now=now)
    old = incident(rt, severity="C", age=timedelta(days=40), closed_ago=timedelta(days=20), now=now)
    assert send_due_digest(rt, now) == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    [mail] = digests(rt)
    assert mail.recipients == DIGEST_TO
    with Session(rt.engine) as session:
        raw = session.get(RawMessage, mail.message_pk).data
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Auto-Submitted"] == "auto-generated" and "1 åpne, 1 lukket" in str(msg["Subject"])
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (text, html):
        assert open_a in part and closed in part and old not in part and "NHN-123456" in part
        assert "Ola Hansen" not in part and "31129956715" not in part and "journal" not in part.lower()
    assert "<svg" in html and "<script" not in html.lower()
    assert HANDLER in text  # who confirmed the fix
    rt.close()


def test_three_daemons_on_postgresql_send_one_digest(tmp_path, pg_database):
    from daemon.registry.db import open_engine

    open_engine(pg_database).dispose()  # the tables, made once (as the first daemon would)
    path = tmp_path / "sakspost.toml"
    path.write_text(render_toml(settings(tmp_path, pg_database)), encoding="utf-8")
    command = [sys.executable, "-m", "daemon", "--config", str(path), "digest", "--at", "2026-11-30T08:01"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert sorted(out for out, _ in outputs) == ["digest queued for 2026-11-30T07:00:00+00:00\n"] + \
        ["no digest due (the latest one is sent)\n"] * 2
    rt = runtime(tmp_path, pg_database)
    assert len(digests(rt)) == 1
    rt.close()


def test_stale_cases_remind_the_lead_once_per_period_a_sooner_than_d(tmp_path):
    rt = runtime(tmp_path)
    now = datetime.now(UTC)
    a = incident(rt, severity="A", age=timedelta(days=2), now=now)  # A: after 1 day
    d = incident(rt, severity="D", age=timedelta(days=2), now=now)  # D: after 30 days
    assert [case for case, _ in send_stale_reminders(rt, now)] == [a]
    assert send_stale_reminders(rt, now + timedelta(hours=12)) == []  # once per period
    assert [case for case, _ in send_stale_reminders(rt, now + timedelta(days=1, minutes=5))] == [a]
    assert sorted(case for case, _ in send_stale_reminders(rt, now + timedelta(days=31))) == [a, d]
    with Session(rt.engine) as session:
        mails = list(session.exec(select(OutboxMail).where(OutboxMail.purpose == "stale_reminder")))
    assert len(mails) == 4 and {m.recipients for m in mails} == {HANDLER}
    rt.close()


def test_the_running_daemon_mails_the_digest_due_at_start(sakspost, relay, tmp_path):
    """Started on any day, the daemon finds this week's (or last week's) Monday slot unsent and
    mails it once, through the relay, as HTML with the chart and a plain-text part."""
    from conftest import relay_config, wait_until

    daemon = sakspost({**relay_config(relay), "identity": {"address": "brukerstotte@sykehus.example",
                                                           "actor": "sykehus"},
                       "actor": settings(tmp_path)["actor"], "digest": {"recipients": [DIGEST_TO]}})
    [mail] = relay.wait_for(1, timeout=30)
    assert mail["rcpt_tos"] == [DIGEST_TO]
    msg = mail["msg"]
    assert msg.get_content_type() == "multipart/alternative"
    assert "<svg" in msg.get_body(("html",)).get_content()
    assert "ÅPNE SAKER (0)" in msg.get_body(("plain",)).get_content()
    wait_until(lambda: daemon.stats()["outbox"]["by_status"] == {"sent": 1}, what="the digest recorded as sent")
    assert "no digest due" in daemon.cli("digest").stdout.decode()
