"""The pipeline runner: claim stored messages, parse, classify, apply, mark done or failed.

Decides how work is shared and how failure is contained. Messages are claimed in a short
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several daemons can share a registry;
SQLite serialises writers anyway), then processed in batches: the next batch is claimed and
handed to the parse helper (`parsers.py`) before the current one is applied, a batch is parsed
before any write transaction begins, then its messages are applied, and one bad message is
rolled back and dead-lettered (`status = failed`, with the reason) while the others go on
(`process_batch` says how). Each write transaction is a turn of the writer
(`registry/writer.py`), which first stores what the receivers handed over: a transaction
commits once it has taken `TRANSACTION_SECONDS`, or soon after a message waits to be stored
(`Writer.go_on`), and the rest of the batch goes on in the next one: the receiver must not wait
for case work before it can say `250`. A claim whose daemon died
expires after `[pipeline].claim_lease_seconds`; a message that has been claimed five times
without finishing is dead-lettered rather than retried forever. `reprocess` puts failed
messages back to `received`.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import timedelta

from sqlalchemy import Integer, bindparam, delete, or_, select, update
from sqlmodel import Session

from .. import attachments
from ..registry.db import read_only
from ..registry.lookup import Lookup
from ..registry.models import Attachment as AttachmentRow
from ..registry.models import Message, RawMessage, row_values, utcnow
from ..registry.sql import Prepared, load, one_of, one_of_params, stage, write
from ..registry.store import write_attachments
from . import handlers
from .classify import classify
from ..parse import headers_json, parse
from .parsers import Ahead
from .verdict import NEW_REPORT, NHN_MAIL, NOT_MAIL, REPLY, Verdict

_AGAIN = (NEW_REPORT, NHN_MAIL, REPLY)  # what a held message may be applied as again

log = logging.getLogger("sakspost.pipeline")
MAX_CLAIMS = 5
MAX_TEXT = 1_000_000
TRANSACTION_SECONDS = 0.02
BEHIND = 10  # messages claimed at once that say the pipeline has a backlog (a burst)


_TABLE = Message.__table__
# the waiting messages, oldest first, and a claim of N of them: built and compiled once
_WAITING = Prepared(lambda: select(_TABLE.c.id)
                    .where(_TABLE.c.direction == "in")
                    .where(or_(_TABLE.c.status == "received",
                               (_TABLE.c.status == "processing") & (_TABLE.c.claimed_at < bindparam("cutoff"))))
                    .order_by(_TABLE.c.id).limit(bindparam("limit", type_=Integer))
                    .with_for_update(skip_locked=True))


@functools.cache
def _claiming(n: int) -> Prepared:
    return Prepared(lambda: update(_TABLE).where(one_of(_TABLE.c.id, n))
                    .values(status="processing", claimed_at=bindparam("now"), attempts=_TABLE.c.attempts + 1))


def claim(rt, limit: int) -> list[int]:
    """Mark up to LIMIT waiting messages as ours; return their ids, oldest first."""
    now = utcnow()
    cutoff = now - timedelta(seconds=rt.config.pipeline.claim_lease_seconds)
    with rt.writer.transaction(serves=True) as session:
        ids = [pk for (pk,) in _WAITING.all(session, {"cutoff": cutoff, "limit": limit})]
        if ids:
            _claiming(len(ids)).run(session, {"now": now, **one_of_params(ids)}).close()
    return ids


def _record_parse(session: Session, message: Message, mail) -> tuple[str, ...]:
    """Stage what the parse found on MESSAGE (written with its outcome, in one UPDATE: the row,
    text and headers and all, was rewritten three times a message) and write its attachments;
    the staged columns."""
    values = {
        "subject": mail.subject[:998], "from_addr": mail.from_addr[:500],
        "in_reply_to": " ".join(mail.in_reply_to)[:2000], "references": " ".join(mail.references),
        "headers": headers_json(mail), "text": mail.text[:MAX_TEXT],
    }
    if not message.message_id:
        values["message_id"] = mail.message_id[:500]
    stage(session, message, **values)
    if message.attempts > 1:  # an earlier attempt may have got as far as this
        _DELETE_ATTACHMENTS.run(session, {"message_pk": message.id}).close()
    if mail.attachments:
        write_attachments(session, [
            row_values(AttachmentRow, message_pk=message.id, filename=att.filename,
                       content_type=att.content_type, size=len(att.data), data=att.data)
            for att in mail.attachments])
    return tuple(values)


_ATTACHMENTS = AttachmentRow.__table__
_DELETE_ATTACHMENTS = Prepared(lambda: delete(_ATTACHMENTS).where(
    _ATTACHMENTS.c.message_pk == bindparam("message_pk")))


def refusal(session: Session, message: Message, mail) -> str:
    """Why MESSAGE (parsed as MAIL, None if it has no raw copy to parse) is dead-lettered before
    anything is applied (given up on, nothing to read, or no mail at all), or "". Nothing has
    been written for it when this says so."""
    if message.attempts > MAX_CLAIMS:
        return f"gave up after {message.attempts - 1} unfinished attempts"
    if mail is None:
        return "no raw copy of this message is stored"
    if mail.not_mail:
        write(session, message, classification=NOT_MAIL)
        return mail.not_mail
    return ""


def process_one(session: Session, rt, message: Message, mail) -> str:
    """Classify and apply MESSAGE, parsed as MAIL, inside the caller's transaction; return the
    verdict kind."""
    mail.envelope_from = message.mail_from
    mail.roles = tuple(r for r in message.roles.split(",") if r)
    mail.envelope_rcpts = tuple(r for r in (message.rcpt_tos or "").split(",") if r)
    # Classified before the parse is recorded: the rules' lookups then find nothing of this
    # message waiting to be flushed, and its row is written in one UPDATE.
    verdict = classify(mail, Lookup(session, rt.config, rt.tokens))
    staged = _record_parse(session, message, mail)
    handlers.apply(session, rt, message, mail, verdict)
    write(session, message, also=staged, classification=verdict.kind, status="processed",
          processed_at=utcnow(), claimed_at=None)
    return verdict.kind


def apply_again(session: Session, rt, message: Message, case_id: str | None) -> str:
    """Apply MESSAGE once more, as accepted by a handler (`pipeline.roles`), in the caller's
    transaction: parsed again from its raw copy and handled as it was classified, on CASE_ID
    (None: as if no case were known). Its attachments and parse are stored already."""
    raw = session.exec(select(RawMessage.data).where(RawMessage.message_pk == message.id)).scalar()
    if raw is None:
        raise handlers.DeadLetter("no raw copy of this message is stored")
    mail = parse(raw)
    mail.envelope_from = message.mail_from
    mail.roles = tuple(r for r in message.roles.split(",") if r)
    mail.envelope_rcpts = tuple(r for r in (message.rcpt_tos or "").split(",") if r)
    mail.accepted = True
    kind = message.classification if message.classification in _AGAIN else REPLY
    handlers.apply(session, rt, message, mail, Verdict(kind, "accepted", "accepted by a handler", case_id))
    return kind


def process_batch(rt, ids: list[int], transaction_seconds: float = TRANSACTION_SECONDS,
                  ahead: Ahead | None = None) -> dict[int, str]:
    """Process IDS in as few short transactions as TRANSACTION_SECONDS allows; AHEAD is IDS as
    handed to the parse helper. Returns pk -> outcome.

    A transaction first applies its messages one after the other without savepoints (a
    savepoint per message is not free); if one of them fails,
    the whole transaction is rolled back and its messages are applied again, each in its own
    savepoint, so the one that fails is dead-lettered and the others go on as before."""
    outcome: dict[int, str] = {}
    parsed = rt.parsers.collect(rt.engine, ahead or Ahead(list(ids)))  # bounded (`daemon.parse`)
    to_read = [att for mail in parsed.values() for att in mail.attachments if attachments.takes_time(att)]
    if to_read:  # read before any transaction; meanwhile the writer's own thread stores for receivers
        with rt.writer.away():
            attachments.prepare(to_read)
    rows = _read_rows(rt.engine, ids)
    waiting = list(ids)
    while waiting:
        again = _transaction(rt, waiting, parsed, rows, outcome, transaction_seconds, savepoints=False)
        while again:
            _transaction(rt, again, parsed, rows, outcome, transaction_seconds, savepoints=True)
    if any(v != "failed" for v in outcome.values()):
        rt.wake_sender.set()
    return outcome


def _read_rows(engine, ids: list[int]) -> dict[int, Message]:
    """The batch's Message rows, read once, before any write transaction begins: each
    transaction takes the ones it applies into its session (reading them again for each of the
    short transactions of a burst would cost more than the batch's work). Rows written through
    keep their committed values, and a rolled-back transaction expires what it held, so an
    object taken again is either up to date or read again."""
    with read_only(engine).connect() as conn:
        return {m.id: m for m in load(conn, Message, ids)}


def _transaction(rt, waiting: list[int], parsed: dict, rows: dict[int, Message], outcome: dict[int, str],
                 seconds: float, *, savepoints: bool) -> list[int]:
    """Apply messages from the front of WAITING (taken off it) in one write transaction, until
    SECONDS have passed or the receiver has a message to store; record each one's outcome.
    Without SAVEPOINTS, a message that fails rolls the transaction back: the messages it had
    taken are returned, to be applied again with savepoints. Otherwise returns []."""
    taken: list[int] = []
    try:
        with rt.writer.transaction(serves=True) as session:
            started = time.monotonic()
            # the first message is always taken: the receiver has had its turn before this one
            while waiting and (not taken or rt.writer.go_on(started, seconds)):
                pk = waiting.pop(0)
                if pk in rows:
                    session.add(rows[pk])  # `session.get` finds it
                taken.append(pk)
                outcome[pk] = _apply_one(session, rt, pk, parsed.get(pk), savepoint=savepoints)
    except Exception:
        if savepoints:
            raise
        for pk in taken:
            outcome.pop(pk, None)
        log.info("a message failed in a transaction of %d; applying them again one by one", len(taken))
        return taken
    for pk in taken:
        parsed.pop(pk, None)
    return []


def _apply_one(session: Session, rt, pk: int, mail, *, savepoint: bool) -> str:
    """Apply message PK; without SAVEPOINT, an exception is the caller's to handle."""
    message = session.get(Message, pk)
    reason = refusal(session, message, mail)
    if reason:
        log.warning("message %s dead-lettered: %s", pk, reason)
        return _failed(session, message, reason)
    if not savepoint:
        return process_one(session, rt, message, mail)
    try:
        with session.begin_nested():
            return process_one(session, rt, message, mail)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, handlers.DeadLetter) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, handlers.DeadLetter):
            log.exception("message %s failed in the pipeline", pk)
        else:
            log.warning("message %s dead-lettered: %s", pk, reason)
        return _failed(session, session.get(Message, pk), reason)


def _failed(session: Session, message: Message, reason: str) -> str:
    write(session, message, status="failed", error=reason[:2000], claimed_at=None)
    return "failed"


def run_until_empty(rt, transaction_seconds: float = TRANSACTION_SECONDS) -> dict[int, str]:
    """Process every waiting message; return what happened to each. A batch command with no
    receiver in its process (`ingest`, `reprocess`) may hold longer transactions: fewer fsyncs."""
    done: dict[int, str] = {}
    ids = claim(rt, rt.config.pipeline.batch_size)
    ahead = rt.parsers.ahead(rt.engine, ids)
    if ids:
        rt.pipeline_idle.clear()
    try:
        while ids:
            # The next batch is claimed and handed to the parse helper before this one is applied.
            next_ids = claim(rt, rt.config.pipeline.batch_size)
            if len(next_ids) >= BEHIND:  # a backlog: the outgoing runner gives way (`sender`)
                rt.pipeline_behind.set()
            else:
                rt.pipeline_behind.clear()
            try:
                next_ahead = rt.parsers.ahead(rt.engine, next_ids)
                done.update(process_batch(rt, ids, transaction_seconds, ahead))
            except BaseException:
                release(rt, next_ids)
                raise
            ids, ahead = next_ids, next_ahead
    finally:
        rt.pipeline_behind.clear()
        rt.pipeline_idle.set()
    rt.writer.store_waiting()  # nothing else to do: all that waits (where this thread serves)
    return done


def release(rt, ids: list[int]) -> None:
    """Give back a claim that was not worked on (the batch before it failed): the messages wait
    again at once, instead of until the claim's lease expires, and the claim is not counted."""
    if not ids:
        return
    try:
        with rt.writer.transaction(serves=True) as session:
            session.exec(update(Message).where(Message.id.in_(ids), Message.status == "processing")
                         .values(status="received", claimed_at=None, attempts=Message.attempts - 1))
    except Exception:  # the lease expires; they are taken up then
        log.exception("could not release the claim of messages %s", ids)


def requeue_failed(rt, ids: list[int] | None = None) -> int:
    """Put failed messages (all, or IDS) back in the queue; return how many."""
    with rt.writer.transaction() as session:
        stmt = update(Message).where(Message.direction == "in", Message.status == "failed")
        if ids:
            stmt = stmt.where(Message.id.in_(ids))
        return session.exec(stmt.values(status="received", error="", attempts=0, claimed_at=None)).rowcount
