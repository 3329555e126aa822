"""citizen_form: mail that reached an address or mailbox with the citizen_forms role.

Everything sent there is a citizen's inquiry; the form reader decides which of the five forms
it is, and a form it cannot read still becomes a case marked for manual completion.
"""

from ..verdict import CITIZEN_FORM, Verdict

name = "citizen_form"
description = "The message is a citizen's form"


def check(mail, ctx):
    if "citizen_forms" in mail.roles:
        return Verdict(CITIZEN_FORM, name, "sent to a citizen_forms address")
    return None
