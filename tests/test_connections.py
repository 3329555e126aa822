"""Connections and logs bounded (issue 15): a crowd of idle connections neither takes every
file descriptor nor floods the log; a sender that comes meanwhile is served or told 421, and
once the crowd is gone the daemon serves again. An idle connection is closed after its time."""

from __future__ import annotations

import resource
import smtplib
import socket
import time

import pytest

from conftest import incident_mail, wait_until

CROWD = 1100


@pytest.fixture
def open_files():
    """Room for the crowd in this process (the daemon raises its own limit at start)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 3 * CROWD)), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _greeting(port: int) -> int:
    """The code a new client hears first (220 served, 421 told to come back)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            return client.noop()[0] and 220
    except smtplib.SMTPConnectError as exc:
        return exc.smtp_code
    except smtplib.SMTPServerDisconnected:
        return 421


@pytest.mark.parametrize("parse_helper", [True, False], ids=["front", "in-process"])
def test_1100_idle_connections_leave_a_new_sender_served_or_told_421_and_the_log_small(
        sakspost, open_files, parse_helper):
    d = sakspost({"receiver": {"max_connections": 50}, "pipeline": {"parse_helper": parse_helper}})
    crowd = []
    try:
        for _ in range(CROWD):
            crowd.append(socket.create_connection(("127.0.0.1", d.port), timeout=10))
        started = time.monotonic()
        assert _greeting(d.port) in (220, 421)
        assert time.monotonic() - started < 5
        refused = 0
        for s in crowd[:200]:  # the fiftieth and later were told 421 and closed
            s.settimeout(5)
            refused += s.recv(200).startswith(b"421")
        assert refused >= 150
    finally:
        for s in crowd:
            s.close()
    wait_until(lambda: _greeting(d.port) == 220, 15, what="the daemon serving again")
    d.send(incident_mail(subject="Etter mengden", message_id="<after-crowd@sykehus.example>"))
    assert [c["subject"] for c in d.wait_cases(1)] == ["Etter mengden"]
    log = d.log()
    assert len(log.encode()) < 1_000_000
    assert log.count("refusing connections") == 1, "a refused connection is not a log line each"


def test_an_idle_connection_is_closed_after_its_time(sakspost):
    d = sakspost({"receiver": {"idle_seconds": 1.0}})
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        assert s.recv(200).startswith(b"220")
        started = time.monotonic()
        assert s.recv(200) == b""  # closed by the daemon
        assert 0.8 < time.monotonic() - started < 5
