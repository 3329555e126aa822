"""Parse raw bytes into a `ParsedMail`: the headers, text and attachments the rules look at.

Decides how much of a damaged message we can still read. The stdlib parser with
`policy.default` is tried first; every header and part is read defensively, because real mail
makes it raise (`IndexError` on odd address headers, `LookupError` on unknown charsets, broken
MIME). What cannot be read under `policy.default` is read again under `compat32`, and text in a
bad charset is decoded with replacement characters. Never raises for any input: input that is
no mail at all comes back with `not_mail` saying why. The raw bytes stay the record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import Message as StdMessage
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

_MSGIDS = re.compile(r"<([^<>\s]+)>")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:", re.MULTILINE)


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class ParsedMail:
    subject: str = ""
    from_addr: str = ""
    from_name: str = ""
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
    roles: tuple[str, ...] = ()

    def header(self, name: str) -> str:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), "")

    def has_header(self, name: str) -> bool:
        name = name.lower()
        return any(k.lower() == name for k, _ in self.headers)

    @property
    def thread_ids(self) -> list[str]:
        """Every Message-ID this mail says it follows, nearest first."""
        seen = list(dict.fromkeys([*self.in_reply_to, *reversed(self.references)]))
        return seen


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


def _header_str(msg: StdMessage, name: str) -> str:
    """A header's decoded value, or "" — never an exception."""
    try:
        value = msg.get(name)
    except Exception:
        value = None
    if value is None:
        try:
            raw = msg.get_all(name, failobj=[]) if hasattr(msg, "get_all") else []
        except Exception:
            raw = []
        if not raw:
            return ""
        value = raw[0]
    try:
        text = str(value)
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
        return [a.lower() for _, a in getaddresses([value]) if "@" in a]
    except Exception:
        return []


def _part_text(part: StdMessage) -> str:
    try:
        content = part.get_content()
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        return content
    except Exception:
        pass
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception:
        payload = b""
    charset = "utf-8"
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:
        pass
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _walk(msg: StdMessage, mail: ParsedMail) -> None:
    plain: list[str] = []
    html: list[str] = []
    for part in msg.walk():
        try:
            if part.is_multipart():
                if part.get_content_type() == "multipart/report":
                    mail.report_type = (part.get_param("report-type") or "").lower()
                continue
            ctype = part.get_content_type()
            disposition = (part.get_content_disposition() or "").lower()
            filename = part.get_filename() or ""
        except Exception as exc:
            mail.defects.append(f"unreadable part: {type(exc).__name__}")
            continue
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            (plain if ctype == "text/plain" else html).append(_part_text(part))
            continue
        if ctype.startswith("multipart/"):
            continue
        try:
            data = part.get_payload(decode=True)
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


def _read(msg: StdMessage, mail: ParsedMail) -> None:
    headers = []
    for name in msg.keys():
        value = _header_str(msg, name)
        headers.append((name, value))
    mail.headers = headers
    mail.subject = _header_str(msg, "Subject")[:998]
    name, addr = parseaddr(_header_str(msg, "From"))
    mail.from_addr, mail.from_name = addr.lower(), name
    mail.to = _addresses(_header_str(msg, "To"))
    mail.cc = _addresses(_header_str(msg, "Cc"))
    mail.reply_to = parseaddr(_header_str(msg, "Reply-To"))[1].lower()
    mid = _MSGIDS.findall(_header_str(msg, "Message-ID"))
    mail.message_id = mid[0] if mid else _header_str(msg, "Message-ID")
    mail.in_reply_to = _MSGIDS.findall(_header_str(msg, "In-Reply-To"))
    mail.references = _MSGIDS.findall(_header_str(msg, "References"))
    mail.date = _header_str(msg, "Date")
    try:
        mail.content_type = msg.get_content_type()
    except Exception:
        mail.content_type = "text/plain"
    _walk(msg, mail)
    mail.defects.extend(type(d).__name__ for d in getattr(msg, "defects", []))


def not_mail_reason(raw: bytes) -> str:
    """Why RAW is no e-mail message at all, or "" if it looks like one."""
    if not raw.strip():
        return "empty input: no headers and no body"
    if _HEADER_LINE.match(raw.lstrip(b"\r\n")) or raw.startswith(b"From "):
        return ""
    if b"\x00" in raw[:4096]:
        return "binary data (NUL bytes), not an e-mail message"
    return "no header fields at the start: not an e-mail message"


def parse(raw: bytes) -> ParsedMail:
    mail = ParsedMail()
    mail.not_mail = not_mail_reason(raw)
    if mail.not_mail:
        return mail
    try:
        _read(message_from_bytes(raw, policy=policy.default), mail)
    except Exception as exc:  # the modern policy choked: read it the 1990s way
        mail = ParsedMail(defects=[f"policy.default failed: {type(exc).__name__}"])
        try:
            _read(message_from_bytes(raw, policy=policy.compat32), mail)
        except Exception as exc2:
            mail.not_mail = f"unreadable message: {type(exc2).__name__}: {exc2}"
    if not mail.headers and not mail.not_mail:
        mail.not_mail = "no header fields: not an e-mail message"
    return mail
