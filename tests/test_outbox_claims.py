"""The outbox sender's claims: a queued mail is claimed by one instance at a time, a claim whose
instance is dead (no heartbeat, or no process) is taken at once, a live one's never, and a mail
not yet due waits."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from conftest import incident_mail
from daemon import config as config_mod
from daemon.outbound.sender import claim_due
from daemon.pipeline.process import run_until_empty
from daemon.registry.models import utcnow
from daemon.registry.store import Incoming, store_group
from daemon.runtime import Runtime


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


@pytest.fixture
def queued(tmp_path):
    """queued(N): a registry with N new reports applied, so N acknowledgements queued; the
    runtime, the database, and the (outbox id, message pk) of each queued mail, in order."""
    runtimes = []

    def make(n: int):
        cfg = config_mod.parse({"database": {"url": f"sqlite:///{tmp_path}/sakspost.db"},
                                "paths": {"var_dir": str(tmp_path / "var")}})
        rt = Runtime.open(cfg)
        runtimes.append(rt)
        store_group(rt.engine, [Incoming(incident_mail(subject=f"Feil {i}", message_id=f"<ob-{i}@sykehus.example>"),
                                         "test") for i in range(n)])
        run_until_empty(rt)
        db = sqlite3.connect(tmp_path / "sakspost.db")
        rows = [tuple(row) for row in db.execute("select id, message_pk from outboxmail order by id")]
        assert len(rows) == n
        return rt, db, rows

    yield make
    for rt in runtimes:
        rt.close()


def test_a_queued_mail_is_claimed_once_and_again_only_when_its_instance_is_dead(queued):
    rt, db, rows = queued(2)
    (first, _), (second, _) = rows
    with db:  # the second is not due for an hour (a retry's backoff)
        db.execute("update outboxmail set next_attempt_at = ? where id = ?",
                   (_stamp(utcnow() + timedelta(hours=1)), second))
    assert claim_due(rt) == [first]
    assert claim_due(rt) == []  # claimed: no other sender takes it
    other = Runtime(config=rt.config, engine=rt.engine, tokens=rt.tokens, renderer=rt.renderer,
                    instance="elsewhere.example:4242:abcdef")
    with db:  # our heartbeat (the daemon's presence runner beats every ten seconds)
        db.execute("insert into instance (id, host, pid, started_at, seen_at) values (?, ?, ?, ?, ?)",
                   (rt.instance, "here", 1, _stamp(utcnow()), _stamp(utcnow() - timedelta(seconds=5))))
    assert claim_due(other) == []  # nor another instance while we are alive
    with db:  # our last heartbeat was a minute ago: we are dead
        db.execute("update instance set seen_at = ? where id = ?", (_stamp(utcnow() - timedelta(minutes=1)),
                                                                   rt.instance))
    assert claim_due(other, limit=5) == [first]
    assert db.execute("select claimed_by from outboxmail where id = ?", (first,)).fetchone() == (other.instance,)


def test_a_delivery_that_raises_leaves_the_rest_of_its_batch_neither_lost_nor_sent_twice(queued, tmp_path):
    """A mail whose stored bytes are gone is retried later, like a relay's 4xx: the mails
    delivered before it are recorded as sent at once, the ones after it go on, and nothing is
    left claimed."""
    from daemon.outbound.sender import send_due

    rt, db, rows = queued(3)
    with db:
        db.execute("delete from rawmessage where message_pk = ?", (rows[1][1],))
    assert send_due(rt) == {rows[0][0]: "sent", rows[1][0]: "pending", rows[2][0]: "sent"}

    def state():
        return [tuple(row) for row in db.execute("select status, claimed_at is not null from outboxmail order by id")]

    assert state() == [("sent", 0), ("pending", 0), ("sent", 0)]
    assert "IndexError" in db.execute("select last_error from outboxmail where id = ?", (rows[1][0],)).fetchone()[0]
    assert send_due(rt) == {}  # not due again before its backoff
    assert len(list((tmp_path / "var" / "sent" / "new").iterdir())) == 2
