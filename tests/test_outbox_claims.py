"""The outbox sender's claims: a queued mail is claimed by one sender at a time, a claim whose
sender died is taken again after ten minutes, and a mail not yet due waits."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from conftest import incident_mail
from daemon import config as config_mod
from daemon.outbound.sender import claim_due
from daemon.pipeline.process import run_until_empty
from daemon.registry.models import utcnow
from daemon.registry.store import Incoming, store_group
from daemon.runtime import Runtime


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def test_a_queued_mail_is_claimed_once_and_again_when_its_claim_is_stale(tmp_path):
    cfg = config_mod.parse({"database": {"url": f"sqlite:///{tmp_path}/sakspost.db"},
                            "paths": {"var_dir": str(tmp_path / "var")}})
    rt = Runtime.open(cfg)
    try:
        store_group(rt.engine, [Incoming(incident_mail(subject=f"Feil {i}", message_id=f"<ob-{i}@sykehus.example>"),
                                         "test") for i in range(2)])
        run_until_empty(rt)
        db = sqlite3.connect(tmp_path / "sakspost.db")
        queued = [pk for (pk,) in db.execute("select id from outboxmail where status = 'pending' order by id")]
        assert len(queued) == 2
        with db:  # the second is not due for an hour (a retry's backoff)
            db.execute("update outboxmail set next_attempt_at = ? where id = ?",
                       (_stamp(utcnow() + timedelta(hours=1)), queued[1]))
        assert claim_due(rt) == [queued[0]]
        assert claim_due(rt) == []  # claimed: no other sender takes it
        with db:  # its sender died eleven minutes ago
            db.execute("update outboxmail set claimed_at = ? where id = ?",
                       (_stamp(utcnow() - timedelta(minutes=11)), queued[0]))
        assert claim_due(rt, limit=5) == [queued[0]]
    finally:
        rt.close()
