"""Handlers: what the registry does with each kind of verdict.

A handler gets the session, the runtime, the stored inbound `Message`, the `ParsedMail` and the
`Verdict`, and calls `daemon.registry.cases` to change cases and queue mail. It never commits:
the pipeline runner commits the whole message's work at once.
"""

from ...registry import sql
from ...registry.models import Case
from ..verdict import AUTOMATIC, CITIZEN_FORM, NEW_REPORT, NHN_MAIL, NOT_MAIL, OWN_MAIL, REPLY, UNCLASSIFIABLE
from . import automatic, citizen, incident, unclassified


class DeadLetter(Exception):
    """The message cannot be processed; it is marked failed with this reason and kept."""


def _not_mail(session, rt, message, mail, verdict):
    raise DeadLetter(verdict.reason)


def _reply(session, rt, message, mail, verdict):
    case = sql.get(session, Case, verdict.case_id)
    handler = citizen.reply if case.kind == "citizen_form" else incident.reply
    handler(session, rt, message, mail, verdict)


HANDLERS = {
    NOT_MAIL: _not_mail,
    OWN_MAIL: automatic.record,
    AUTOMATIC: automatic.record,
    REPLY: _reply,
    NHN_MAIL: incident.nhn_mail,
    NEW_REPORT: incident.new_report,
    CITIZEN_FORM: citizen.new_form,
    UNCLASSIFIABLE: unclassified.record,
}


def apply(session, rt, message, mail, verdict) -> None:
    HANDLERS[verdict.kind](session, rt, message, mail, verdict)
