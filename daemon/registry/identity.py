"""What identifies a raw message, read from its bytes alone: where its header block ends, its
fingerprint and its Message-ID.

Decides what counts as the same message: the SHA-256 of its bytes with the trace headers that
differ per delivery (Received, Return-Path, Delivered-To, X-Original-To, ...) left out. No
database here, so that the receiving front (`receive/front.py`) computes these for what it
receives, off the daemon's interpreter, and the daemon's store (`store.py`) only for what it
receives otherwise.
"""

from __future__ import annotations

import hashlib
import re
from email.parser import BytesHeaderParser
from email.policy import compat32

_TRACE = re.compile(
    rb"^(received|return-path|delivered-to|x-original-to|x-envelope-to|x-delivered-to|"
    rb"x-rcpt-to|envelope-to|x-sakspost-[\w-]+)\s*:",
    re.IGNORECASE,
)
_MSGID = re.compile(rb"<([^<>\s]+)>")
# The first Message-ID field with its continuation lines, and a line before it that the header
# parser would not read as a header (then the parser decides; see `message_id_of`).
_MESSAGE_ID_FIELD = re.compile(rb"^message-id:[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)", re.IGNORECASE | re.MULTILINE)
_NOT_A_HEADER_LINE = re.compile(rb"^(?!From |[\x21-\x39\x3b-\x7e]*:|[ \t])", re.MULTILINE)


def header_end(raw: bytes) -> int:
    """Where the header block of RAW ends: the first blank line (CRLF or LF, or CR CR), -1 if
    there is none. The leftmost match of `\r?\n\r?\n|\r\r`, found without a regular
    expression, which is slower than the rest of storing the mail (a test holds the two equal)."""
    nl = raw.find(b"\n")
    likely, other = (b"\n\r\n", b"\n\n") if nl > 0 and raw[nl - 1] == 13 else (b"\n\n", b"\n\r\n")
    start = raw.find(likely)
    found = raw.find(other, 0, start + 1 if start >= 0 else len(raw))
    if found >= 0 and (start < 0 or found < start):
        start = found
    if start > 0 and raw[start - 1] == 13:  # the blank line's own CR
        start -= 1
    cr = raw.find(b"\r\r", 0, start + 1 if start >= 0 else len(raw))
    if cr >= 0 and (start < 0 or cr < start):
        start = cr
    return start


def header_block(raw: bytes) -> bytes:
    end = header_end(raw)
    return raw[:end] if end >= 0 else raw


def fingerprint(raw: bytes) -> str:
    """SHA-256 over the message without its per-delivery trace header fields."""
    end = header_end(raw)
    head, body = (raw[:end], memoryview(raw)[end:]) if end >= 0 else (raw, b"")
    digest = hashlib.sha256()
    skipping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                digest.update(line)
            continue
        skipping = bool(_TRACE.match(line))
        if not skipping:
            digest.update(line)
    digest.update(body)
    return digest.hexdigest()


def message_id_of(raw: bytes) -> str:
    """The Message-ID without angle brackets, or "" when there is none usable: the first
    Message-ID field as the `compat32` header parser reads it. A field found by a regular
    expression, after lines the parser reads as headers, is the one it finds, at half the cost
    (a test holds the two equal over the shared corpus); anything else is parsed."""
    head = header_block(raw)
    field = _MESSAGE_ID_FIELD.search(head)
    if (field is not None and field.group(1).isascii()
            and not (field.start() and _NOT_A_HEADER_LINE.search(head, 0, field.start() - 1))):
        value = field.group(1)
        found = _MSGID.search(value)
        if found:
            return found.group(1).decode("utf-8", "replace")[:500]
        return value.decode("ascii", "surrogateescape").strip()[:500]
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(head)
        value = headers.get("Message-ID")
    except Exception:  # a header block the parser cannot read at all
        return ""
    if value is None:
        return ""
    value = str(value)
    found = _MSGID.search(value.encode("utf-8", "replace"))
    if found:
        return found.group(1).decode("utf-8", "replace")[:500]
    return value.strip()[:500]
