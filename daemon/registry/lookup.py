"""Read-only views the pipeline's rules ask of the registry: which case a mail belongs to, and
who takes part in a case.

Decides threading, and so what an outsider can reach. A mail joins a case when it answers one of
our own Message-IDs (their HMAC token proves the sender saw our mail) or was sent to a handler's
command address for it; a `[SAK-YYYY-NNNNNN]` tag in the subject, or an In-Reply-To/References
naming any stored Message-ID, joins it only when the sender takes part in the case (its
reporter, an address of an involved actor, NHN for a case NHN has). Anything else is not linked
(a new report, where the rules make it one): a stranger who writes a case's number learns
nothing and changes nothing. Never writes.
"""

from __future__ import annotations

import functools
import re

from sqlalchemy import bindparam
from sqlmodel import Session, select

from ..config import without_plus
from .tokens import Tokens
from .models import Case, CaseActor, CitizenForm, Message
from . import sql
from .sql import Prepared

CASE_TAG = re.compile(r"\[(SAK-\d{4}-\d{6})\]")


def involved_actors(session: Session, config, case: Case) -> list[str]:
    """The ids of the actors involved in CASE: this organisation, the lead, the owner and the
    answering actor of a citizen case, and every working-group member and vendor."""
    ids = [config.identity.actor, case.lead_actor, case.owner_actor, case.answering_actor]
    ids += [actor_id for (actor_id,) in _ACTORS_OF.all(session, {"case_id": case.id})]
    return [i for i in dict.fromkeys(ids) if i]


_CASE_ACTORS = CaseActor.__table__
_ACTORS_OF = Prepared(lambda: select(_CASE_ACTORS.c.actor_id).where(_CASE_ACTORS.c.case_id == bindparam("case_id")))


def takes_part(session: Session, config, case: Case, address: str) -> bool:
    """Whether ADDRESS takes part in CASE: its reporter (or the citizen's reply address), a
    contact, handler or local support address of an involved actor, or NHN's (a sender domain
    or the intake) once the case is NHN's too."""
    address = without_plus((address or "").strip().lower())
    if not address:
        return False
    if address == (case.reporter or "").lower():
        return True
    for actor_id in involved_actors(session, config, case):
        actor = config.actor_by_id(actor_id)
        if actor and address in actor.addresses():
            return True
    if (case.escalated_at or case.nhn_reference) and config.is_nhn_sender(address):
        return True
    if case.kind == "citizen_form":
        form = sql.get(session, CitizenForm, case.id)
        if form is not None and address in {(form.reply_address or "").lower(), (form.email or "").lower()}:
            return True
    return False


def case_for_reference(session: Session, reference: str | None) -> str | None:
    """The case that carries NHN's REFERENCE (one case per fault across organisations), or None."""
    if not reference:
        return None
    return session.exec(select(Case.id).where(Case.nhn_reference == reference).order_by(Case.created_at)).first()


class Lookup:
    def __init__(self, session: Session, config, tokens: Tokens):
        self.session = session
        self.config = config
        self.tokens = tokens
        self._found: dict[int, tuple[str | None, str]] = {}

    def case_exists(self, case_id: str) -> bool:
        return sql.get(self.session, Case, case_id) is not None

    def case_of(self, mail) -> str | None:
        """The case MAIL belongs to (see the module's docstring), or None."""
        return self.linked(mail)[0]

    def linked(self, mail) -> tuple[str | None, str]:
        """(the case MAIL belongs to, how it was linked), worked out once for each mail."""
        key = id(mail)
        if key not in self._found:
            self._found[key] = self._link(mail)
        return self._found[key]

    def _link(self, mail) -> tuple[str | None, str]:
        for mid in mail.thread_ids:
            case_id = self.tokens.case_of(mid)
            if case_id and self.case_exists(case_id):
                return case_id, "our Message-ID in In-Reply-To/References"
        for rcpt in (*mail.to, *mail.cc, *mail.envelope_rcpts):
            case_id = self.tokens.command_case(rcpt, mail.from_addr)
            if case_id and self.case_exists(case_id):
                return case_id, "the handler's command address"
        for case_id in CASE_TAG.findall(mail.subject or ""):
            if self._takes_part(case_id, mail.from_addr):
                return case_id, "case tag in subject"
        ids = mail.thread_ids[:THREAD_IDS]
        if ids:
            case_id = _case_of_message_ids(len(ids)).scalar(self.session, sql.one_of_params(ids))
            if case_id and self._takes_part(case_id, mail.from_addr):
                return case_id, "In-Reply-To/References"
        return None, ""

    def _takes_part(self, case_id: str, address: str) -> bool:
        case = sql.get(self.session, Case, case_id)
        return case is not None and takes_part(self.session, self.config, case, address)


THREAD_IDS = 50  # of a mail's In-Reply-To and References, the first this many are looked up


@functools.cache
def _case_of_message_ids(n: int) -> Prepared:
    """The case of any stored message whose Message-ID is one of N given ones."""
    return Prepared(lambda: select(Message.case_id).where(
        sql.one_of(Message.message_id, n), Message.case_id.is_not(None)).limit(1))
