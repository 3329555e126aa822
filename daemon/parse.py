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

import binascii
import functools
import json
import re
from dataclasses import dataclass, field
from email import policy
from email.feedparser import BytesFeedParser
from email.header import decode_header, make_header
from email.message import Message as StdMessage
from email.utils import collapse_rfc2231_value, getaddresses
from html.parser import HTMLParser

from .rfc5322 import read_mailbox, readable

_MSGIDS = re.compile(r"<([^<>\s]+)>")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:", re.MULTILINE)
_LINESEP = re.compile(r"\r\n|\r|\n")
# Headers whose value policy.default rewrites (addresses, dates, MIME parameters); any other
# header, if it is plain ASCII without encoded words, reads the same raw as parsed. The
# structured headers in _AS_WRITTEN are read by policy.default to exactly their unfolded value
# when that is plain ASCII (all of them, over the 2,857 messages of shared/corpus and the
# benchmark's corpus), so they skip its parser too.
_AS_WRITTEN = frozenset({"message-id", "mime-version", "content-transfer-encoding"})
_STRUCTURED = frozenset(policy.default.header_factory.registry) - {"subject"} - _AS_WRITTEN
_CHUNK = 1 << 20
MAX_ADDRESSES = 1000  # in one header value
MAX_VALUE_CHARS = 64 * 1024  # of one header value given to the stdlib's parser
MAX_FIELDS = 1000  # header fields read
MAX_PARTS = 1000  # MIME parts read


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class ParsedMail:
    subject: str = ""
    from_addr: str = ""  # the From header's one address, read strictly ("" if it has not one)
    from_name: str = ""
    from_problem: str = ""  # why From does not hold exactly one strictly parsed mailbox, or ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    reply_to: str = ""
    message_id: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    date: str = ""
    content_type: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    report_type: str = ""  # multipart/report's report-type, e.g. delivery-status
    defects: list[str] = field(default_factory=list)
    not_mail: str = ""  # why this is not an e-mail message at all, else ""
    envelope_from: str = ""
    envelope_rcpts: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    # what the text documents as an incident report (`incident.fields.document`), when the
    # parse helper has worked it out; else it is worked out where it is needed
    documented: object = None
    # `headers` as the registry stores them (`headers_json`), when a helper or the receiving
    # front has encoded them; else they are encoded where they are stored
    encoded_headers: str = ""

    def header(self, name: str) -> str:
        return self._first().get(name.lower(), "")

    def has_header(self, name: str) -> bool:
        return name.lower() in self._first()

    def _first(self) -> dict[str, str]:
        """Each header name (lower case) and its first value, made once (again if `headers` changed)."""
        made = self.__dict__.get("_first_values")
        if made is None or made[0] is not self.headers or made[1] != len(self.headers):
            first = {k.lower(): v for k, v in reversed(self.headers)}  # the first of a name wins
            made = self.__dict__["_first_values"] = (self.headers, len(self.headers), first)
        return made[2]

    @property
    def thread_ids(self) -> list[str]:
        """Every Message-ID this mail says it follows, nearest first."""
        return list(dict.fromkeys([*self.in_reply_to, *reversed(self.references)]))


class _HtmlText(HTMLParser):
    _BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        return re.sub(r"<[^>]+>", " ", html)
    text = "".join(parser.out)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    return re.sub(r"\n\s*\n\s*\n+", "\n\n", text).strip()


def _bounded(value: str) -> str:
    """VALUE up to its MAX_ADDRESSES-th comma and MAX_VALUE_CHARS characters."""
    value = value[:MAX_VALUE_CHARS]
    cut = -1
    for _ in range(MAX_ADDRESSES):
        cut = value.find(",", cut + 1)
        if cut < 0:
            return value
    return value[:cut]


def _header_value(name: str, value) -> str:
    """A header's value as `policy.default` reads it, decoded, on one line — never an exception."""
    if isinstance(value, str) and len(value) > 1000 and value.count(",", 0, MAX_VALUE_CHARS) >= MAX_ADDRESSES:
        value = _bounded(value)  # what the stdlib's parser would take minutes over
    elif isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        value = value[:MAX_VALUE_CHARS]
    if isinstance(value, str):
        if "=?" not in value and value.isascii() and name.lower() not in _STRUCTURED:
            return " ".join(value.split())
        value = readable(value)
        if len(value) <= _REMEMBERED_LENGTH:
            return _remembered_header(name.lower(), value)
    return _read_header(name, value)


_REMEMBERED_LENGTH = 1000


@functools.lru_cache(maxsize=1024)
def _remembered_header(name: str, value: str) -> str:
    """_read_header, remembered: the same To, From and Content-Type values come again and again."""
    return _read_header(name, value)


def _read_header(name: str, value) -> str:
    """A header's value through policy.default's parser, or raw when it cannot read it."""
    try:
        text = str(policy.default.header_fetch_parse(name, value))
    except Exception:  # policy.default cannot read it: the raw value, encoded words decoded below
        try:
            text = _LINESEP.sub("", str(value))
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except Exception:
            text = ""
    if "=?" in text:
        try:
            text = str(make_header(decode_header(text)))
        except Exception:
            pass
    return " ".join(text.split())


def _addresses(value: str) -> list[str]:
    try:
        return [a.lower() for _, a in getaddresses([_bounded(value)]) if "@" in a]
    except Exception:
        return []


def _part_text(part: StdMessage) -> str:
    """A text part decoded as policy.default's get_content() would, or with replacement
    characters. 8-bit text that declares no charset (or US-ASCII) is read as UTF-8 where it is
    that, else as Windows-1252, as real senders mean it (`swaks --attach`, old mailers)."""
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception:
        payload = b""
    if isinstance(payload, str):  # pragma: no cover - a multipart's list is never a text part
        payload = payload.encode("utf-8", "replace")
    try:
        charset = collapse_rfc2231_value(part.get_param("charset", "ASCII")).strip().lower()
    except (LookupError, TypeError, ValueError):
        charset = "utf-8"
    if charset in _UNDECLARED and not payload.isascii():
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload.decode("cp1252", "replace")
    try:
        return payload.decode(charset, "replace")
    except (LookupError, TypeError, ValueError):
        return payload.decode("utf-8", "replace")


_UNDECLARED = frozenset({"ascii", "us-ascii", "us_ascii", "ansi_x3.4-1968", ""})


def _decoded_payload(part: StdMessage) -> bytes | None:
    """get_payload(decode=True), without its three copies of a large base64 body."""
    payload = part._payload
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64" and isinstance(payload, str) and payload.isascii():
        try:
            return binascii.a2b_base64(payload)
        except binascii.Error:
            pass  # bad padding or the like: the stdlib's decoder copes and notes the defect
    return part.get_payload(decode=True)


def _walk(msg: StdMessage, mail: ParsedMail) -> None:
    plain: list[str] = []
    html: list[str] = []
    for number, part in enumerate(msg.walk()):
        if number >= MAX_PARTS:
            mail.defects.append(f"more than {MAX_PARTS} MIME parts: the rest is not read")
            break
        try:
            if part.is_multipart():
                if part.get_content_type() == "multipart/report":
                    mail.report_type = (part.get_param("report-type") or "").lower()
                continue
            ctype = _LINESEP.sub("", part.get_content_type())  # a folded, malformed Content-Type
            disposition = (part.get_content_disposition() or "").lower()
            filename = part.get_filename() or ""
            if "=?" in filename:  # RFC 2047 inside the quoted parameter, as Outlook writes it
                filename = _header_value("X-Filename", filename)
        except Exception as exc:
            mail.defects.append(f"unreadable part: {type(exc).__name__}")
            continue
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            (plain if ctype == "text/plain" else html).append(_part_text(part))
            continue
        if ctype.startswith("multipart/"):
            continue
        try:
            data = _decoded_payload(part)
            if data is None:
                payload = part.get_payload()
                data = payload.encode("utf-8", "replace") if isinstance(payload, str) else b""
        except Exception:
            data = b""
        mail.attachments.append(Attachment(filename=filename[:255], content_type=ctype, data=data))
    if plain:
        mail.text = "\n".join(plain)
    elif html:
        mail.text = html_to_text("\n".join(html))


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
    raw = {"from": [], "reply-to": []}
    for name, value in msg.raw_items():
        if name.lower() in raw:
            raw[name.lower()].append(value)
    sender = read_mailbox(raw["from"])
    mail.from_addr, mail.from_name, mail.from_problem = sender.address, sender.name, sender.problem
    mail.to = _addresses(first.get("to", ""))
    mail.cc = _addresses(first.get("cc", ""))
    mail.reply_to = read_mailbox(raw["reply-to"]).address if raw["reply-to"] else ""
    mid = _MSGIDS.findall(first.get("message-id", ""))
    mail.message_id = mid[0] if mid else first.get("message-id", "")
    mail.in_reply_to = _MSGIDS.findall(first.get("in-reply-to", ""))
    mail.references = _MSGIDS.findall(first.get("references", ""))
    mail.date = first.get("date", "")
    try:
        mail.content_type = _LINESEP.sub("", msg.get_content_type())
    except Exception:
        mail.content_type = "text/plain"
    if parts:
        _walk(msg, mail)
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
