"""Render a templated mail (Jinja2, bokmål first) into the exact bytes that will be sent.

Decides what every outbound mail looks like: subject with the `[SAK-…]` tag (and NHN's
reference once known), a plain-text part always and an HTML part where the template has one
(autoescaped), our Message-ID with its token, threading headers, `Auto-Submitted` unless the
caller says the mail expects an answer, and `X-Auto-Response-Suppress` so Exchange does not
answer us. Identity numbers are redacted from subject, text, HTML and text attachments here,
at the one place every mail passes, so none leaves the organisation by mail.

A template is `templates/nb/NAME.txt` (it sets `subject` with `{% set subject %}…{% endset %}`)
and optionally `templates/nb/NAME.html`.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from email import encoders
from email.charset import QP, Charset
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import formatdate

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

from .. import attachments
from ..pii import redact_identity_numbers
from . import headers as guarded
from . import wording
from ..registry.tokens import Tokens


class _Wire(Compat32):
    """`compat32` with CRLF, where a header that needs no folding or encoding is written as it is.

    `compat32` builds an `email.header.Header` for every header it writes, ASCII or not, to
    find where to fold it: over half of the time taken to write an acknowledgement. A plain
    ASCII value that fits on one line comes out of that unchanged, so it is written straight
    away; anything else (long, non-ASCII, a Header object) goes the whole way."""

    def fold_binary(self, name, value):
        if isinstance(value, guarded.Encoded):
            return f"{name}: {guarded.encoded_words(value, self.linesep)}{self.linesep}".encode("ascii")
        if isinstance(value, str) and value.isascii() and "\n" not in value and "\r" not in value:
            if len(name) + len(value) + 2 <= self.max_line_length:
                return f"{name}: {value}{self.linesep}".encode("ascii")
            return f"{name}: {_fold_ascii(name, value, self.max_line_length, self.linesep)}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_FWS = re.compile(r"([ \t]+)")
_SPLITCHARS = ";, \t"


def _fold_ascii(name: str, value: str, maxlen: int, linesep: str) -> str:
    """What `email.header.Header(value, header_name=name).encode(linesep=..., maxlinelen=...)`
    makes of one line of ASCII (its `_ValueFormatter` for a charset without encoding: break at
    the last space before a `;`, `,`, space or tab that fits, else put an overlong word on a
    line of its own), without the objects it builds and measures again for every word (two
    long headers, Subject and Message-ID, were a fifth of the time to compose a mail). A test
    holds the two equal over thousands of values."""
    parts = _FWS.split(value)
    if parts[0]:
        parts[:0] = [""]
    else:
        parts.pop(0)
    lines: list[str] = []
    current: list[tuple[str, str]] = []
    initial = len(name) + 2  # the first line begins after "Name: "
    length = initial

    def newline() -> None:
        nonlocal current, initial, length
        end = current.pop() if current else ("", "")
        if end != (" ", ""):
            current.append(end)
        if length - (0 if end != (" ", "") else len(end[0]) + len(end[1])) > 0:
            text = "".join(f + p for f, p in current)
            if initial == 0 and (not current or text.isspace()) and lines:
                lines[-1] += text
            else:
                lines.append(text)
        current, initial, length = [], 0, 0

    for i in range(0, len(parts), 2):
        fws, part = parts[i], parts[i + 1] if i + 1 < len(parts) else ""
        current.append((fws, part))
        length += len(fws) + len(part)
        if length <= maxlen:
            continue
        split = None
        for ch in _SPLITCHARS:
            for j in range(len(current) - 1, 0, -1):
                if ch.isspace():
                    if current[j][0] and current[j][0][0] == ch:
                        split = j
                        break
                previous = current[j - 1][1]
                if previous and previous[-1] == ch:
                    split = j
                    break
            if split is not None:
                break
        if split is None:
            fws, part = current.pop()
            length -= len(fws) + len(part)
            if initial > 0:
                newline()
                if not fws:
                    fws = " "
            current.append((fws, part))
            length += len(fws) + len(part)
            continue
        remainder = current[split:]
        lines.append("".join(f + p for f, p in current[:split]))
        current, initial = remainder, 0
        length = sum(len(f) + len(p) for f, p in current)
    current.append((" ", ""))  # the formatter's closing transition, which newline() drops again
    length += 1
    newline()
    return linesep.join(lines)


# Mail is built with the `compat32` classes: `policy.default`'s header objects parse again every
# value they are given (building one acknowledgement took about 2 ms, a fifth of the pipeline's
# time), and these headers are ours.
WIRE = _Wire(linesep="\r\n")
UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP
MAX_8BIT_LINE = 78
TEMPLATE_CHECK_SECONDS = 2.0


_NEWLINE = re.compile(r"\r\n|\r|\n")
CRLF = b"\r\n"


def _text_part(text: str, subtype: str) -> tuple[list[tuple[str, str]], bytes]:
    """A UTF-8 text part's headers and body: 7bit or 8bit when every line is short,
    quoted-printable otherwise. Byte for byte what `MIMEText(text, subtype, charset)` and the
    generator write with these charsets (`tests/test_render.py`); written directly, because
    `MIMEText` parses its own Content-Type again several times over while it sets the
    charset, and the generator walks the tree again to write it (together about half of the
    time to compose an acknowledgement, measured)."""
    if not all(len(line) <= MAX_8BIT_LINE for line in text.splitlines()):
        cte, payload = "quoted-printable", UTF8_QP.body_encode(text)
    else:  # the text itself, as UTF-8
        cte, payload = ("7bit" if text.isascii() else "8bit"), text
    body = _NEWLINE.sub("\r\n", payload).encode("utf-8")
    return [("Content-Type", f'text/{subtype}; charset="utf-8"'), ("Content-Transfer-Encoding", cte)], body


def _headers(pairs) -> bytes:
    return b"".join(WIRE.fold_binary(name, value) for name, value in pairs)


def _part(headers: list[tuple[str, str]], body: bytes) -> bytes:
    return _headers(headers) + CRLF + body


def _multipart(subtype: str, parts: list[bytes]) -> tuple[list[tuple[str, str]], bytes]:
    """A multipart's headers and body around PARTS (each written whole), as the generator
    writes one: no preamble, each part after its boundary line, the closing boundary last."""
    boundary = _boundary().encode("ascii")
    separator = CRLF + b"--" + boundary + CRLF
    body = b"--" + boundary + CRLF + separator.join(parts) + CRLF + b"--" + boundary + b"--" + CRLF
    return [("Content-Type", f'multipart/{subtype}; boundary="{boundary.decode()}"')], body


def _attachment(att) -> bytes:
    """An attachment part, written whole: base64, its name redacted (and RFC 2231-encoded
    when it is not ASCII) by the MIME classes, which are rarely asked for one. A text-bearing
    one is decoded whatever its encoding (`attachments.decode_text`: a cp1252 `å` stays `å`),
    its identity numbers redacted in every disguise, and sent as UTF-8, saying so."""
    data = att.data
    maintype, _, subtype = (att.content_type or "application/octet-stream").partition("/")
    params = {}
    if attachments.kind_of(att.filename or "", att.content_type or "", data) == "text":
        text = attachments.decode_text(data, attachments.charset_of(att.content_type or ""))
        data, params = redact_identity_numbers(text).encode("utf-8"), {"charset": "utf-8"}
    part = MIMENonMultipart(maintype, subtype.split(";")[0].strip() or "octet-stream", **params)
    part.set_payload(data)
    encoders.encode_base64(part)
    name = guarded.filename(att.filename or "")  # a log is often named after the patient
    part.add_header("Content-Disposition", "attachment",
                    filename=name if name.isascii() else ("utf-8", "", name))
    del part["MIME-Version"]  # only the message itself carries it
    return part.as_bytes(policy=WIRE)


_last_date: tuple[int, str] = (0, "")


def _date() -> str:
    """`formatdate(localtime=True)`: the Date header, which names whole seconds. Made once a
    second, not for every mail (the local time zone is worked out again on every call)."""
    global _last_date
    now = int(time.time())
    second, text = _last_date
    if second != now:
        text = formatdate(now, localtime=True)
        _last_date = (now, text)
    return text


def _boundary() -> str:
    """A random MIME boundary. Letting the generator pick one costs a regex compiled per mail
    to prove the boundary absent from the body; 96 random bits cannot be guessed into a body,
    "=_" never occurs in a quoted-printable or base64 part, and the Content-Type header that
    carries it still fits on one line (no folding to work out)."""
    return "=_" + secrets.token_hex(12)


class _Loader(FileSystemLoader):
    """Templates from the directory, each looked at on disk at most every TEMPLATE_CHECK_SECONDS:
    Jinja asks whether a template is up to date (a `stat`) every time one is included, and every
    acknowledgement includes the signature; an operator's edit is still taken up within those
    seconds."""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        checked = [time.monotonic(), True]

        def seldom_checked() -> bool:
            now = time.monotonic()
            if now - checked[0] >= TEMPLATE_CHECK_SECONDS:
                checked[:] = [now, uptodate()]
            return checked[1]

        return source, filename, seldom_checked


@dataclass(frozen=True)
class Composed:
    message_id: str
    subject: str
    text: str
    recipients: tuple[str, ...]
    raw: bytes


class Renderer:
    def __init__(self, config, tokens: Tokens, language: str = "nb"):
        self.config = config
        self.tokens = tokens
        self.language = language
        self.env = Environment(
            loader=_Loader(str(config.templates_dir)),
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html"]),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["config"] = config
        wording.install(self.env, config, language)
        self._templates: dict[str, tuple] = {}

    def _template(self, name: str):
        """Template NAME, or None if there is none. Asked of Jinja at most every
        TEMPLATE_CHECK_SECONDS: it looks at the file's time on every call, and searches the
        directory again for an HTML template that does not exist (an eighth of the time to
        compose a mail); an operator's edit is still taken up within those seconds."""
        now = time.monotonic()
        cached = self._templates.get(name)
        if cached is not None and now - cached[1] < TEMPLATE_CHECK_SECONDS:
            return cached[0]
        try:
            template = self.env.get_template(name)
        except TemplateNotFound:
            template = None
        self._templates[name] = (template, now)
        return template

    def render(self, name: str, context: dict) -> tuple[str, str, str | None]:
        """(subject, text, html or None) for template NAME."""
        language = self.language
        text_template = self._template(f"{language}/{name}.txt")
        if text_template is None and language != "nb":
            language, text_template = "nb", self._template(f"nb/{name}.txt")  # not translated yet
        if text_template is None:
            raise TemplateNotFound(f"{self.language}/{name}.txt")
        module = text_template.make_module(context)
        subject = " ".join(str(getattr(module, "subject", "")).split())
        text = str(module).strip() + "\n"
        html_template = self._template(f"{language}/{name}.html")
        html = html_template.render(context) if html_template is not None else None
        return subject, text, html

    def compose(
        self,
        name: str,
        context: dict,
        *,
        to: list[str] | tuple[str, ...],
        cc: list[str] | tuple[str, ...] = (),
        case_id: str | None = None,
        nhn_reference: str | None = None,
        in_reply_to: str | None = None,
        references: list[str] | tuple[str, ...] = (),
        auto_submitted: str | None = "auto-replied",
        attachments: list | tuple = (),
        reply_to: str = "",
    ) -> Composed:
        subject, text, html = self.render(name, context)
        tag = f"[{case_id}] " if case_id else ""
        if nhn_reference:
            tag += f"[{nhn_reference}] "
        subject = guarded.text(tag + subject)
        text = redact_identity_numbers(text)
        message_id = self.tokens.message_id(case_id)
        headers, body = _text_part(text, "plain")
        if html is not None:
            html_part = _text_part(redact_identity_numbers(html), "html")
            headers, body = _multipart("alternative", [_part(headers, body), _part(*html_part)])
        if attachments:
            headers, body = _multipart("mixed", [_part(headers, body), *map(_attachment, attachments)])
        headers.insert(1, ("MIME-Version", "1.0"))  # only the message itself carries it
        identity = self.config.identity
        to, cc = guarded.address_list(to), guarded.address_list(cc)
        written = [
            ("From", [(identity.name, identity.address)]),
            ("To", to),
            ("Cc", cc),
            ("Reply-To", [reply_to] if reply_to else []),
            ("Subject", subject),
            ("Date", _date()),
            ("Message-ID", [message_id]),
            ("In-Reply-To", [in_reply_to] if in_reply_to else []),
            ("References", [*references, *([in_reply_to] if in_reply_to else [])]),
            ("Auto-Submitted", auto_submitted or ""),
            ("X-Auto-Response-Suppress", "All"),
            ("Content-Language", self.language),
            ("X-Sakspost-Case", case_id or ""),
        ]
        headers += [(name, guarded.guard(name, value)) for name, value in written]
        raw = _part([(name, value) for name, value in headers if value], body)
        recipients = tuple(dict.fromkeys(address.lower() for _, address in [*to, *cc]))
        return Composed(message_id, subject, text, recipients, raw)
