"""The log: an identity number never written in full (message, arguments, traceback, in both
formats), and an error that repeats written once a minute with a count."""

from __future__ import annotations

import io
import json
import logging

import pytest

from daemon import logs
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
