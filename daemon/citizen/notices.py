"""Who in the answering organisation hears of a citizen case, and what they are told.

The owner of a case is in charge of its answer. Its people are this organisation's handlers
(else its contact point) when the owner is this organisation (`[identity].actor`), and the
routed actor's contact point (else its handlers) when it is another source: that is the address
its own routine reads. They get

- an intake notice when the case opens: the case number, the form type, the deadline and
  where the form can be read, never the form's content (a form whose type could not be told
  goes to this organisation's handlers too, who set it with `#skjema TYPE`);
- a follow-up notice when the citizen writes again or an actor answers our question: that it
  came and where to read it, never what it says;
- the deadline reminders (`deadlines`), which also go to the owner's handlers by name.

Nothing here carries an identity number, a name or what anyone wrote about the citizen.
"""

from __future__ import annotations

from sqlmodel import Session

from ..config import FORM_TYPES
from ..registry import cases
from ..registry.models import Case, CitizenForm, Message
from .deadlines import NotAllowed, local_date, nb_date, title

UNKNOWN = "unknown"  # the form_type of a form whose type could not be told

#: What a handler may write after `#skjema`: the English ids and the forms' Norwegian names.
FORM_TYPE_WORDS = {
    **{t: t for t in FORM_TYPES},
    "kopi": "copy_of_record", "journalkopi": "copy_of_record", "innsyn": "copy_of_record",
    "tilgangslogg": "access_log", "logg": "access_log", "innsynslogg": "access_log",
    "sperring": "blocking", "sperre": "blocking",
    "endring": "correction", "retting": "correction", "sletting": "correction",
    "oppslag": "lookup_question", "spørsmål": "lookup_question", "sporsmal": "lookup_question",
}


def form_type_word(word: str) -> str:
    """The form type a handler named (`#skjema tilgangslogg`), or NotAllowed saying the choices."""
    found = FORM_TYPE_WORDS.get(word.strip().lower())
    if found is None:
        raise NotAllowed(f"ukjent skjematype {word!r}: skriv kopi, tilgangslogg, sperring, endring eller "
                         f"oppslag ({', '.join(FORM_TYPES)})")
    return found


def _dedupe(addresses) -> list[str]:
    return list(dict.fromkeys(a.lower() for a in addresses if a))


def _actor(config, actor_id: str | None):
    return config.actor_by_id(actor_id) if actor_id else None


def is_ours(config, case: Case) -> bool:
    return (case.owner_actor or config.identity.actor) == config.identity.actor


def owner_people(config, case: Case) -> list[str]:
    """Where the owner of CASE is told of it (see the module docstring)."""
    owner = _actor(config, case.owner_actor or config.identity.actor)
    if owner is None:
        return []
    if is_ours(config, case):
        return _dedupe(list(owner.handlers) or [owner.contact])
    return _dedupe([owner.contact] if owner.contact else owner.handlers)


def reminder_people(config, case: Case) -> list[str]:
    """The owner's people and, by name, the owner's handlers (who may answer with commands)."""
    owner = _actor(config, case.owner_actor or config.identity.actor)
    return _dedupe([*owner_people(config, case), *(owner.handlers if owner else ())])


def our_handlers(config) -> list[str]:
    ours = _actor(config, config.identity.actor)
    return _dedupe(list(ours.handlers) or [ours.contact]) if ours else []


def context(config, case: Case) -> dict:
    """What every notice to the owner may say: names, dates and where the form is read."""
    def name(actor_id):
        actor = _actor(config, actor_id)
        return actor.name if actor else (actor_id or "ikke satt")
    answering = _actor(config, case.answering_actor or config.identity.actor)
    return {"title": title(case.form_type), "deadline": nb_date(case.deadline), "received": nb_date(case.received_at),
            "owner": name(case.owner_actor), "answering": name(case.answering_actor),
            "ours": is_ours(config, case), "unknown_type": case.form_type in (None, UNKNOWN),
            "answering_phone": answering.phone if answering else "",
            "routine": config.citizen.answer_routine}


def intake(session: Session, rt, case: Case, form: CitizenForm) -> None:
    """Tell the owner a case is theirs; a form of unknown type also to this organisation's handlers."""
    config = rt.config
    to = owner_people(config, case)
    if case.form_type in (None, UNKNOWN):
        to = _dedupe([*to, *our_handlers(config)])
    if not to:
        cases.note(session, case, "owner_not_told", detail={"reason": f"no contact or handlers for {case.owner_actor!r}"})
        return
    cases.send(session, rt, case, "owner_intake_notice", {**context(config, case), "channel": form.channel},
               to=to, purpose="owner_intake_notice", auto_submitted="auto-generated")


def followup(session: Session, rt, case: Case, message: Message, *, kind: str, sender: str) -> None:
    """Tell the owner's people that the citizen wrote again (KIND "message") or an actor
    answered our question (KIND "actor_answer"); not the one who wrote it."""
    config = rt.config
    form = session.get(CitizenForm, case.id)
    sender = (sender or "").lower()
    citizen = {a.lower() for a in (form.reply_address, form.email) if a} if form else set()
    to = [a for a in owner_people(config, case) if a != sender]
    if not to:
        return
    actor = next((a for a in config.actor if sender and sender in
                  {x.lower() for x in (a.contact, *a.handlers) if x}), None)
    who = ("innbyggeren" if sender in citizen else actor.name if actor else "en annen avsender")
    cases.send(session, rt, case, "case_followup_notice",
               {**context(config, case), "kind": kind, "who": who, "arrived": nb_date(
                   local_date(message.received_at) if message.received_at else None)},
               to=to, purpose="owner_followup_notice", auto_submitted="auto-generated")
