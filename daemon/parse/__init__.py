"""Parse raw bytes into a `ParsedMail`: the headers, text and attachments the rules look at.

Decides how much of a damaged message we can still read. The MIME structure is parsed once with
the stdlib parser under `compat32` (which reads no header beyond what the structure needs), and
each header is read once, under `policy.default`'s header classes where that changes its value
(addresses, dates, encoded words, non-ASCII), so the values are those `policy.default` gives.
Every header and part is read defensively, because real mail makes the parser raise (`IndexError`
on odd address headers, `LookupError` on unknown charsets, broken MIME): a header
`policy.default` cannot read is decoded the 1990s way, and text in a bad charset is decoded with
replacement characters. Never raises for any input: input that is no mail at all comes back with
`not_mail` saying why. The raw bytes stay the record.

Bounded work: the stdlib's header parser takes time that grows with the square of an address
list's length, so a header value is given to it only up to `MAX_ADDRESSES` addresses and
`MAX_VALUE_CHARS` characters (the rest is read raw); at most `MAX_FIELDS` header fields and
`MAX_PARTS` MIME parts are read. A structure nested too deep for the parser is read from its
header block alone, so the mail is still classified from its headers. Each limit reached is
named in `defects`.
"""

from __future__ import annotations

import json
import re
from email import policy
from email.feedparser import BytesFeedParser
from email.message import Message as StdMessage

from ..rfc5322 import read_mailbox, readable
from .body import MAX_PARTS, html_to_text, walk
from .headers import _AS_WRITTEN, _LINESEP, MAX_ADDRESSES, MAX_VALUE_CHARS, _addresses, _header_value
from .mail import Attachment, ParsedMail

__all__ = ["MAX_ADDRESSES", "MAX_FIELDS", "MAX_PARTS", "MAX_VALUE_CHARS", "Attachment", "ELSEWHERE_MAX_BYTES",
           "ParsedMail", "headers_json", "html_to_text", "not_mail_reason", "parse", "parse_many", "start_helper",
           "_AS_WRITTEN", "_header_value", "_structure"]

_MSGIDS = re.compile(r"<([^<>\s]+)>")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:", re.MULTILINE)
_CHUNK = 1 << 20
MAX_FIELDS = 1000  # header fields read


def _read(msg: StdMessage, mail: ParsedMail, *, parts: bool = True) -> None:
    fields = list(msg.raw_items())
    if len(fields) > MAX_FIELDS:
        fields = fields[:MAX_FIELDS]
        mail.defects.append(f"more than {MAX_FIELDS} header fields: the rest is not read")
    mail.headers = [(name, _header_value(name, value)) for name, value in fields]
    first: dict[str, str] = {}
    for name, value in mail.headers:
        first.setdefault(name.lower(), value)
    mail.subject = first.get("subject", "")[:998]
    raw = {"from": [], "reply-to": [], "message-id": [], "in-reply-to": [], "references": []}
    for name, value in msg.raw_items():
        if name.lower() in raw:
            raw[name.lower()].append(value)
    sender = read_mailbox(raw["from"])
    mail.from_addr, mail.from_name, mail.from_problem = sender.address, sender.name, sender.problem
    mail.to = _addresses(first.get("to", ""))
    mail.cc = _addresses(first.get("cc", ""))
    mail.reply_to = read_mailbox(raw["reply-to"]).address if raw["reply-to"] else ""
    # ids as written: an encoded word is no part of a msg-id (RFC 2047 5), so none is decoded
    # here (`=?utf-8?q?=0D=0A?=` would read as a line break); outbound/headers.py leaves such an
    # id out of our In-Reply-To and References
    ids = {key: readable(str(values[0])) if values else "" for key, values in raw.items()
           if key in ("message-id", "in-reply-to", "references")}
    mid = _MSGIDS.findall(ids["message-id"])
    mail.message_id = mid[0] if mid else " ".join(ids["message-id"].split())
    mail.in_reply_to = _MSGIDS.findall(ids["in-reply-to"])
    mail.references = _MSGIDS.findall(ids["references"])
    mail.date = first.get("date", "")
    try:
        mail.content_type = _LINESEP.sub("", msg.get_content_type())
    except Exception:
        mail.content_type = "text/plain"
    if parts:
        walk(msg, mail)
    mail.defects.extend(type(d).__name__ for d in getattr(msg, "defects", []))


def not_mail_reason(raw) -> str:
    """Why RAW is no e-mail message at all, or "" if it looks like one. A byte-order mark and
    white space or blank lines before the first header are passed over."""
    head = raw[:_CHUNK]
    if not head.strip() and not any(raw[i:i + _CHUNK].strip() for i in range(_CHUNK, len(raw), _CHUNK)):
        return "empty input: no headers and no body"
    head = head[_leading(head):]
    if _HEADER_LINE.match(head) or head.startswith(b"From "):
        return ""
    if b"\x00" in head[:4096]:
        return "binary data (NUL bytes), not an e-mail message"
    return "no header fields at the start: not an e-mail message"


_BOM = b"\xef\xbb\xbf"
_OBSOLETE_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)  # `From  :` (RFC 5322 4.5)
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def _leading(head: bytes) -> int:
    """How many bytes at the start of HEAD come before the first header: a UTF-8 byte-order
    mark, white space and blank lines."""
    start = len(_BOM) if head.startswith(_BOM) else 0
    return len(head) - len(head[start:].lstrip()) if head[start:].strip() else start


def _tidy(head: bytes) -> bytes:
    """The first slice of a message as the parser is given it: from its first header on, with
    the obsolete white space between a header's name and its colon taken out of the header
    block (the stdlib's parser takes `From  :` for an mbox `From ` line)."""
    head = head[_leading(head):]
    end = _HEAD_END.search(head)
    block, rest = (head[:end.start()], head[end.start():]) if end else (head, b"")
    if b" :" in block or b"\t:" in block:
        block = _OBSOLETE_NAME.sub(rb"\1:", block)
    return block + rest


def _header_block(raw) -> bytes:
    """The header block of RAW (its first slice up to the first blank line), with an empty body."""
    head = _tidy(bytes(raw[:_CHUNK]))
    end = _HEAD_END.search(head)
    return (head[:end.start()] if end else head) + b"\r\n\r\n"


_LINE_ENDS = re.compile(rb"(\r\n|\r|\n)")  # as the stdlib's parser splits lines
_FIELD_LINE = re.compile(rb"[!-9;-~]*[ \t]*:")  # a field's first line (obsolete space kept)
_AUTHENTICATION_RESULTS = re.compile(rb"authentication-results[ \t]*:", re.IGNORECASE)
_ANY_AUTHENTICATION_RESULTS = re.compile(rb"authentication-results", re.IGNORECASE)


def _authentication_fields(raw) -> list[str]:
    """Each Authentication-Results field of RAW's header block exactly as written (see
    `ParsedMail.authentication_results`). The block ends where the stdlib's parser ends it, at
    an empty line or a line that is no field; at most MAX_FIELDS fields are looked at."""
    head = bytes(raw[:_CHUNK])
    head = head[_leading(head):]
    end = _HEAD_END.search(head)
    block = head[:end.start()] if end else head
    if not _ANY_AUTHENTICATION_RESULTS.search(block):
        return []
    pieces = _LINE_ENDS.split(block)
    lines, ends = pieces[0::2], [b"", *pieces[1::2]]  # ends[i]: what ended the line before lines[i]
    found: list[bytes] = []
    current: list[bytes] | None = None
    fields = 0
    for i, line in enumerate(lines):
        if line[:1] in (b" ", b"\t"):  # a folded field goes on
            if current is not None:
                current.append(ends[i] + line)
            continue
        if current is not None:
            found.append(b"".join(current))
            current = None
        if not line or fields >= MAX_FIELDS:
            break
        if line.startswith(b"From "):  # an mbox From line, which the parser passes over
            continue
        if not _FIELD_LINE.match(line):
            break
        fields += 1
        if _AUTHENTICATION_RESULTS.match(line):
            current = [b"\r" + line if ends[i] == b"\r" else line]
    if current is not None:
        found.append(b"".join(current))
    return [field.decode("utf-8", "replace") for field in found]


def _structure(raw) -> StdMessage:
    """message_from_bytes(raw, policy=compat32), fed in slices: the stdlib's parsebytes() first
    makes one str of the whole message and a StringIO of it (four bytes a character)."""
    parser = BytesFeedParser(policy=policy.compat32)
    parser.feed(_tidy(bytes(raw[:_CHUNK])))
    for start in range(_CHUNK, len(raw), _CHUNK):
        parser.feed(raw[start:start + _CHUNK])
    return parser.close()


def parse(raw) -> ParsedMail:
    """RAW is the message's bytes, or anything that slices into bytes and has a length (an
    SQLite blob opened for reading, so a large message is never whole in memory)."""
    mail = ParsedMail()
    mail.not_mail = not_mail_reason(raw)
    if mail.not_mail:
        return mail
    try:
        _read(_structure(raw), mail)
    except RecursionError:  # nested deeper than the parser goes: the headers alone
        mail = ParsedMail(defects=["MIME parts nested too deep: only the header block is read"])
        try:
            _read(_structure(_header_block(raw)), mail, parts=False)
        except Exception as exc:
            mail = ParsedMail(not_mail=f"unreadable message: {type(exc).__name__}: {exc}")
    except Exception as exc:
        mail = ParsedMail(not_mail=f"unreadable message: {type(exc).__name__}: {exc}")
    if not mail.headers and not mail.not_mail:
        mail.not_mail = "no header fields: not an e-mail message"
    if not mail.not_mail:
        mail.authentication_results = _authentication_fields(raw)
    return mail


# A message is parsed in another process (the parse helper, the receiving front) only up to this
# size; a larger one is parsed by the pipeline, from the stored blob, never copied over and back.
ELSEWHERE_MAX_BYTES = 256 * 1024

_HEADERS_JSON = json.JSONEncoder(ensure_ascii=False)


def headers_json(mail: ParsedMail) -> str:
    """MAIL's header fields as the registry stores them (`message.headers`): JSON, as written."""
    return mail.encoded_headers or _HEADERS_JSON.encode(mail.headers)


def parse_many(items: list[tuple[int, bytes]], reader=None) -> list[tuple[int, ParsedMail]]:
    """`parse` for a helper process (`daemon.pipeline.parsers`): (pk, raw bytes) in, (pk,
    ParsedMail) out. This module imports nothing but the standard library, so a helper that
    runs it stays small. With READER (a workflow's `reader(subject, text)`, `pipeline.hooks`),
    each mail comes with what its text documents, worked out here too."""
    out = []
    for pk, raw in items:
        mail = parse(raw)
        if reader is not None and not mail.not_mail:
            mail.documented = reader(mail.subject, mail.text)
        mail.encoded_headers = headers_json(mail)
        out.append((pk, mail))
    return out


def start_helper(parent: int) -> None:
    """A helper process's start; PARENT is the pid of the process that started it. An interrupt
    (Ctrl-C to the process group) is the pipeline's to handle, not the helper's; and the helper
    ends once PARENT is gone, however it went, even before the helper got this far (a
    `concurrent.futures` worker whose parent was killed would wait for work forever)."""
    import os
    import signal
    import threading
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()