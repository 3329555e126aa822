"""The log: an identity number never written in full (message, arguments, traceback, in both
formats), and an error that repeats written once a minute with a count."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timezone

import pytest

from daemon import logs
from daemon.pii import contains_identity_number
from test_pii import first_number

FNR = first_number("311299")


@pytest.fixture
def written():
    """setup() as the daemon calls it, writing to a buffer; the buffer."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    buffer = io.StringIO()

    def make(format: str = "text") -> io.StringIO:
        logs.setup("INFO", format)
        root.handlers[0].stream = buffer
        return buffer

    yield make
    root.handlers[:], level = saved
    root.setLevel(level)


@pytest.mark.parametrize("format", ["text", "json"])
def test_an_identity_number_in_a_message_its_arguments_or_a_traceback_is_never_written(written, format):
    buffer = written(format)
    log = logging.getLogger("sakspost.test")
    log.info(f"subject {FNR}")
    log.warning("from %s", f"{FNR[:6]} {FNR[6:]}")
    try:
        raise ValueError(f"cannot read {FNR}")
    except ValueError:
        log.exception("failed")
    out = buffer.getvalue()
    assert FNR not in out and f"{FNR[:6]} {FNR[6:]}" not in out
    assert out.count("[fnr]") == 3
    if format == "json":
        assert [json.loads(line)["level"] for line in out.splitlines()] == ["INFO", "WARNING", "ERROR"]


# 00:01:42.691+00:00: its digits hold an 11-digit stretch that validates as an identity number
AN_UNLUCKY_MOMENT = datetime(2026, 12, 6, 0, 1, 42, 691000, tzinfo=timezone.utc)


@pytest.mark.parametrize("format", ["text", "json"])
def test_a_line_written_at_a_moment_whose_digits_read_as_an_identity_number_keeps_its_time(written, format):
    assert contains_identity_number(AN_UNLUCKY_MOMENT.isoformat(timespec="milliseconds"))
    buffer = written(format)
    log = logging.getLogger("sakspost.test")
    record = log.makeRecord(log.name, logging.INFO, __file__, 1, "case %s opened", ("SAK-2026-000001",), None,
                            extra={"event": "opened", "case_id": "SAK-2026-000001"})
    record.created, record.msecs = AN_UNLUCKY_MOMENT.timestamp(), 691.0
    log.handle(record)
    line = buffer.getvalue().strip()
    assert "[fnr]" not in line
    if format == "json":
        entry = json.loads(line)
        assert entry["time"] == "2026-12-06T00:01:42.691+00:00"
        assert (entry["level"], entry["logger"], entry["case_id"]) == ("INFO", "sakspost.test", "SAK-2026-000001")
        assert entry["message"] == "case SAK-2026-000001 opened"
    else:
        assert line.startswith(logging.Formatter(logs.TEXT).formatTime(record) + " INFO sakspost.test: ")


def test_an_identity_number_in_a_field_a_library_adds_is_redacted_in_json(written):
    buffer = written("json")
    logging.getLogger("sakspost.test").info("lookup", extra={"query": f"pnr={FNR}"})
    entry = json.loads(buffer.getvalue())
    assert entry["query"] == "pnr=[fnr]" and FNR not in buffer.getvalue()


def test_an_error_that_repeats_is_written_once_a_window_with_a_count(written, monkeypatch):
    buffer = written()
    clock = [1000.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: clock[0])
    log = logging.getLogger("asyncio")
    for _ in range(500):
        log.error("socket.accept() out of system resource")
        clock[0] += 0.01  # a hundred a second
    clock[0] += logs.Repeats.WINDOW
    log.error("socket.accept() out of system resource")
    log.info("an ordinary line")
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 3
    assert "and 499 more like it" in lines[1]


def test_different_errors_with_the_same_wording_are_each_written(written):
    buffer = written()
    log = logging.getLogger("sakspost.sender")
    for outbox_id in range(5):
        log.error("outbox mail %s to %s failed permanently: %s", outbox_id, "kari@sykehus.example", "550 no")
    assert len(buffer.getvalue().splitlines()) == 5
