"""Logging set-up, with a filter that keeps identity numbers out of every log line."""

from __future__ import annotations

import logging
import sys

from .pii import redact_identity_numbers


class RedactIdentityNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redact_identity_numbers(message, "[fnr]")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactIdentityNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("mail.log", "apscheduler", "imapclient"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
