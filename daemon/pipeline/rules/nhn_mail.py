"""nhn_mail: mail from NHN (a sender domain in `[nhn].sender_domains`).

Asked before the auto-reply rule: NHN's case system acknowledges our forward automatically,
and that acknowledgement carries NHN's reference, which must be recorded (but never answered).
"""

from ..verdict import NHN_MAIL, Verdict
from . import auto_reply

name = "nhn_mail"
description = "The message comes from NHN's customer centre"


def check(mail, ctx):
    domains = [d.lower().lstrip("@") for d in ctx.config.nhn.sender_domains]
    domain = mail.from_addr.rpartition("@")[2]
    if not domains or domain not in domains:
        return None
    automatic = auto_reply.check(mail, ctx)
    reason = f"automatic ({automatic.reason})" if automatic else "from NHN"
    case_id = ctx.case_of(mail)
    return Verdict(NHN_MAIL, name, reason, case_id)
