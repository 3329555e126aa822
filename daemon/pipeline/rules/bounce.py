"""bounce: a delivery status notification (RFC 3464) or another non-delivery report.

Recognised by a null envelope sender, a multipart/report of type delivery-status, or a
mailer-daemon/postmaster sender. A bounce of one of our mails is recorded on that case.
"""

import re

from ..verdict import AUTOMATIC, Verdict

name = "bounce"
description = "The message is a bounce or delivery status notification"

# in the From header as written: a mailer daemon's From is often no valid address (`<MAILER-DAEMON>`)
_DAEMON = re.compile(r"(?:^|[<\s\"])(mailer-daemon|postmaster|mail-daemon|mailerdaemon)(?:@|>|$)", re.IGNORECASE)
_SUBJECT = re.compile(
    r"(undeliver|delivery status notification|returned mail|delivery failure|"
    r"mail delivery failed|non[- ]?delivery|failure notice|kunne ikke leveres|ikke levert)",
    re.IGNORECASE,
)


def check(mail, ctx):
    reason = ""
    if mail.report_type in ("delivery-status", "disposition-notification"):
        reason = f"multipart/report; report-type={mail.report_type}"
    elif mail.envelope_from == "<>":
        reason = "null envelope sender"
    elif _DAEMON.search(mail.header("From")):
        reason = f"sent by {mail.from_addr or 'a mailer daemon'}"
    elif not mail.from_addr and _SUBJECT.search(mail.subject):
        reason = "delivery failure subject without a sender"
    if reason:
        return Verdict(AUTOMATIC, name, reason, ctx.case_of(mail))
    return None
