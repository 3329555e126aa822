"""known_case: a reply to a case we already have.

Linked by the registry's lookup (`registry.lookup`): an answer to one of our own Message-IDs, a
mail to a handler's command address, or a `[SAK-YYYY-NNNNNN]` tag or a stored Message-ID in the
thread from someone who takes part in the case. A stranger's mail that names a case is not
linked to it: the rules after this one make it a new report.
"""

from ..verdict import REPLY, Verdict

name = "known_case"
description = "The message belongs to an existing case"


def check(mail, ctx):
    case_id, how = ctx.linked(mail)
    if case_id:
        return Verdict(REPLY, name, how, case_id)
    return None
