"""own_mail: a message the daemon itself sent, come back (a loop).

Looks for our own From: address or a Message-ID carrying our token. Such mail is recorded on
its case if it has one and never answered.
"""

from ..verdict import OWN_MAIL, Verdict

name = "own_mail"
description = "The message was sent by this daemon"


def check(mail, ctx):
    ours = ctx.config.identity.address.lower()
    if mail.from_addr == ours or mail.envelope_from.lower() == ours or ctx.tokens.case_of(mail.message_id):
        return Verdict(OWN_MAIL, name, "sent by this daemon", ctx.case_of(mail))
    return None
