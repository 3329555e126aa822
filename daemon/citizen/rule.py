"""citizen_form: mail that reached an address or mailbox with the citizen_forms role (a rule that
`citizen.hooks` registers with the pipeline, asked just before auto_reply).

Everything sent there is a citizen's inquiry; the form reader decides which of the five forms
it is, and a form it cannot read still becomes a case marked for manual completion (of type
`unknown` when not even its type can be told, until a handler sets it with `#skjema`). Asked
before the auto-reply rule, because helsenorge.no's system may send a citizen's form as an
automatic mail: automatic mail counts only when it is recognisably one of the five forms (its
receipt then goes to the form's E-post field, never to the system that sent it); any other
automatic mail, and a reply on a case's thread, is left to the rules after this one.
"""

from ..pipeline.rules import auto_reply
from ..pipeline.verdict import CITIZEN_FORM, Verdict
from .forms import read_form

name = "citizen_form"
description = "The message is a citizen's form"


def check(mail, ctx):
    if "citizen_forms" not in mail.roles:
        return None
    if ctx.case_of(mail):
        return None  # a reply on a case: known_case
    automatic = auto_reply.check(mail, ctx)
    if automatic is None:
        return Verdict(CITIZEN_FORM, name, "sent to a citizen_forms address")
    attachments = [(a.filename, a.content_type, a.data) for a in mail.attachments]
    if read_form(mail.subject, mail.text, attachments).form_type is None:
        return None  # an out-of-office or list mail: auto_reply
    return Verdict(CITIZEN_FORM, name, f"automatic ({automatic.reason}): a form sent by a system")
