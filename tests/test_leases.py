"""Several instances on one PostgreSQL: each IMAP mailbox is worked by one of them at a time through
a lease that another takes over within a minute when its holder dies, scheduled jobs are held the
same way, and `stats --json` lists the live instances and what each holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import incident_mail, wait_until

from daemon.registry import leases
from daemon.registry.db import open_engine
from daemon.registry.models import utcnow
from tests.peers.dovecot import Dovecot
from test_imap import mailbox

MAILBOX = "mailbox:delt"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path}/r.db" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    engine = open_engine(url)
    yield engine
    engine.dispose()


def test_a_lease_is_held_by_one_and_taken_over_when_it_expires(engine):
    t0 = utcnow()
    a, b = "elsewhere:1:aaaaaa", "elsewhere:2:bbbbbb"  # another host: only expiry frees a lease
    assert leases.heartbeat(engine, a, [MAILBOX, "job:x"], now=t0) == {MAILBOX, "job:x"}
    assert leases.heartbeat(engine, b, [MAILBOX, "job:x"], now=t0 + timedelta(seconds=10)) == set()
    assert leases.heartbeat(engine, a, [MAILBOX], now=t0 + timedelta(seconds=20)) == {MAILBOX}  # renewed
    later = t0 + timedelta(seconds=20 + leases.TTL + 1)
    assert leases.heartbeat(engine, b, [MAILBOX, "job:x"], now=later) == {MAILBOX, "job:x"}
    assert leases.heartbeat(engine, a, [MAILBOX], now=later + timedelta(seconds=1)) == set()
    assert [(i["id"], i["holds"]) for i in leases.live(engine, now=later)] == [(a, []), (b, ["job:x", MAILBOX])]
    leases.release(engine, b)
    assert [i["id"] for i in leases.live(engine, now=later)] == [a]
    assert leases.live(engine, now=later + timedelta(seconds=leases.TTL + 2)) == []  # a went silent


def test_a_holder_on_this_host_whose_process_is_gone_is_taken_over_at_once(engine):
    import socket

    gone = f"{socket.gethostname()}:999999:cccccc"  # above the kernel's pid_max: never a live process
    t0 = utcnow()
    assert leases.heartbeat(engine, gone, [MAILBOX], now=t0) == {MAILBOX}
    assert leases.heartbeat(engine, "elsewhere:3:dddddd", [MAILBOX], now=t0) == {MAILBOX}


def test_two_instances_share_one_mailbox_and_one_is_killed(sakspost, pg_database, tmp_path):
    with Dovecot(tmp_path / "dovecot", {"delt": "pw-delt"}) as imap:
        secret = tmp_path / "secret"
        secret.write_text("shared-secret-for-both-daemons")
        config = {"database": {"url": pg_database}, "mailbox": [mailbox(imap, "delt", tmp_path, idle=False,
                                                                        poll_seconds=1)],
                  "identity": {"address": "brukerstotte@sykehus.example", "secret_file": str(secret)}}
        first, second = sakspost(config), sakspost(config)

        def holders() -> dict:
            instances = first.stats()["instances"] if first.proc else second.stats()["instances"]
            return {name: i["pid"] for i in instances for name in i["holds"]}

        jobs = {f"job:{name}" for name in ("close_verified_incidents", "citizen_deadline_reminders",
                                           "forget_rate_events", "stale_incident_reminders", "meeting_digest",
                                           "failed_nhn_mail", "handler_digest")}
        held = wait_until(lambda: (h := holders()) and {MAILBOX, *jobs} == set(h) and h, 20,
                          what="the mailbox and every shared job held")
        assert len(first.stats()["instances"]) == 2
        pids = {first.proc.pid: first, second.proc.pid: second}
        holder = pids[held[MAILBOX]]
        other = second if holder is first else first
        imap.append("delt", incident_mail(subject="Før", message_id="<for@sykehus.example>"))
        other.wait_cases(1, timeout=20)
        assert "mailbox delt: connected" not in other.log()  # only the holder ever connected
        assert "mailbox delt: connected" in holder.log()

        holder.kill()
        imap.append("delt", incident_mail(subject="Etter", message_id="<etter@sykehus.example>"))
        wait_until(lambda: holders().get(MAILBOX) == other.proc.pid, 60, what="the lease taken over")
        cases = other.wait_cases(2, timeout=30)
        assert sorted(c["subject"] for c in cases) == ["Etter", "Før"]
        assert [i["pid"] for i in other.stats()["instances"]] == [other.proc.pid]
