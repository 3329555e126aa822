"""Fair receiving (issue 24, part 4): one address holds at most `[receiver]
max_connections_per_peer` connections, so a crowd from one peer neither takes every place nor
keeps another peer from its `250`; `/healthz` says the receiver is degraded while it refuses
connections for lack of room, and `/metrics` shows the connections open and refused.

Every connection is a real one to the daemon, its source address bound to 127.0.0.2, .3, ...
(loopback, as 127.0.0.1)."""

from __future__ import annotations

import json
import smtplib
import socket
import time

import pytest

from conftest import free_port, incident_mail, wait_until
from test_connections import open_files  # noqa: F401  (room in this process for the crowd)
from test_watch import get, samples

CROWD = 300


def connect(port: int, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def greeting(s: socket.socket) -> bytes:
    """The first line a connection hears (b"" if it was closed before anything was said)."""
    line = b""
    while not line.endswith(b"\n"):
        piece = s.recv(200)
        if not piece:
            break
        line += piece
    return line


def closed(s: socket.socket) -> bool:
    try:
        return s.recv(200) == b""
    except ConnectionResetError:
        return True


def settled(predicate, what: str) -> None:
    """PREDICATE true in two readings a second apart (a front tells the daemon what changed every
    0.25 s, and a connection made while it was starting waits in the kernel's queue until then)."""
    wait_until(lambda: predicate() and (time.sleep(1.0) or predicate()), 15, interval=0.1, what=what)


def send_from(port: int, source: str, subject: str) -> None:
    """A message sent from SOURCE; smtplib raises unless each answer, the last a 250, is a success."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0)) as client:
        refused = client.sendmail("kari@sykehus.example", ["brukerstotte@sykehus.example"],
                                  incident_mail(subject=subject))
    assert refused == {}


@pytest.mark.parametrize("parse_helper", [True, False], ids=["front", "in-process"])
def test_300_idle_connections_from_one_address_do_not_keep_another_from_its_250(sakspost, open_files, parse_helper):
    d = sakspost({"pipeline": {"parse_helper": parse_helper}})  # the defaults: 200 at once, 20 a peer
    crowd = []
    try:
        for _ in range(CROWD):
            crowd.append(connect(d.port, "127.0.0.2"))
        heard = [greeting(s) for s in crowd]  # each has been taken or refused: the crowd is in place
        send_from(d.port, "127.0.0.3", "Mens mengden venter")  # while the crowd's 20 are still open
        assert [c["subject"] for c in d.wait_cases(1)] == ["Mens mengden venter"]
        assert sum(line.startswith(b"220") for line in heard) == 20
        refused = [line for line in heard if not line.startswith(b"220")]
        assert len(refused) == CROWD - 20 and all(line.startswith(b"421 4.7.0") for line in refused)
    finally:
        for s in crowd:
            s.close()
    assert d.log().count("refusing connections from 127.0.0.2") == 1, "a refused connection is not a log line each"


def test_the_21st_connection_from_one_address_is_told_421_while_another_address_is_served(sakspost):
    port = free_port()
    d = sakspost({"metrics": {"listen": f"127.0.0.1:{port}"}})
    held = [connect(d.port, "127.0.0.2") for _ in range(20)]
    try:
        assert all(greeting(s).startswith(b"220") for s in held)
        with connect(d.port, "127.0.0.2") as one_more:
            assert greeting(one_more).startswith(b"421 4.7.0")
            assert closed(one_more)
        with connect(d.port, "127.0.0.3") as other:
            assert greeting(other).startswith(b"220")

            def scraped():
                found = samples(get(f"http://127.0.0.1:{port}/metrics")[1])
                return found if found.get("sakspost_receiver_connections_open") == 21 else None
            found = wait_until(scraped, 10, interval=0.1, what="the 21 connections open, in /metrics")
            assert found['sakspost_receiver_connections_refused_total{reason="per_peer"}'] == 1
            assert found['sakspost_receiver_connections_refused_total{reason="full"}'] == 0
            assert found["sakspost_receiver_connections_max"] == 200
        # one peer's limit is not a lack of room: the others are served, the receiver is healthy
        status, health = get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(health)["receiver"] == "ok"

        held.pop().close()  # a place of its own again for 127.0.0.2
        def served_again():
            with connect(d.port, "127.0.0.2") as s:
                return greeting(s).startswith(b"220")
        wait_until(served_again, 10, interval=0.1, what="127.0.0.2 served once one of its 20 is closed")
    finally:
        for s in held:
            s.close()
    wait_until(lambda: samples(get(f"http://127.0.0.1:{port}/metrics")[1])
               .get("sakspost_receiver_connections_open") == 0, 10, interval=0.1, what="no connection open")


@pytest.mark.parametrize("parse_helper", [True, False], ids=["front", "in-process"])
def test_health_says_degraded_while_refusing_for_lack_of_room_and_ok_after(sakspost, parse_helper):
    from daemon.watch import REFUSED_SECONDS

    port = free_port()
    d = sakspost({"receiver": {"max_connections": 30, "max_connections_per_peer": 10},
                  "pipeline": {"parse_helper": parse_helper}, "metrics": {"listen": f"127.0.0.1:{port}"}})

    def health() -> tuple[int, dict]:
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        return status, json.loads(body)

    def metric(name: str):
        return samples(get(f"http://127.0.0.1:{port}/metrics")[1]).get(name)

    assert health() == (200, {"status": "ok", "database": "ok", "receiver": "ok"})
    settled(lambda: metric("sakspost_receiver_connections_open") == 0,
            "the start's and the health check's own connections closed")
    held = [connect(d.port, f"127.0.0.{n}") for n in (2, 3, 4) for _ in range(10)]  # every place taken
    try:
        heard = [greeting(s) for s in held]
        assert [line[:3] for line in heard] == [b"220"] * 30, heard[-3:]
        wait_until(lambda: metric("sakspost_receiver_connections_open") == 30, 10, interval=0.1,
                   what="30 connections open, in /metrics")
        assert health() == (200, {"status": "degraded", "database": "ok", "receiver": "degraded"})
        with connect(d.port, "127.0.0.5") as newcomer:
            assert greeting(newcomer).startswith(b"421 4.3.2")
    finally:
        for s in held:
            s.close()
    wait_until(lambda: metric("sakspost_receiver_connections_open") == 0, 10, interval=0.1,
               what="the connections closed, in /metrics")
    assert metric('sakspost_receiver_connections_refused_total{reason="full"}') >= 1
    # room again, but it refused a moment ago: a scrape that comes now still hears of it
    assert health()[1]["receiver"] == "degraded"
    wait_until(lambda: health() == (200, {"status": "ok", "database": "ok", "receiver": "ok"}),
               REFUSED_SECONDS + 15, interval=1, what="the receiver healthy again")
    send_from(d.port, "127.0.0.5", "Etter mengden")


def test_a_peer_cap_that_lets_one_address_take_every_place_is_refused(tmp_path):
    from daemon import config
    from daemon.config import ConfigError

    path = tmp_path / "sakspost.toml"
    path.write_text("[receiver]\nmax_connections = 20\n", encoding="utf-8")  # the default 20 a peer: all of it
    with pytest.raises(ConfigError, match="max_connections_per_peer.*below max_connections"):
        config.load(path)
    path.write_text("[receiver]\nmax_connections = 20\nmax_connections_per_peer = 5\n", encoding="utf-8")
    assert config.load(path).receiver.max_connections_per_peer == 5
