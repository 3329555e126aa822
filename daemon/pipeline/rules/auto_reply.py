"""auto_reply: mail that must never be answered automatically (RFC 3834 and common practice).

`Auto-Submitted` present and not `no`; `Precedence: bulk|list|junk|auto_reply`; list mail
(`List-Id`, `List-Unsubscribe`); vendor auto-reply marks (`X-Autoreply`, `X-Autorespond`,
`X-Auto-Response`); out-of-office subjects in Norwegian and English. Microsoft's
`X-Auto-Response-Suppress` is a request to us, not a mark of an automatic mail, and is ignored.
"""

import re

from ..verdict import AUTOMATIC, Verdict

name = "auto_reply"
description = "The message is an automatic reply, bulk or list mail"

_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|autosvar|automatisk svar|out of office|"
    r"fravær|fravaer|fraværsmelding|abwesenheit|absence|i am out of the office)",
    re.IGNORECASE,
)


def check(mail, ctx):
    reason = ""
    auto = mail.header("Auto-Submitted").strip().lower()
    precedence = mail.header("Precedence").strip().lower()
    if auto and auto != "no":
        reason = f"Auto-Submitted: {auto}"
    elif precedence in ("bulk", "list", "junk", "auto_reply"):
        reason = f"Precedence: {precedence}"
    elif mail.has_header("List-Id") or mail.has_header("List-Unsubscribe"):
        reason = "list mail"
    elif any(mail.has_header(h) for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        reason = "auto-reply header"
    elif mail.header("X-Auto-Response").strip():
        reason = "X-Auto-Response"
    elif _SUBJECT.match(mail.subject):
        reason = "out-of-office subject"
    if reason:
        return Verdict(AUTOMATIC, name, reason, ctx.case_of(mail))
    return None
