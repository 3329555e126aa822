"""Logging set-up. Every formatted line, tracebacks included, passes through identity-number
redaction: a number that reaches a log call by accident (in an exception's message, a subject)
is written as `[fnr]`, never in full.

Two formats: text (`time level logger: message`), or with `[logging] format = "json"` one JSON
object a line (`time`, `level`, `logger`, `message`, and the ids a case event carries: `event`,
`case_id`, `kind`, ...), for a log shipper that reads fields.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from .pii import redact_identity_numbers

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# what a record carries beyond these is a field of its own in JSON (`extra=` of a log call)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_identity_numbers(super().format(record), "[fnr]")


class JsonFormatter(logging.Formatter):
    """One JSON object a line; identity numbers redacted in every value."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact_identity_numbers(json.dumps(entry, ensure_ascii=False, default=str), "[fnr]")


def setup(level: str = "INFO", format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else RedactingFormatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("mail.log", "apscheduler", "imapclient", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
