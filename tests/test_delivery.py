"""Outbound delivery exactly once as far as the relay allows (issue 15): a slow relay is waited
for as RFC 5321 says, each delivery is recorded as soon as the relay has answered, a killed
daemon's claims are taken back when it starts again, and a mail SMTP cannot carry fails at once."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

from conftest import Relay, incident_mail, relay_config, wait_until
from daemon import config as config_mod
from daemon.outbound.sender import send_due
from daemon.pipeline.process import run_until_empty
from daemon.registry.store import Incoming
from daemon.runtime import Runtime


class SlowRelay(Relay):
    """A relay that takes DELAY seconds to answer the final `.`; a mail counts as delivered
    only when its `250` has been given (a sender gone before that leaves nothing here)."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay
        self.answering = threading.Event()  # set while an answer is being waited for
        self.attempts = 0

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        self.answering.set()
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.answering.clear()
        return await super().handle_DATA(server, session, envelope)


def _deliveries(relay: Relay) -> list[str]:
    return [m["msg"]["Message-ID"] for m in relay.messages]


def test_a_relay_that_answers_the_end_of_the_data_after_40_seconds_gets_the_mail_once(sakspost):
    relay = SlowRelay(40.0).start()
    try:
        # short backoffs: a sender that gave up on the answer would have tried again meanwhile
        d = sakspost(relay_config(relay))
        d.send(incident_mail(subject="Treg relay", message_id="<slow-relay@sykehus.example>"))
        wait_until(lambda: relay.messages, 60, what="the acknowledgement at the relay")
        time.sleep(2)
        assert relay.attempts == 1 and len(relay.messages) == 1
        db = sqlite3.connect(d.db_path)
        assert db.execute("select status, attempts from outboxmail").fetchall() == [("sent", 1)]
    finally:
        relay.stop()


def test_a_daemon_killed_mid_batch_under_a_slow_relay_sends_nothing_twice_and_catches_up_at_once(sakspost):
    relay = SlowRelay(0.3).start()
    try:
        d = sakspost(relay_config(relay))
        for n in range(20):
            d.send(incident_mail(subject=f"Feil {n}", message_id=f"<kill-{n}@sykehus.example>",
                                 sender=f"reporter{n}@sykehus.example"))
        d.wait_cases(20)
        # killed while the relay is answering a mail, with several delivered before it
        wait_until(lambda: len(relay.messages) >= 5 and relay.answering.is_set(), 30,
                   what="a batch under way")
        d.kill()
        restarted = time.monotonic()
        d.start()
        wait_until(lambda: len(relay.messages) >= 20, 60, what="every acknowledgement")
        assert time.monotonic() - restarted < 60
        time.sleep(1)
        delivered = _deliveries(relay)
        assert len(delivered) == len(set(delivered)) == 20, "a mail was delivered twice"
        db = sqlite3.connect(d.db_path)
        assert db.execute("select status, count(*) from outboxmail group by status").fetchall() == [("sent", 20)]
    finally:
        relay.stop()


def test_an_address_smtp_cannot_carry_fails_at_once_with_one_log_line(tmp_path, relay, caplog):
    cfg = config_mod.parse({"database": {"url": f"sqlite:///{tmp_path}/sakspost.db"},
                            "paths": {"var_dir": str(tmp_path / "var")}, **relay_config(relay)})
    rt = Runtime.open(cfg)
    try:
        rt.writer.store_now([Incoming(incident_mail(message_id="<utf8@sykehus.example>"), "test")])
        run_until_empty(rt)
        db = sqlite3.connect(tmp_path / "sakspost.db")
        with db:  # an address with a non-ASCII local part, to a relay without SMTPUTF8
            db.execute("update outboxmail set recipients = 'kåre@sykehus.example'")
        with caplog.at_level("INFO", logger="sakspost"):
            assert list(send_due(rt).values()) == ["failed"]
        status, attempts, error = db.execute("select status, attempts, last_error from outboxmail").fetchone()
        assert (status, attempts) == ("failed", 1) and "cannot be sent" in error
        assert relay.messages == []
        assert [r.levelname for r in caplog.records if r.name == "sakspost.sender"] == ["ERROR"]
        assert not any(r.exc_info for r in caplog.records)
    finally:
        rt.close()
