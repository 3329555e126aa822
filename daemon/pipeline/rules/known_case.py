"""known_case: a reply to a case we already have.

Matched by the `[SAK-YYYY-NNNNNN]` tag in the subject first (only a case that exists counts),
then by In-Reply-To/References against our own tokened Message-IDs and every stored Message-ID.
"""

from ..verdict import REPLY, Verdict

name = "known_case"
description = "The message belongs to an existing case"


def check(mail, ctx):
    case_id = ctx.case_for_tag(mail.subject)
    if case_id:
        return Verdict(REPLY, name, "case tag in subject", case_id)
    case_id = ctx.case_for_thread(mail)
    if case_id:
        return Verdict(REPLY, name, "In-Reply-To/References", case_id)
    return None
