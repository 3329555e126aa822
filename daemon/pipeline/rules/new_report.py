"""new_report: a new incident report from health personnel to local user support.

Any remaining mail to a support address opens a case. Mail only to other roles (NHN's or the
log follow-up mailbox) that no earlier rule placed is left unclassified for a person to look at.
"""

from ..verdict import NEW_REPORT, UNCLASSIFIABLE, Verdict

name = "new_report"
description = "The message is a new incident report"


def check(mail, ctx):
    if "support" in mail.roles or not mail.roles:
        return Verdict(NEW_REPORT, name, "sent to user support")
    return Verdict(UNCLASSIFIABLE, name, f"no case matched for roles {','.join(mail.roles)}")
