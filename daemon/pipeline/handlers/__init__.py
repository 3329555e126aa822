"""Handlers: what the registry does with each kind of verdict.

A handler gets the session, the runtime, the stored inbound `Message`, the `ParsedMail` and the
`Verdict`, and calls `daemon.registry.cases` to change cases and queue mail. It never commits:
the pipeline runner commits the whole message's work at once. The generic handlers are here;
the workflows register theirs (`pipeline.hooks`): new reports and NHN's mail (`incident.handlers`),
citizens' forms (`citizen.handlers`), and a reply by the kind of its case.
"""

from ...registry import sql
from ...registry.models import Case
from .. import hooks
from ..verdict import AUTOMATIC, NOT_MAIL, OWN_MAIL, REPLY, UNCLASSIFIABLE
from . import automatic, unclassified


class DeadLetter(Exception):
    """The message cannot be processed; it is marked failed with this reason and kept."""


def _not_mail(session, rt, message, mail, verdict):
    raise DeadLetter(verdict.reason)


def _reply(session, rt, message, mail, verdict):
    case = sql.get(session, Case, verdict.case_id)
    handler = hooks.REPLIES.get(case.kind) or hooks.REPLIES[None]
    handler(session, rt, message, mail, verdict)


HANDLERS = {
    NOT_MAIL: _not_mail,
    OWN_MAIL: automatic.record,
    AUTOMATIC: automatic.record,
    REPLY: _reply,
    UNCLASSIFIABLE: unclassified.record,
}


def apply(session, rt, message, mail, verdict) -> None:
    handler = HANDLERS.get(verdict.kind) or hooks.HANDLERS.get(verdict.kind)
    if handler is None:
        raise LookupError(f"no handler for verdict {verdict.kind!r}: daemon.workflows.load() not called")
    handler(session, rt, message, mail, verdict)
