"""The parse helper: a batch parsed in a helper process gives the registry exactly what parsing in
the pipeline's own process gives, and a helper that dies loses nothing."""

from __future__ import annotations

import os
import signal
import sqlite3

from conftest import Sakspost, generated_corpus, incident_mail, real_files, wait_until
from daemon import config as config_mod
from daemon.pipeline.parsers import HELPER_MAX_BYTES, usable_cores
from daemon.pipeline.process import run_until_empty
from daemon.registry.store import Incoming, store_group
from daemon.runtime import Runtime

MESSAGE_COLUMNS = ("fingerprint", "status", "error", "classification", "subject", "from_addr", "message_id",
                   "in_reply_to", '"references"', "headers", "text", "case_id")
CASE_COLUMNS = ("id", "kind", "state", "severity", "reporter", "reporter_name", "subject", "actor",
                "description", "service", "discovered", "contact")


def _corpus(tmp_path) -> list[str]:
    """A generated burst, a few real-world oddities, and one message too large for the helper."""
    files = [str(p) for p in generated_corpus(tmp_path / "corpus", 120, seed=11)]
    files += [str(p) for p in real_files("*.eml")[:40]]  # where the real-world corpus is beside the checkout
    big = tmp_path / "big.eml"
    big.write_bytes(incident_mail(subject="Logg fra gatewayen", attachments=[
        ("gateway.log", "text/plain", b"2026-11-25 08:15 XCA timeout\n" * (HELPER_MAX_BYTES // 25))]))
    assert big.stat().st_size > HELPER_MAX_BYTES
    return files + [str(big)]


def _registry(db_path) -> tuple[list, list, list]:
    db = sqlite3.connect(db_path)
    messages = db.execute(f"select {', '.join(MESSAGE_COLUMNS)} from message where direction = 'in' order by id").fetchall()
    cases = db.execute(f"select {', '.join(CASE_COLUMNS)} from \"case\" order by id").fetchall()
    attachments = db.execute("select m.fingerprint, a.filename, a.content_type, a.size, a.data from attachment a "
                             "join message m on m.id = a.message_pk order by a.message_pk, a.id").fetchall()
    return messages, cases, attachments


def test_a_burst_parsed_in_the_helper_is_registered_exactly_as_without_it(tmp_path):
    assert usable_cores() > 1, "this machine has one core: the helper would never run"
    files = _corpus(tmp_path)
    results, logs = {}, {}
    for helper in (False, True):
        workdir = tmp_path / f"helper-{helper}"
        workdir.mkdir()
        d = Sakspost(workdir, {"pipeline": {"parse_helper": helper}})
        out = d.cli("--log-level", "debug", "ingest", "-q", *files, check=False)
        assert out.returncode == 0, out.stderr.decode(errors="replace")[-3000:]
        logs[helper] = out.stderr.decode(errors="replace")
        results[helper] = _registry(d.db_path)
    assert "parse helper started" in logs[True]
    assert "parse helper started" not in logs[False]
    without, with_helper = results[False], results[True]
    assert len(without[0]) == len(files) and len(without[1]) > 50 and without[2]
    assert with_helper[0] == without[0]  # every message: status, classification, headers, text, case
    assert with_helper[1] == without[1]  # every case, numbered in the same order
    assert with_helper[2] == without[2]  # every attachment, byte for byte


def test_a_helper_that_dies_loses_nothing_and_is_replaced(tmp_path, caplog):
    assert usable_cores() > 1, "this machine has one core: the helper would never run"
    cfg = config_mod.parse({"database": {"url": f"sqlite:///{tmp_path}/sakspost.db"},
                            "paths": {"var_dir": str(tmp_path / "var")}})
    rt = Runtime.open(cfg)
    try:
        mails = [incident_mail(subject=f"Feil i XCA-oppslag {i}", message_id=f"<helper-{i}@sykehus.example>",
                               sender=f"lege{i % 8}@sykehus.example") for i in range(80)]
        stored = store_group(rt.engine, [Incoming(raw, "test") for raw in mails])
        assert all(not s.duplicate for s in stored)
        rt.parsers.RESTART_SECONDS = 0  # the next batch starts a new helper
        rt.parsers.start()
        first = rt.parsers.helper_pid()
        assert first is not None
        wait_until(lambda: _alive(first), 10, what="the helper to start")
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: not _alive(first), 10, what="the helper to die")
        outcomes = run_until_empty(rt)
        assert sorted(outcomes) == sorted(s.pk for s in stored)
        assert set(outcomes.values()) == {"new_report"}
        assert "the parse helper failed" in caplog.text
        second = rt.parsers.helper_pid()
        assert second is not None and second != first
    finally:
        rt.close()
    db = sqlite3.connect(tmp_path / "sakspost.db")
    assert db.execute("select count(*) from \"case\"").fetchone()[0] == 80
    assert db.execute("select count(*) from message where direction = 'in' and status = 'processed'").fetchone()[0] == 80


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_helper_of_a_killed_daemon_does_not_outlive_it(sakspost):
    assert usable_cores() > 1, "this machine has one core: the helper would never run"
    d = sakspost()
    helpers = wait_until(lambda: _children(d.proc.pid), 15, what="the daemon's parse helper")
    d.kill()
    wait_until(lambda: not any(_alive(pid) for pid in helpers), 10, what="the orphaned helper to end")


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def test_a_large_mbox_archive_is_parsed_with_the_helper_too(tmp_path):
    assert usable_cores() > 1, "this machine has one core: the helper would never run"
    mbox = tmp_path / "archive.mbox"
    parts = [incident_mail(subject=f"Feil {i}", message_id=f"<mbox-{i}@sykehus.example>").replace(b"\r\n", b"\n")
             for i in range(20)]
    mbox.write_bytes(b"".join(b"From kari@sykehus.example Mon Nov 23 10:00:00 2026\n" + p + b"\n" for p in parts))
    d = Sakspost(tmp_path, {})
    out = d.cli("--log-level", "debug", "ingest", "-q", str(mbox))
    assert "parse helper started" in out.stderr.decode(errors="replace")
    assert sorted(c["subject"] for c in d.cases()) == sorted(f"Feil {i}" for i in range(20))


def test_the_fronts_parses_are_kept_within_a_budget_oldest_dropped_first():
    """Parses handed over by the receiving front wait for the pipeline within a bound in bytes
    (and in number): where another daemon claims the message, its parse is not kept for ever."""
    from daemon.parse import ParsedMail
    from daemon.pipeline.parsers import Ahead, Parsers

    parsers = Parsers(enabled=False)
    parsers.REMEMBERED_BYTES = 25_000
    for pk in range(1, 5):
        parsers.remember(pk, ParsedMail(subject=f"Feil {pk}", text="x" * 10_000))
    assert set(parsers._remembered) == {3, 4}  # 1 and 2 went to make room
    found = parsers.collect(None, Ahead([3, 4]))
    assert [found[pk].subject for pk in (3, 4)] == ["Feil 3", "Feil 4"]
    assert parsers._remembered == {} and parsers._remembered_bytes == 0
