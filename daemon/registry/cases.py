"""The one module that changes cases. Every change writes its audit event in the same session.

Decides how a change is recorded, not whether it is wise: the pipeline's handlers and the
command line decide what to do and call these functions; nothing else writes `Case`,
`CitizenForm`, `CaseActor` or `AuditEvent` rows. Mail a change causes is composed and queued
here too (`send`), so the change, its audit event and its outbound mail commit together or not at all.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import bindparam, insert, inspect, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from . import outbox
from ..rfc5322 import is_address
from . import limits, sql, states, transaction
from .models import AuditEvent, Case, CaseActor, CaseCounter, CitizenForm, Message, as_written, row_values, utcnow


_DETAIL = json.JSONEncoder(ensure_ascii=False, default=str, sort_keys=True)  # built once, not per event


def _json(detail: dict | None) -> str:
    return _DETAIL.encode(detail or {})


def audit(session: Session, case: Case, action: str, *, who: str = "system",
          detail: dict | None = None, message_pk: int | None = None) -> None:
    """Record ACTION on CASE, whose row must be written already, in this transaction. The
    registry's one hook (`transaction.py`, SQLAlchemy's `before_commit`) writes the
    transaction's events in one INSERT, and each case's `updated_at` (the time of its last
    event) in one UPDATE, just before the commit: together with the change or nothing."""
    now = utcnow()
    transaction.audit_event(session, row_values(
        AuditEvent, case_id=case.id, action=action, who=who or "system", detail=_json(detail),
        message_pk=message_pk, at=now), case.id, now)
    if inspect(case).session is not session:  # read in another session: joins this one
        session.add(case)
    set_committed_value(case, "updated_at", now)  # written with the events
    transaction.written(session, case)


def next_case_id(session: Session, now: datetime | None = None) -> str:
    """SAK-YYYY-NNNNNN: the next number in this year's series, safe across processes."""
    year = (now or utcnow()).year
    with session.no_autoflush:  # the counter depends on no pending row: don't flush for it
        return _next_number(session, year)


_COUNTERS = CaseCounter.__table__
_NEXT_NUMBER = sql.Prepared(lambda: update(_COUNTERS).where(_COUNTERS.c.year == bindparam("counter_year"))
                            .values(last=_COUNTERS.c.last + 1).returning(_COUNTERS.c.last))


def _next_number(session: Session, year: int) -> str:
    for _ in range(3):
        got = _NEXT_NUMBER.scalar(session, {"counter_year": year})
        if got is not None:
            return f"SAK-{year}-{got:06d}"
        try:
            with session.begin_nested():
                session.connection().execute(insert(_COUNTERS).values(year=year, last=1))
            return f"SAK-{year}-{1:06d}"
        except IntegrityError:
            continue  # another process created this year's counter first
    raise RuntimeError("could not allocate a case number")


def open_case(session: Session, kind: str, *, who: str, message_pk: int | None = None,
              now: datetime | None = None, **fields) -> Case:
    """Create a case in state `new`, with its first audit event."""
    row = row_values(Case, id=next_case_id(session, now), kind=kind, state=states.NEW, **fields)
    if now is not None:
        row["created_at"] = row["updated_at"] = now
    # Its row is written now, before the rows that refer to it; the object then joins the
    # session as the persistent row it is (a flush of the unit of work here would also write
    # everything else pending, and cost more than the rest of opening).
    sql.insert_row(session, Case, row)
    case = as_written(session, Case, row)
    transaction.written(session, case, inserted=True)
    audit(session, case, "opened", who=who, message_pk=message_pk,
          detail={"kind": kind, **{k: v for k, v in fields.items() if v not in (None, "")}})
    return case


def transition(session: Session, case: Case, target: str, *, who: str = "system",
               reason: str = "", message_pk: int | None = None) -> None:
    """Move CASE to TARGET if the state machine allows it; audit the move."""
    if case.state == target:
        return
    states.check(case.state, target)
    before = case.state
    values = {"state": target}
    now = utcnow()
    if target == states.CLOSED:
        values["closed_at"] = now
    elif target == states.RESOLVED:
        values["resolved_at"] = now
    elif before in (states.CLOSED, states.RESOLVED):
        values["closed_at"] = values["resolved_at"] = None
    sql.write(session, case, **values)
    audit(session, case, "state_changed", who=who, message_pk=message_pk,
          detail={"from": before, "to": target, **({"reason": reason} if reason else {})})


def change(session: Session, case: Case, *, who: str = "system", reason: str = "",
           message_pk: int | None = None, action: str = "changed", on=None, **values) -> dict:
    """Set attributes of CASE (not its state), or of ON, a row that belongs to the case (its
    `CitizenForm`); audit what actually changed on the case. Returns the changes."""
    target = case if on is None else on
    if on is not None and getattr(on, "case_id", None) != case.id:
        raise ValueError("ON must be a row of this case")
    if "state" in values or "id" in values or "case_id" in values:
        raise ValueError("use transition() for the state; a case's id never changes")
    changes = {key: {"from": old, "to": new} for key, (old, new) in sql.write(session, target, **values).items()}
    if changes:
        detail = {**changes, **({"reason": reason} if reason else {})}
        audit(session, case, action, who=who, message_pk=message_pk, detail=detail)
    return changes


def add_form(session: Session, case: Case, form: CitizenForm, *, who: str,
             message_pk: int | None = None) -> None:
    """Record what a citizen's form says on its case (one per case)."""
    form.case_id = case.id
    sql.insert_object(session, form)
    audit(session, case, "form_recorded", who=who, message_pk=message_pk,
          detail={"channel": form.channel, "fields": sorted(k for k in json.loads(form.fields_json or "{}")),
                  "missing": [m for m in form.missing.split(",") if m]})


def attach_message(session: Session, case: Case, message: Message, *, who: str = "",
                   action: str = "message_received", detail: dict | None = None) -> None:
    """Record MESSAGE as part of CASE's thread."""
    sql.write(session, message, case_id=case.id)
    audit(session, case, action, who=who or message.from_addr or "unknown", message_pk=message.id,
          detail={"subject": message.subject, **(detail or {})})


def note(session: Session, case: Case, action: str, *, who: str = "system",
         detail: dict | None = None, message_pk: int | None = None) -> None:
    """An audit event that changes no attribute (a refusal, a referral, a reminder sent)."""
    audit(session, case, action, who=who, detail=detail, message_pk=message_pk)


def add_actor(session: Session, case: Case, actor_id: str, role: str, *, who: str,
              message_pk: int | None = None) -> bool:
    existing = session.exec(select(CaseActor).where(CaseActor.case_id == case.id,
                                                    CaseActor.actor_id == actor_id)).first()
    if existing is not None and existing.role == role:
        return False
    if existing is None:
        sql.insert_object(session, CaseActor(case_id=case.id, actor_id=actor_id, role=role))
    else:
        sql.write(session, existing, role=role)
    audit(session, case, "actor_added", who=who, message_pk=message_pk,
          detail={"actor": actor_id, "role": role})
    return True


def working_group(session: Session, case: Case) -> list[CaseActor]:
    return list(session.exec(select(CaseActor).where(CaseActor.case_id == case.id)
                             .order_by(CaseActor.id)).all())


def send(session: Session, rt, case: Case | None, template: str, context: dict, *,
         to, purpose: str, cc=(), reply_to_message: Message | None = None,
         auto_submitted: str | None = "auto-replied", attachments=(), who: str = "system"):
    """Compose TEMPLATE and queue it in the outbox, in this transaction, with its audit event.

    Only valid addresses are written to (`rfc5322`); an automatic mail (AUTO_SUBMITTED set) goes
    to no address that has had `[limits] auto_mails_per_hour` of them in the last hour, and
    what is held back is recorded on the case. A mail to one recipient about a case carries that
    recipient's reply address (for a handler, the command address) as its Reply-To
    (`pipeline.proof`)."""
    wanted = [a for a in to if a]
    to = [a for a in wanted if is_address(a)]
    if case is not None and wanted and not to:
        audit(session, case, "mail_not_sent", who="system",
              detail={"purpose": purpose, "reason": "no valid recipient address"})
    if auto_submitted:
        allowed = [a for a in to if limits.take(session, rt.config, limits.AUTO_MAIL, a)]
        if case is not None and len(allowed) < len(to):
            audit(session, case, "mail_held", who="system",
                  detail={"purpose": purpose, "to": [a for a in to if a not in allowed],
                          "reason": f"[limits] auto_mails_per_hour ({rt.config.limits.auto_mails_per_hour})"})
        to = allowed
    if not to:
        return None
    in_reply_to, refs = None, []
    if reply_to_message is not None and reply_to_message.message_id:
        in_reply_to = reply_to_message.message_id
        refs = reply_to_message.references.split() if reply_to_message.references else []
    reply_to = ""
    if case is not None and len(to) == 1 and not cc:
        # the one recipient's own reply address: an answer sent to it from that address proves
        # that its sender reads that address's mail (a handler's commands, a role: `pipeline.proof`)
        reply_to = rt.tokens.command_address(rt.config.identity.address, to[0], case.id)
    composed = rt.renderer.compose(
        template, {"case": case, **context}, to=to, cc=cc,
        case_id=case.id if case else None,
        nhn_reference=case.nhn_reference if case else None,
        in_reply_to=in_reply_to, references=refs, auto_submitted=auto_submitted,
        attachments=attachments, reply_to=reply_to,
    )
    message_pk = outbox.enqueue(session, composed, case_id=case.id if case else None, purpose=purpose,
                                envelope_from=rt.config.identity.address)
    if case is not None:
        audit(session, case, "mail_queued", who=who, message_pk=message_pk,
              detail={"purpose": purpose, "to": list(composed.recipients),
                      "subject": composed.subject, "message_id": composed.message_id})
    return message_pk
