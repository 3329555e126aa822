"""Logging set-up. Every formatted line, tracebacks included, passes through identity-number
redaction: a number that reaches a log call by accident (in an exception's message, a subject)
is written as `[fnr]`, never in full."""

from __future__ import annotations

import logging
import sys

from .pii import redact_identity_numbers


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_identity_numbers(super().format(record), "[fnr]")


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("mail.log", "apscheduler", "imapclient"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
