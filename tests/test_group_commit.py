"""Group commit: concurrent senders share one commit, and each hears 250 only after it; a failed
group answers 451 to every sender in it and leaves no row behind."""

from __future__ import annotations

import asyncio
import smtplib
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import incident_mail
from daemon.receive.smtp import GroupCommit
from daemon.registry.db import open_engine
from daemon.registry.store import Incoming, StorageError, Stored, store_group


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
        committer = GroupCommit(engine=None, store=store)
        first = asyncio.ensure_future(committer.commit(_incoming(0)))
        await asyncio.to_thread(first_started.wait, 5)
        rest = [asyncio.ensure_future(committer.commit(_incoming(n))) for n in (1, 2, 3)]
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


def test_store_group_is_all_or_nothing(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/registry.db")
    stored = store_group(engine, [_incoming(1), _incoming(2), _incoming(1)])
    assert [s.duplicate for s in stored] == [False, False, True]
    assert stored[2].pk == stored[0].pk
    db = sqlite3.connect(tmp_path / "registry.db")
    db.execute("ALTER TABLE rawmessage RENAME TO gone")  # every insert of raw bytes fails
    db.commit()
    with pytest.raises(StorageError):
        store_group(engine, [_incoming(3), _incoming(4), _incoming(5)])
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
