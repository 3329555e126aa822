"""not_mail: input that is no e-mail message at all (empty, binary, no header fields).

Such input is kept as raw bytes and dead-lettered with the reason, never silently dropped.
"""

from ..verdict import NOT_MAIL, Verdict

name = "not_mail"
description = "The input is not an e-mail message"


def check(mail, ctx):
    if mail.not_mail:
        return Verdict(NOT_MAIL, name, mail.not_mail)
    return None
