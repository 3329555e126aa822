"""The cost of the patient-data scan per message (issue 14), measured on its own.

For every message of the corpus, parsed beforehand (not timed): the identity-number redaction
every outbound mail gets (`pii.redact_identity_numbers` over the subject and the text), and the
whole scan a mail to another organisation gets (`pii.disclosure.prepare`: identity numbers in
every disguise, names, birth dates, diagnoses and codes over subject and text, and every
attachment read and scrubbed). Reports the mean and p99 per message in microseconds and how
many messages had something removed.
"""

from __future__ import annotations

import time
from email import message_from_bytes, policy
from pathlib import Path
from types import SimpleNamespace

from daemon.pii import disclosure, redact_identity_numbers


def _mail(path: Path):
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    try:
        subject = str(msg.get("Subject", ""))
        body = msg.get_body(("plain", "html"))
        text = body.get_content() if body is not None else ""
    except Exception:  # a defective message: scanned for what could be read
        subject, text = "", ""
    attachments = []
    for part in msg.iter_attachments() if msg.is_multipart() else ():
        try:
            attachments.append(SimpleNamespace(filename=part.get_filename() or "", content_type=part.get_content_type(),
                                               data=part.get_payload(decode=True) or b""))
        except Exception:
            continue
    case = SimpleNamespace(subject=subject, description=text, discovered="", service="", resolution="",
                           contact="", reporter_name="", reporter="")
    return case, attachments


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def measure(files: list[Path]) -> dict:
    mails = [_mail(f) for f in files]
    redact, full, removed = [], [], 0
    for case, attachments in mails:
        start = time.perf_counter()
        redact_identity_numbers(case.subject)
        redact_identity_numbers(case.description)
        redact.append(time.perf_counter() - start)
        start = time.perf_counter()
        shown, _, _, result = disclosure.prepare(case, attachments=attachments)
        shown.subject, shown.description  # noqa: B018 - what a forward reads
        full.append(time.perf_counter() - start)
        removed += bool(result.counts or result.withheld)
    n = max(1, len(mails))
    return {"messages": len(mails), "redact_mean_us": sum(redact) / n * 1e6,
            "redact_p99_us": _percentile(redact, 0.99) * 1e6, "scan_mean_us": sum(full) / n * 1e6,
            "scan_p99_us": _percentile(full, 0.99) * 1e6, "messages_with_removals": removed}
