"""A mail's body: its text parts (plain, else HTML made text) and its attachments, at most
`MAX_PARTS` parts."""

from __future__ import annotations

import binascii
import re
from email.message import Message as StdMessage
from email.utils import collapse_rfc2231_value
from html.parser import HTMLParser

from .headers import _LINESEP, _header_value
from .mail import Attachment, ParsedMail, shortened

MAX_PARTS = 1000  # MIME parts read


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


def walk(msg: StdMessage, mail: ParsedMail) -> None:
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
        mail.attachments.append(Attachment(filename=shortened(filename), content_type=ctype, data=data))
    if plain:
        mail.text = "\n".join(plain)
    elif html:
        mail.text = html_to_text("\n".join(html))
