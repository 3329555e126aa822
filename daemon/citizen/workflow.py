"""The citizen workflow's decisions: a form becomes a case, placed with its source, receipted,
and closed when it has been answered by post.

- Whoever receives an inquiry answers it: `answering_actor` is this organisation
  (`[identity].actor`). The source that holds the record owns it (`owner_actor`): the first
  `[[citizen.route]]` whose `match` is found (as a word, ignoring case) in the form's institution
  field, else in a recipient address, else in the body. What the table cannot place goes to
  `[citizen].default_owner` and is flagged `unrouted`; a form that could not be read fully is
  flagged `needs_completion`. Both still become cases, with the raw mail kept.
- The same form again (the same identity number, or name and e-mail without one; the same type
  and text) within `[citizen].duplicate_window_hours` is linked to the first case: no new case,
  no second receipt.
- Nothing sent to a citizen carries health information, an identity number or an echo of what
  they wrote: their receipt has the case number, the deadline and, for blocking, the referral to
  Veiledning Helsenorge. Other actors get the case number, the form type and the handler's own
  words, never the form's fields or free text. The answer itself goes by post.
- A case closes when a handler records the answer by post. A refusal needs a reason and the
  notice of the right to complain to the Statsforvalter; blocking needs the source's
  confirmation first.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, select

from .. import pii
from ..registry import cases, states, store
from ..registry.models import Case, CitizenForm, Message, as_utc, utcnow
from .deadlines import OSLO, NotAllowed, deadline_for, nb_date, title
from .forms import FIELD_KEYS, FormReading, extract_fields, missing_fields, pdf_text, read_form
from .notices import UNKNOWN, context, intake

FIELD_COLUMNS = ("identity_number", "name", "address", "phone", "email", "institution", "period", "free_text")
LOG_FORMS = ("access_log", "lookup_question")
GUIDANCE = "Veiledning Helsenorge"
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_NO_REPLY = re.compile(r"^(?:no-?reply|do-?not-?reply|ikke-?svar|ikkesvar|svar-?ikke)(?:[+._-][^@]*)?@", re.I)


@dataclass(frozen=True)
class Placement:
    owner: str | None
    routed_by: str  # institution | recipient | body | default
    match: str = ""


@dataclass
class Submission:
    """A form as it arrived, by mail or on paper."""

    reading: FormReading
    channel: str  # email | post
    received: date
    submitted_at: datetime
    reply_address: str  # the citizen's e-mail for the receipt, "" for none
    recipients: list[str]
    body: str
    who: str


# -- placing, addressing, recognising the same form again --------------------------------------

def place(config, institution: str, recipients: list[str], body: str) -> Placement:
    """The source actor that owns a form, by the routing table; else the default owner."""
    for routed_by, texts in (("institution", [institution]), ("recipient", recipients), ("body", [body])):
        for route in config.citizen.route:
            word = re.compile(r"(?<!\w)" + re.escape(route.match.strip()) + r"(?!\w)", re.IGNORECASE)
            if any(word.search(text or "") for text in texts):
                return Placement(route.owner, routed_by, route.match)
    return Placement(config.citizen.default_owner or config.identity.actor or None, "default")


def _ours(config) -> set[str]:
    return {a.lower() for a in (config.identity.address, config.citizen.log_followup_address,
                                *(a.email for a in config.address)) if a}


def is_no_reply(config, address: str) -> bool:
    address = address.lower()
    return bool(_NO_REPLY.match(address)) or address in (s.lower() for s in config.citizen.no_reply_senders)


def citizen_address(config, sender: str, form_email: str, *, automatic: bool) -> str:
    """Where the citizen's receipt goes: the sender, or the form's E-post field when a system
    (helsenorge.no's no-reply) sent it. "" when there is no usable address."""
    use_sender = sender and not automatic and not is_no_reply(config, sender)
    address = (sender if use_sender else form_email or "").strip().lower()
    if not _EMAIL.match(address) or address in _ours(config) or is_no_reply(config, address):
        return ""
    return address


def duplicate_key(form_type: str | None, fields: dict, reply_address: str) -> str:
    """What makes two submissions the same form; "" when the citizen cannot be told apart."""
    who = fields.get("identity_number", "")
    if not who:
        name = " ".join(fields.get("name", "").split()).casefold()
        email = (fields.get("email") or reply_address).strip().lower()
        if not (name and email):
            return ""
        who = f"{name}|{email}"
    text = " ".join(fields.get("free_text", "").split()).casefold()
    return hashlib.sha256(f"{who}\0{form_type or ''}\0{text}".encode()).hexdigest()


def find_duplicate(session: Session, config, key: str, submitted_at: datetime) -> CitizenForm | None:
    if not key:
        return None
    cutoff = as_utc(submitted_at) - timedelta(hours=config.citizen.duplicate_window_hours)
    return session.exec(select(CitizenForm).where(CitizenForm.duplicate_key == key,
                                                  CitizenForm.submitted_at >= cutoff)
                        .order_by(CitizenForm.submitted_at).limit(1)).first()


def _flags(current: str, **wanted: bool) -> str:
    flags = [f for f in current.split(",") if f]
    for flag, on in wanted.items():
        if on and flag not in flags:
            flags.append(flag)
        elif not on and flag in flags:
            flags.remove(flag)
    return ",".join(flags)


# -- registering -------------------------------------------------------------------------------

def register(session: Session, rt, message: Message, sub: Submission) -> tuple[Case, bool]:
    """Open the case for a form, with its receipt and notices; or link it to the case of the
    same form. Returns the case and whether it was linked."""
    config = rt.config
    reading, fields = sub.reading, sub.reading.fields
    key = duplicate_key(reading.form_type, fields, sub.reply_address)
    earlier = find_duplicate(session, config, key, sub.submitted_at)
    if earlier is not None:
        case = session.get(Case, earlier.case_id)
        cases.attach_message(session, case, message, who=sub.who, action="duplicate_received",
                             detail={"linked_to": case.id, "channel": sub.channel,
                                     "reason": "the same citizen, form and text within "
                                               f"{config.citizen.duplicate_window_hours:g} hours"})
        return case, True
    placement = place(config, fields.get("institution", ""), sub.recipients, sub.body)
    deadline = deadline_for(config, reading.form_type, sub.received)
    case = cases.open_case(
        session, "citizen_form", who=sub.who, message_pk=message.id,
        reporter=sub.reply_address, reporter_name=fields.get("name", "")[:200], subject=title(reading.form_type),
        form_type=reading.form_type or UNKNOWN, owner_actor=placement.owner, answering_actor=config.identity.actor or None,
        received_at=sub.received, deadline=deadline,
        flags=_flags("", needs_completion=not reading.complete, unrouted=placement.routed_by == "default"),
    )
    form = CitizenForm(channel=sub.channel, reply_address=sub.reply_address, submitted_at=as_utc(sub.submitted_at),
                       duplicate_key=key, routed_by=placement.routed_by, original_deadline=deadline,
                       missing=",".join(reading.missing), fields_json=json.dumps(fields, ensure_ascii=False),
                       **{k: fields.get(k, "") for k in FIELD_COLUMNS})
    cases.add_form(session, case, form, who=sub.who, message_pk=message.id)
    cases.attach_message(session, case, message, who=sub.who)
    cases.transition(session, case, states.OPEN, reason="registered")
    cases.note(session, case, "routed" if placement.owner and placement.routed_by != "default" else "unrouted",
               detail={"owner": placement.owner, "by": placement.routed_by, "match": placement.match})
    if reading.form_type == "blocking":
        cases.note(session, case, "referred_to_guidance",
                   detail={"service": GUIDANCE, "phone": config.citizen.guidance_phone,
                           "told_by": "receipt" if sub.reply_address else "letter"})
    if sub.reply_address:
        cases.send(session, rt, case, "citizen_receipt",
                   {"deadline": nb_date(deadline), "received": nb_date(sub.received),
                    "blocking": reading.form_type == "blocking", "guidance_phone": config.citizen.guidance_phone},
                   to=[sub.reply_address], purpose="citizen_receipt", reply_to_message=message)
    elif sub.channel == "email":
        cases.note(session, case, "receipt_not_sent", detail={"reason": "no e-mail address of the citizen"})
    if reading.form_type in LOG_FORMS and config.citizen.log_followup_address:
        _tell_log_followup(session, rt, case)
    intake(session, rt, case, form)
    return case, False


def field_arguments(pairs: list[str]) -> dict[str, str]:
    """`--field KEY=VALUE` pairs: the canonical keys, or the form's own labels (`Fødselsnummer=...`)."""
    fields: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise NotAllowed(f"--field {pair!r}: expected KEY=VALUE")
        got = {key: value} if key in FIELD_KEYS else extract_fields(f"{key}: {value}")
        if "identity_number_invalid" in got or "identity_number" in got:
            number = pii.normalise_identity_number(got.pop("identity_number", ""))
            if number is None:
                raise NotAllowed(f"--field {key}: not a valid identity number")
            got = {"identity_number": number}
        if len(got) != 1 or next(iter(got)) not in FIELD_KEYS:
            raise NotAllowed(f"--field {key}: unknown field (known: {', '.join(FIELD_KEYS)})")
        fields.update(got)
    return fields


def register_paper(session: Session, rt, *, form_type: str, received: date, fields: dict[str, str],
                   scan: tuple[str, bytes] | None, who: str, today_: date) -> tuple[Case, bool]:
    """A form that came by post: its scan (read like a mail's PDF) and the fields typed in."""
    if received > today_:
        raise NotAllowed(f"--received {received.isoformat()} is in the future")
    attachments = [(scan[0], "application/pdf", scan[1])] if scan else []
    scanned = read_form("", "", attachments).fields if scan else {}
    merged = {**scanned, **fields}
    text = "\n".join(f"{k}: {v}" for k, v in merged.items())
    registration = json.dumps({"type": form_type, "received": received.isoformat(), "fields": fields},
                              ensure_ascii=False, sort_keys=True).encode()
    raw = scan[1] if scan else registration
    if store.find_document(session, registration + raw) is not None:
        raise NotAllowed("this paper form is already registered")
    message = store.record_document(
        session, raw, identity=registration + raw, source="paper", subject=f"Papirskjema: {title(form_type)}",
        text=text, filename=scan[0] if scan else "", content_type="application/pdf" if scan else "")
    missing = missing_fields(form_type, merged)
    reading = FormReading(form_type, merged, missing, complete=not missing)
    submitted = datetime.combine(received, time(12), OSLO)
    return register(session, rt, message, Submission(
        reading=reading, channel="post", received=received, submitted_at=submitted, reply_address="",
        recipients=[], body=pdf_text(scan[1]) if scan else "", who=who))


def complete(session: Session, rt, case: Case, form: CitizenForm, *, form_type: str | None,
             fields: dict[str, str], who: str) -> list[str]:
    """Fill in what a handler read by hand (type, fields); returns what is still missing."""
    values = {**json.loads(form.fields_json or "{}"), **fields}
    new_type = form_type or case.form_type
    missing = missing_fields(new_type, values)
    form_changes = {"fields_json": json.dumps(values, ensure_ascii=False), "missing": ",".join(missing),
                    **{k: v for k, v in fields.items() if k in FIELD_COLUMNS}}
    case_changes = {"flags": _flags(case.flags, needs_completion=bool(missing) or new_type in (None, UNKNOWN))}
    if new_type != case.form_type:
        case_changes.update(form_type=new_type, subject=title(new_type))
        if not form.extension_months and case.received_at:
            case_changes["deadline"] = form_changes["original_deadline"] = \
                deadline_for(rt.config, new_type, case.received_at)
    if "unrouted" in case.flags and fields.get("institution"):
        placement = place(rt.config, fields["institution"], [], "")
        if placement.routed_by != "default":
            case_changes.update(owner_actor=placement.owner, flags=_flags(case_changes["flags"], unrouted=False))
            form_changes["routed_by"] = placement.routed_by
    old_type, old_owner = case.form_type, case.owner_actor
    cases.change(session, case, on=form, who=who, action="form_completed", **form_changes)
    cases.change(session, case, who=who, action="form_completed", **case_changes)
    if new_type in LOG_FORMS and old_type not in LOG_FORMS and rt.config.citizen.log_followup_address:
        _tell_log_followup(session, rt, case)
    if case.owner_actor != old_owner:
        intake(session, rt, case, form)
    return missing


def _tell_log_followup(session: Session, rt, case: Case) -> None:
    cases.send(session, rt, case, "log_followup_notice", context(rt.config, case),
               to=[rt.config.citizen.log_followup_address], purpose="log_followup_notice",
               auto_submitted="auto-generated")


# -- acting on a case --------------------------------------------------------------------------

def set_owner(session: Session, rt, case: Case, actor_id: str, reason: str, *, who: str,
              message_pk: int | None = None) -> None:
    if not reason:
        raise NotAllowed("bytte av eier krever en begrunnelse: #eier AKTØR BEGRUNNELSE")
    changed = cases.change(session, case, who=who, message_pk=message_pk, action="owner_changed", reason=reason,
                           owner_actor=actor_id, flags=_flags(case.flags, unrouted=False))
    if "owner_actor" in changed:
        intake(session, rt, case, form_of(session, case))  # the new owner is told, as at intake


def confirm_source(session: Session, rt, case: Case, form: CitizenForm, text: str, *, who: str,
                   message_pk: int | None = None) -> None:
    """The source's word on a blocking request: what was needed (privacy settings or its action)."""
    if case.form_type != "blocking":
        raise NotAllowed("kildens bekreftelse gjelder bare sperring")
    owner = rt.config.actor_by_id(case.owner_actor) if case.owner_actor else None
    if owner is not None and who.lower() not in (h.lower() for h in owner.handlers):
        raise NotAllowed(f"bare saksbehandlere hos kilden ({owner.name}) kan bekrefte sperringen")
    cases.change(session, case, on=form, who=who, message_pk=message_pk, action="source_confirmed",
                 source_confirmed_at=utcnow(), source_confirmation=text)


def record_refusal(session: Session, case: Case, form: CitizenForm, *, refused: bool = False, reason: str = "",
                   statsforvalter_notice: bool = False, who: str, message_pk: int | None = None) -> None:
    """What a refusal needs on record: that it is one, its reason, and that the answer tells the
    citizen of the right to complain to the Statsforvalter."""
    values: dict = {}
    if refused or reason:
        values["refused"] = True
    if reason:
        values["refusal_reason"] = reason
    if statsforvalter_notice:
        values["statsforvalter_notice"] = True
    cases.change(session, case, on=form, who=who, message_pk=message_pk, action="refusal_recorded", **values)


def answer(session: Session, rt, case: Case, form: CitizenForm, *, on: date, who: str, today_: date,
           message_pk: int | None = None, refused: bool = False, reason: str = "",
           statsforvalter_notice: bool = False) -> None:
    """The answer went by post on ON: record it and close the case (the one way to close one)."""
    if case.state == states.CLOSED:
        raise NotAllowed("saken er allerede lukket")
    if on > today_:
        raise NotAllowed(f"svardatoen {nb_date(on)} er fram i tid")
    if case.received_at and on < case.received_at:
        raise NotAllowed(f"svardatoen {nb_date(on)} er før henvendelsen kom inn ({nb_date(case.received_at)})")
    if case.form_type == "blocking" and form.source_confirmed_at is None:
        raise NotAllowed("sperringen er ikke bekreftet av kilden ennå (#bekreftet TEKST fra kildens "
                         "saksbehandler); saken er fortsatt åpen")
    is_refusal = refused or bool(reason) or form.refused
    if is_refusal and not ((reason or form.refusal_reason) and (statsforvalter_notice or form.statsforvalter_notice)):
        raise NotAllowed("et avslag krever en begrunnelse (#avslag BEGRUNNELSE) og at svaret opplyser om "
                         "retten til å klage til Statsforvalteren (#klagerett); saken er ikke lukket")
    if refused or reason or statsforvalter_notice:
        record_refusal(session, case, form, refused=refused, reason=reason,
                       statsforvalter_notice=statsforvalter_notice, who=who, message_pk=message_pk)
    cases.change(session, case, on=form, who=who, message_pk=message_pk, action="answered_by_post",
                 answered_on=on, answered_by="post")
    in_time = case.deadline is None or on <= case.deadline
    cases.transition(session, case, states.CLOSED, who=who, message_pk=message_pk,
                     reason=f"besvart per post {nb_date(on)}{' (avslag)' if is_refusal else ''}"
                            f"{'' if in_time else ', etter fristen'}")


def _quotes_the_form(text: str, free_text: str) -> bool:
    """Whether TEXT repeats the form's free text (whole, or a line of it of some length)."""
    folded = " ".join(text.split()).casefold()
    whole = " ".join(free_text.split()).casefold()
    if whole and whole in folded:
        return True
    return any(len(line) >= 30 and line in folded
               for line in (" ".join(raw.split()).casefold() for raw in free_text.splitlines()))


def ask_actor(session: Session, rt, case: Case, form: CitizenForm, actor_id: str, question: str, *,
              who: str, message_pk: int | None = None) -> str:
    """Mail another actor's contact point a question about the case; returns the address."""
    actor = rt.config.actor_by_id(actor_id) or next(
        (a for a in rt.config.actor if a.id.lower() == actor_id.lower()), None)
    if actor is None:
        known = ", ".join(a.id for a in rt.config.actor) or "ingen"
        raise NotAllowed(f"ukjent aktør {actor_id!r} (kjente: {known})")
    if not actor.contact or actor.contact.lower() in _ours(rt.config):
        raise NotAllowed(f"{actor.id} har ikke et eget kontaktpunkt (contact) å spørre")
    if not question.strip():
        raise NotAllowed("mangler spørsmål: #spør AKTØR SPØRSMÅL")
    if _quotes_the_form(question, form.free_text):
        raise NotAllowed("spørsmålet gjengir innbyggerens egen tekst; den sendes ikke på e-post")
    cases.note(session, case, "actor_asked", who=who, message_pk=message_pk,
               detail={"actor": actor.id, "to": actor.contact})
    cases.send(session, rt, case, "actor_question",
               {**context(rt.config, case), "actor": actor.name, "question": question.strip()},
               to=[actor.contact], purpose="actor_question", auto_submitted=None, who=who)
    return actor.contact


def questions_asked(session: Session, case: Case) -> list[Message]:
    return list(session.exec(select(Message).where(Message.case_id == case.id, Message.direction == "out",
                                                   Message.classification == "actor_question")))


def answers_a_question(session: Session, case: Case, mail) -> bool:
    """Whether MAIL is another actor's answer to one of our questions on CASE."""
    asked = questions_asked(session, case)
    ids = {q.message_id for q in asked}
    asked_addresses = {a for q in asked for a in q.rcpt_tos.split(",") if a}
    return bool(ids & set(mail.thread_ids)) or mail.from_addr.lower() in asked_addresses


def form_of(session: Session, case: Case) -> CitizenForm:
    form = session.get(CitizenForm, case.id)
    if form is None:  # a citizen case opened before forms were recorded: an empty one to fill in
        form = CitizenForm(case_id=case.id, original_deadline=case.deadline)
        cases.add_form(session, case, form, who="system")
    return form
