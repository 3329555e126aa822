"""The receiving front (receive/front.py): SMTP in a process of its own beside the daemon. It is
replaced when it dies without a connection refused, it leaves nothing behind for a sender that
went away in the middle of DATA, it ends with the daemon, and where it may not run (the helper
switched off) the daemon receives in its own process."""

from __future__ import annotations

import os
import signal
import smtplib
import socket

from conftest import incident_mail, wait_until
from daemon.pipeline.parsers import usable_cores
from test_parse_helper import _alive, _children


def _front(d) -> int:
    def find():
        for pid in _children(d.proc.pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    if b"daemon.receive.front" in cmdline.read():
                        return pid
            except OSError:
                continue
        return None
    return wait_until(find, 15, what="the receiving front")


def test_a_front_that_dies_is_replaced_and_mail_goes_on_arriving(sakspost):
    assert usable_cores() > 1, "this machine has one core: the front would never run"
    d = sakspost()
    first = _front(d)
    d.send(incident_mail(subject="Feil 1", message_id="<front-1@sykehus.example>"))
    os.kill(first, signal.SIGKILL)
    # at once: the listening socket is the daemon's, so this connection waits for the next front
    d.send(incident_mail(subject="Feil 2", message_id="<front-2@sykehus.example>"))
    second = _front(d)
    assert second != first
    assert sorted(c["subject"] for c in d.wait_cases(2)) == ["Feil 1", "Feil 2"]
    assert "the receiving front ended" in d.log()


def test_a_sender_gone_in_the_middle_of_data_leaves_nothing_stored(sakspost):
    d = sakspost()
    raw = incident_mail(subject="Halvferdig", message_id="<half@sykehus.example>")
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        reader = s.makefile("rb")
        reader.readline()
        for command in (b"EHLO test.example", b"MAIL FROM:<kari@sykehus.example>",
                        b"RCPT TO:<brukerstotte@sykehus.example>", b"DATA"):
            s.sendall(command + b"\r\n")
            while True:
                line = reader.readline()
                if line[3:4] != b"-":
                    break
        s.sendall(raw[: len(raw) // 2])  # and the sender is gone
    d.send(incident_mail(subject="Hel", message_id="<whole@sykehus.example>"))
    assert [c["subject"] for c in d.wait_cases(1)] == ["Hel"]
    assert d.stats()["messages"]["total"] == 1  # inbound: the whole one only


def test_the_front_of_a_killed_daemon_does_not_outlive_it(sakspost):
    assert usable_cores() > 1, "this machine has one core: the front would never run"
    d = sakspost()
    front = _front(d)
    port = d.port
    d.kill()
    wait_until(lambda: not _alive(front), 10, what="the orphaned front to end")
    with socket.socket() as s:  # and the port is free for the next daemon
        s.bind(("127.0.0.1", port))


def test_without_the_helper_the_daemon_receives_in_its_own_process(sakspost):
    d = sakspost({"pipeline": {"parse_helper": False}})
    d.send(incident_mail(subject="I samme prosess", message_id="<inproc@sykehus.example>"))
    assert [c["subject"] for c in d.wait_cases(1)] == ["I samme prosess"]
    assert _children(d.proc.pid) == []
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as client:
        assert client.noop()[0] == 250


def test_what_the_front_computes_identifies_a_message_as_the_daemon_would(sakspost):
    """The front hands over each message's fingerprint and Message-ID: a second delivery of the
    same message (another Received line) through the front, and a third through `ingest` (where
    the daemon computes them itself), are the same stored message."""
    import sqlite3

    assert usable_cores() > 1, "this machine has one core: the front would never run"
    d = sakspost()
    _front(d)
    raw = incident_mail(subject="Levert tre ganger", message_id="<thrice@sykehus.example>")
    d.send(raw)
    d.send(b"Received: from mx2.sykehus.example by relay.example; Mon, 1 Dec 2026 08:00:00 +0100\r\n" + raw)
    [case] = d.wait_cases(1)
    (d.workdir / "again.eml").write_bytes(b"Received: from mx3.example by relay.example\r\n" + raw)
    d.cli("ingest", "-q", str(d.workdir / "again.eml"))
    with sqlite3.connect(f"file:{d.db_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT message_id FROM message WHERE direction = 'in'").fetchall()
    assert rows == [("thrice@sykehus.example",)]
    assert len(d.cases()) == 1 and case["subject"] == "Levert tre ganger"
