"""Group commit: concurrent senders share one commit, and each hears 250 only after it; a failed
group answers 451 to every sender in it and leaves no row behind."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import incident_mail
from daemon.registry.db import open_engine
from daemon.registry.store import Incoming, StorageError, Stored, store_group
from daemon.registry.writer import Writer


def _stored(writer: Writer, item: Incoming):
    """ITEM stored by WRITER, awaited as the receiver awaits it."""
    return asyncio.wrap_future(writer.store(item))


def _incoming(n: int) -> Incoming:
    return Incoming(incident_mail(message_id=f"<group-{n}@sykehus.example>"), source="smtp")


def _first_commit_blocked(rest_store):
    """Commit one message while the store is held, queue three more meanwhile, then let it go.
    REST_STORE(items) stores what comes after the first. Returns (group sizes, the first's
    Stored, what the three got, whether any of the three was answered before its commit)."""
    first_started, release = threading.Event(), threading.Event()
    groups: list[int] = []

    def store(engine, items):
        groups.append(len(items))
        if len(groups) == 1:
            first_started.set()
            release.wait(5)
            return [Stored(100, False, ("support",))]
        return rest_store(items)

    async def scenario():
        writer = Writer(engine=None, store=store)
        first = asyncio.ensure_future(_stored(writer, _incoming(0)))
        await asyncio.to_thread(first_started.wait, 5)
        rest = [asyncio.ensure_future(_stored(writer, _incoming(n))) for n in (1, 2, 3)]
        await asyncio.sleep(0.05)
        early = any(f.done() for f in rest)
        release.set()
        return await first, await asyncio.gather(*rest, return_exceptions=True), early

    first, rest, early = asyncio.run(scenario())
    return groups, first, rest, early


def test_messages_arriving_during_a_commit_are_committed_together_and_answered_after_it():
    groups, first, rest, early = _first_commit_blocked(
        lambda items: [Stored(200 + i, False, ("support",)) for i in range(len(items))])
    assert groups == [1, 3]
    assert not early  # nobody hears 250 before the commit covering its message
    assert first.pk == 100 and [s.pk for s in rest] == [200, 201, 202]


def test_a_failed_group_fails_every_message_in_it():
    def fail(items):
        raise StorageError("disk full")

    groups, first, rest, _ = _first_commit_blocked(fail)
    assert groups == [1, 3]
    assert first.pk == 100
    assert all(isinstance(r, StorageError) for r in rest)


def test_a_group_that_cannot_be_stored_fails_each_message_and_stores_none(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/registry.db")
    stored = store_group(engine, [_incoming(1), _incoming(2), _incoming(1)])
    assert [s.duplicate for s in stored] == [False, False, True]
    assert stored[2].pk == stored[0].pk
    db = sqlite3.connect(tmp_path / "registry.db")
    db.execute("ALTER TABLE rawmessage RENAME TO gone")  # every insert of raw bytes fails
    db.commit()
    assert [type(r) for r in store_group(engine, [_incoming(3), _incoming(4), _incoming(5)])] == [StorageError] * 3
    with pytest.raises(StorageError):  # alone, it is raised
        store_group(engine, [_incoming(6)])
    assert db.execute("SELECT count(*) FROM message").fetchone() == (2,)
    engine.dispose()


def test_a_refused_message_does_not_take_its_group_with_it(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/registry.db")
    db = sqlite3.connect(tmp_path / "registry.db")
    db.execute("CREATE TRIGGER fail_raw BEFORE INSERT ON rawmessage "
               "WHEN instr(NEW.data, CAST('group-5' AS BLOB)) > 0 BEGIN SELECT RAISE(ABORT, 'refused'); END")
    db.commit()
    results = store_group(engine, [_incoming(3), _incoming(4), _incoming(5)])
    assert [type(r).__name__ for r in results] == ["Stored", "Stored", "StorageError"]
    assert db.execute("SELECT count(*) FROM message").fetchone() == (2,)
    engine.dispose()


def test_concurrent_senders_during_a_storage_failure_all_hear_451(sakspost):
    d = sakspost()
    db = sqlite3.connect(d.db_path)
    db.execute("CREATE TRIGGER fail_raw BEFORE INSERT ON rawmessage BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    db.commit()

    def send(n):
        try:
            d.send(incident_mail(message_id=f"<burst-{n}@sykehus.example>"))
            return 250
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(send, range(16))) == [451] * 16
    assert db.execute("SELECT count(*) FROM message").fetchone() == (0,)
    db.execute("DROP TRIGGER fail_raw")
    db.commit()
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(send, range(16))) == [250] * 16
    assert db.execute("SELECT count(*) FROM message WHERE direction = 'in'").fetchone() == (16,)


def _recording_writer(log: list[str]) -> Writer:
    """A writer whose stores only say so in LOG, served by a pipeline that is never woken."""
    def store(engine, items):
        log.append(f"store {len([e for e in log if e.startswith('store')]) + 1}")
        return [Stored(n + 1, False, ("support",)) for n in range(len(items))]

    writer = Writer(engine=None, store=store)
    writer.serve_from(threading.Event())
    return writer


def test_background_writers_take_turns_and_none_starts_while_a_message_waits():
    log: list[str] = []
    writers = _recording_writer(log)
    a_inside, b_trying = threading.Event(), threading.Event()

    def a():
        with writers.turn():
            log.append("a begins")
            a_inside.set()
            b_trying.wait(5)
            time.sleep(0.05)  # b is waiting meanwhile
            log.append("a ends")

    def b():
        a_inside.wait(5)
        b_trying.set()
        with writers.turn():
            log.append("b begins")

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert log == ["a begins", "a ends", "b begins"]

    writers.store(_incoming(1))  # a message is waiting to be stored
    started = threading.Event()

    def c():
        with writers.turn():
            started.set()

    c = threading.Thread(target=c)
    c.start()
    assert not started.wait(0.2), "a background transaction began while a message waited"
    writers.store_waiting()
    assert started.wait(5)
    c.join(5)


def test_under_a_burst_the_receiver_and_a_background_writer_take_turns():
    """Four senders keep a message waiting nearly all the time; strict priority for the receiver
    starved the pipeline. Once a store has run, a background transaction may begin though a
    message waits; then the receiver's turn comes before the next one."""
    log: list[str] = []
    writers = _recording_writer(log)
    writers.store(_incoming(1))
    writers.store_waiting()
    writers.store(_incoming(2))  # the next message waits already

    def background(name: str, began: threading.Event):
        with writers.turn():
            log.append(name)
            began.set()

    first = threading.Event()
    threading.Thread(target=background, args=("pipeline 1", first)).start()
    assert first.wait(5), "no turn for the pipeline while a message waits"
    second = threading.Event()
    waiting = threading.Thread(target=background, args=("pipeline 2", second))
    waiting.start()
    assert not second.wait(0.2), "a second background transaction went before the waiting message"
    writers.store_waiting()
    assert second.wait(5)
    waiting.join(5)
    assert log == ["store 1", "pipeline 1", "store 2", "pipeline 2"]


def test_the_receiver_stores_as_soon_as_the_pipelines_transaction_ends(tmp_path):
    """The pipeline holds SQLite's write lock; a message arrives. The pipeline sees it waiting,
    commits, and the message is stored right after, never inside SQLite's busy handler."""
    engine = open_engine(f"sqlite:///{tmp_path}/r.db")
    log: list[str] = []
    holding = threading.Event()

    def store(engine_, items):
        log.append("receiver stores")
        return store_group(engine_, items)

    writers = Writer(engine, store=store)

    def pipeline():
        with writers.turn(), engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE work (n INTEGER)")
            holding.set()
            while not writers.waiting():
                time.sleep(0.001)
            log.append("pipeline commits")
        log.append("pipeline ended")

    async def receive():
        await asyncio.to_thread(holding.wait, 5)
        return await _stored(writers, _incoming(1))

    worker = threading.Thread(target=pipeline)
    worker.start()
    stored = asyncio.run(receive())
    worker.join(5)
    assert log == ["pipeline commits", "pipeline ended", "receiver stores"]
    assert not stored.duplicate and stored.pk


def test_a_writer_that_serves_stores_the_waiting_messages_together(tmp_path):
    """In the daemon the pipeline's thread stores what the receiver hands over, between its
    messages: nothing is stored until it serves, then the senders waiting meanwhile share one
    commit, and each hears its own row."""
    engine = open_engine(f"sqlite:///{tmp_path}/r.db")
    groups: list[int] = []

    def store(engine_, items):
        groups.append(len(items))
        return store_group(engine_, items)

    wake = threading.Event()
    committer = Writer(engine, store=store)
    committer.stored = threading.Event()
    committer.serve_from(wake)

    def writer():
        assert wake.wait(5)
        time.sleep(0.1)  # busy with a message of its own while three more arrive
        committer.store_waiting()

    async def senders():
        return await asyncio.gather(*(_stored(committer, _incoming(n)) for n in range(3)))

    thread = threading.Thread(target=writer)
    thread.start()
    stored = asyncio.run(senders())
    thread.join(5)
    assert groups == [3]
    assert len({s.pk for s in stored}) == 3 and not any(s.duplicate for s in stored)
    assert committer.stored.is_set()  # the pipeline is woken for them
    engine.dispose()


def test_a_writer_that_serves_goes_back_to_its_own_work_after_a_few_groups(tmp_path):
    """Under a burst from many senders something arrives during every commit: the writer stores
    at most so many groups at a call, and what is left waits for its next call."""
    engine = open_engine(f"sqlite:///{tmp_path}/r.db")
    groups: list[int] = []

    def store(engine_, items):
        groups.append(len(items))
        if len(groups) < 5:  # a new message arrives during each commit
            hand_over(_incoming(100 + len(groups)))
        return store_group(engine_, items)

    answers: list = []

    def hand_over(item):
        committer.store(item).add_done_callback(lambda future: answers.append(future.result()))

    committer = Writer(engine, store=store)
    committer.serve_from(threading.Event())
    hand_over(_incoming(0))
    committer.store_waiting(groups=2)
    assert groups == [1, 1] and len(answers) == 2 and committer.backlog() == 1
    committer.store_waiting(groups=2)
    assert groups == [1, 1, 1, 1] and len(answers) == 4
    committer.store_waiting()  # unbounded: until nothing waits
    assert groups == [1] * 5 and len(answers) == 5 and not committer.backlog()
    assert len({a.pk for a in answers}) == 5
    engine.dispose()


def test_a_message_the_writer_does_not_take_is_stored_by_the_receiver_itself(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/r.db")
    committer = Writer(engine)
    committer.serve_from(threading.Event())  # a pipeline that never serves (stuck in a long step)
    committer.serve_seconds = 0.2

    async def sender():
        started = time.monotonic()
        stored = await asyncio.wait_for(_stored(committer, _incoming(1)), 5)
        return stored, time.monotonic() - started

    stored, waited = asyncio.run(sender())
    assert stored.pk and 0.2 <= waited < 2
    db = sqlite3.connect(tmp_path / "r.db")
    assert db.execute("SELECT count(*) FROM rawmessage").fetchone() == (1,)
    engine.dispose()


def _bad_envelope_mail(port: int) -> bytes:
    """An SMTPUTF8 sender whose MAIL FROM holds bytes that are no UTF-8; the reply to its DATA."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        stream = s.makefile("rb")
        stream.readline()
        s.sendall(b"EHLO bad.example\r\n")
        while not stream.readline().startswith(b"250 "):
            pass
        s.sendall(b"MAIL FROM:<k\xffre@bad.example> SMTPUTF8\r\n")
        stream.readline()
        s.sendall(b"RCPT TO:<brukerstotte@sykehus.example>\r\n")
        stream.readline()
        s.sendall(b"DATA\r\n")
        stream.readline()
        s.sendall(incident_mail(subject="Ugyldig konvolutt", message_id="<bad-envelope@bad.example>",
                                sender="kare@bad.example") + b"\r\n.\r\n")
        return stream.readline()


def test_a_bad_smtputf8_envelope_beside_20_good_senders_fails_none_of_them(sakspost):
    # 21 connections at once from 127.0.0.1: above the default per-peer cap (20) whenever they overlap
    d = sakspost({"receiver": {"max_connections_per_peer": 50}})

    def send(n):
        if n == 0:
            return _bad_envelope_mail(d.port)[:3]
        d.send(incident_mail(subject=f"God {n}", message_id=f"<good-{n}@sykehus.example>",
                             sender=f"reporter{n}@sykehus.example"))
        return b"250"

    with ThreadPoolExecutor(21) as pool:
        answers = list(pool.map(send, range(21)))
    assert answers[1:] == [b"250"] * 20
    assert answers[0] == b"250"  # stored too, its envelope's bad bytes as U+FFFD
    db = sqlite3.connect(d.db_path)
    assert db.execute("SELECT count(*) FROM message WHERE direction = 'in'").fetchone() == (21,)
    assert db.execute("SELECT mail_from FROM message WHERE mail_from LIKE '%re@bad.example'"
                      ).fetchall() == [("k\ufffdre@bad.example",)]
