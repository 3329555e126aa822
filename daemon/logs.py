"""Logging set-up. Whatever in a line may carry what a sender wrote (the message, a traceback, a
stack) passes through identity-number redaction: a number that reaches a log call by accident (in
an exception's message, a subject) is written as `[fnr]`, never in full. What we write ourselves
(the time, the level, the logger's name, a case event's ids) is never scanned, so it is never
mistaken for a number.

Two formats: text (`time level logger: message`), or with `[logging] format = "json"` one JSON
object a line (`time`, `level`, `logger`, `message`, and the ids a case event carries: `event`,
`case_id`, `kind`, ...), for a log shipper that reads fields.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from datetime import datetime, timezone

from .pii import redact_identity_numbers

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# what a record carries beyond these is a field of its own in JSON (`extra=` of a log call)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class RedactingFormatter(logging.Formatter):
    """The text format, with the message, a traceback and a stack redacted: the time, level and
    logger's name, which are ours, are not scanned."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = redact_identity_numbers(record.message, "[fnr]")
        return super().formatMessage(record)

    def formatException(self, ei) -> str:
        return redact_identity_numbers(super().formatException(ei), "[fnr]")

    def formatStack(self, stack_info: str) -> str:
        return redact_identity_numbers(super().formatStack(stack_info), "[fnr]")


class JsonFormatter(logging.Formatter):
    """One JSON object a line. What may carry a sender's words (the message, a traceback, a
    stack, a field a library adds) has its identity numbers redacted; what we write ourselves
    (the time, level, logger and the ids of `OWN_FIELDS`) is written as it is: the digits of a
    time such as `00:01:42.691+00:00` can read as an identity number, and must not be lost."""

    OWN_FIELDS = frozenset({"event", "case_id", "case_ids", "kind", "severity", "latency_seconds"})

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _redacted(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if key in self.OWN_FIELDS else _redacted(value)
        if record.exc_info:
            entry["exception"] = _redacted(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = _redacted(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _redacted(value):
    """VALUE with identity numbers redacted in its text (a value that is no text: as its text)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact_identity_numbers(value if isinstance(value, str) else str(value), "[fnr]")


class Repeats(logging.Filter):
    """A warning or error that repeats is written once a WINDOW, with a count: the first one
    goes out, the same ones after it (same logger, level, message and exception type) are
    counted, and the first one after the window says how many there were. A flood of one
    error (a full file table: asyncio's `socket.accept() out of system resource` many times a
    second) costs a line a minute, not a line an event."""

    WINDOW = 60.0

    def __init__(self):
        super().__init__()
        self._seen: dict[tuple, list] = {}  # key -> [window start, suppressed count]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        key = (record.name, record.levelno, record.getMessage(), exc)  # the same words, not the same template
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.WINDOW:
                seen[1] += 1
                return False
            if len(self._seen) > 1000:
                self._seen.clear()
            self._seen[key] = [now, 0]
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} (and {seen[1]} more like it in the {self.WINDOW:g} s before)"
        return True


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_format = "text"


def level(value: str) -> str:
    """VALUE as a level `setup` takes (any case), or ValueError naming those it takes."""
    if value.upper() not in LEVELS:
        raise ValueError(f"{value!r} is not a log level ({', '.join(l.lower() for l in LEVELS)})")
    return value.upper()


def problem(message: str) -> None:
    """Why a command or the daemon cannot go on, as one line in the chosen format: `sakspost:
    MESSAGE` on standard error, or one JSON object of level ERROR under `format = "json"`."""
    if _format == "json":
        logging.getLogger("sakspost").error(message)
    else:
        print(f"sakspost: {redact_identity_numbers(message, '[fnr]')}", file=sys.stderr)


def setup(level: str = "INFO", format: str = "text") -> None:
    global _format
    _format = format
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(Repeats())
    handler.setFormatter(JsonFormatter() if format == "json" else RedactingFormatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("mail.log", "apscheduler", "imapclient", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
