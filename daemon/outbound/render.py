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

from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

from ..pii import redact_identity_numbers
from .tokens import Tokens


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
            loader=FileSystemLoader(str(config.templates_dir)),
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html"]),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["config"] = config

    def render(self, name: str, context: dict) -> tuple[str, str, str | None]:
        """(subject, text, html or None) for template NAME."""
        module = self.env.get_template(f"{self.language}/{name}.txt").make_module(context)
        subject = " ".join(str(getattr(module, "subject", "")).split())
        text = str(module).strip() + "\n"
        try:
            html = self.env.get_template(f"{self.language}/{name}.html").render(context)
        except TemplateNotFound:
            html = None
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
    ) -> Composed:
        subject, text, html = self.render(name, context)
        tag = f"[{case_id}] " if case_id else ""
        if nhn_reference:
            tag += f"[{nhn_reference}] "
        subject = redact_identity_numbers(tag + subject)
        text = redact_identity_numbers(text)
        message_id = self.tokens.message_id(case_id)
        msg = EmailMessage(policy=SMTP)
        identity = self.config.identity
        msg["From"] = formataddr((identity.name, identity.address))
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = f"<{message_id}>"
        if in_reply_to:
            msg["In-Reply-To"] = f"<{in_reply_to}>"
        refs = list(dict.fromkeys([*references, *([in_reply_to] if in_reply_to else [])]))
        if refs:
            msg["References"] = " ".join(f"<{r}>" for r in refs[-20:])
        if auto_submitted:
            msg["Auto-Submitted"] = auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
        msg["Content-Language"] = self.language
        if case_id:
            msg["X-Sakspost-Case"] = case_id
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(redact_identity_numbers(html), subtype="html")
        for att in attachments:
            data = att.data
            maintype, _, subtype = (att.content_type or "application/octet-stream").partition("/")
            if maintype == "text":
                data = redact_identity_numbers(data.decode("utf-8", "replace")).encode("utf-8")
            msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=att.filename or "vedlegg")
        recipients = tuple(dict.fromkeys(a.lower() for a in [*to, *cc] if a))
        return Composed(message_id, subject, text, recipients, msg.as_bytes())
