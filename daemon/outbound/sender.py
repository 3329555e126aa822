"""The outgoing runner: deliver queued mail through the relay, retrying with backoff.

Decides when a mail is sent, retried or given up. Due rows are claimed in a short transaction
(never holding a row lock while talking SMTP), their stored bytes are delivered unchanged (the
Message-ID fixed when it was queued, so a retry sends the identical mail), and the results are
recorded in the transaction that claims the next ones: `sent`; a 4xx answer or a dropped connection is retried after an exponential backoff
(`[outbox].backoff_seconds` doubling up to `backoff_max_seconds`, for `max_attempts`);
a 5xx answer fails the row at once, visibly (`stats`, `cases show`). With no `[relay]`
configured mail is written to the maildir `./var/sent/` instead, so a newcomer sees it.
"""

from __future__ import annotations

import functools
import logging
import mailbox
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Integer, bindparam, or_, update
from sqlmodel import Session, select

from ..registry import sql
from ..registry.db import read_only
from ..registry.models import Message, OutboxMail, RawMessage, utcnow

log = logging.getLogger("sakspost.sender")


class TemporaryFailure(Exception):
    pass


class PermanentFailure(Exception):
    pass


def deliver_smtp(relay, mail_from: str, recipients: list[str], raw: bytes) -> None:
    try:
        if relay.implicit_tls:
            client = smtplib.SMTP_SSL(relay.host, relay.port, timeout=relay.timeout_seconds,
                                      context=_tls_context(relay))
        else:
            client = smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout_seconds)
        with client:
            client.ehlo()
            if relay.starttls and not relay.implicit_tls:
                client.starttls(context=_tls_context(relay))
                client.ehlo()
            if relay.username:
                client.login(relay.username, relay.password())
            refused = client.sendmail(mail_from, recipients, raw)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{r}: {c} {m.decode(errors='replace')}" for r, (c, m) in exc.recipients.items())
        if all(c >= 500 for c in codes):
            raise PermanentFailure(f"all recipients refused: {detail}") from None
        raise TemporaryFailure(f"recipients refused: {detail}") from None
    except smtplib.SMTPResponseException as exc:
        message = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
        if 500 <= exc.smtp_code < 600:
            raise PermanentFailure(message) from None
        raise TemporaryFailure(message) from None
    except (smtplib.SMTPException, OSError, socket.timeout, ssl.SSLError) as exc:
        raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from None
    if refused:
        log.warning("relay refused some recipients: %s", refused)


def _tls_context(relay) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not relay.verify_certificate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


_MAILDIRS: set[Path] = set()  # made (tmp, new, cur) by this process


def deliver_maildir(path: Path, raw: bytes) -> None:
    if path not in _MAILDIRS:
        for sub in ("tmp", "new", "cur"):  # Maildir(create=True) makes them only when PATH is new
            (path / sub).mkdir(parents=True, exist_ok=True)
        _MAILDIRS.add(path)
    mailbox.Maildir(str(path), create=False).add(raw)


def _backoff(outbox, attempts: int) -> timedelta:
    seconds = min(outbox.backoff_seconds * (2 ** max(attempts - 1, 0)), outbox.backoff_max_seconds)
    return timedelta(seconds=seconds)


@dataclass
class Outcome:
    """What became of one claimed mail, to be recorded: the outbox row's new values, and the
    outbound message's (none while it is still pending)."""

    outbox_id: int
    message_pk: int
    status: str
    values: dict
    message_values: dict


_OUTBOX, _RAW = OutboxMail.__table__, RawMessage.__table__
# the mails due, and a claim of N of them: built and compiled once
_DUE = sql.Prepared(lambda: select(_OUTBOX.c.id)
                    .where(_OUTBOX.c.status == "pending", _OUTBOX.c.next_attempt_at <= bindparam("now"))
                    .where(or_(_OUTBOX.c.claimed_at.is_(None), _OUTBOX.c.claimed_at < bindparam("stale")))
                    .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id).limit(bindparam("limit", type_=Integer))
                    .with_for_update(skip_locked=True))


@functools.cache
def _claiming(n: int) -> sql.Prepared:
    return sql.Prepared(lambda: update(_OUTBOX).where(sql.one_of(_OUTBOX.c.id, n))
                        .values(claimed_at=bindparam("now")))


def claim_due(rt, limit: int = 50, record: list[Outcome] = (), release: list[int] = ()) -> list[int]:
    """Record the outcomes RECORD (the mails delivered since the last claim), give up the
    claims of RELEASE (claimed but not attempted), and claim up to LIMIT mails that are due, in
    one write transaction: the sender takes one turn at the write lock for a batch of mails,
    not two for each (under a burst every turn it takes is one the pipeline waits for)."""
    now = utcnow()
    stale = now - timedelta(minutes=10)
    with rt.writer.transaction() as session:
        _record(session, record)
        if release:
            _claiming(len(release)).run(session, {"now": None, **sql.one_of_params(release)}).close()
        ids = [pk for (pk,) in _DUE.all(session, {"now": now, "stale": stale, "limit": limit})] if limit else []
        if ids:
            _claiming(len(ids)).run(session, {"now": now, **sql.one_of_params(ids)}).close()
    return ids


def _record(session: Session, outcomes: list[Outcome]) -> None:
    """Write OUTCOMES: one UPDATE a table for the outcomes that change the same columns (a
    batch of acknowledgements delivered is two statements, not two a mail)."""
    for model, rows in ((OutboxMail, [(o.values, o.outbox_id) for o in outcomes]),
                        (Message, [(o.message_values, o.message_pk) for o in outcomes if o.message_values])):
        alike: dict[tuple[str, ...], list[dict]] = {}
        for values, pk in rows:
            alike.setdefault(tuple(sorted(values)), []).append({**values, "pk_id": pk})
        for columns, same in alike.items():
            sql.update_rows(session, model, columns, same)


_QUEUED = sql.Prepared(lambda: select(_OUTBOX.c.message_pk, _OUTBOX.c.recipients, _OUTBOX.c.mail_from,
                                      _OUTBOX.c.attempts, _RAW.c.data)
                       .join_from(_OUTBOX, _RAW, _RAW.c.message_pk == _OUTBOX.c.message_pk)
                       .where(_OUTBOX.c.id == bindparam("outbox_id")))


def deliver(rt, outbox_id: int) -> Outcome:
    """Deliver one claimed outbox mail; what is to be recorded of it (`claim_due` records it
    with the next claim, or `send_due` as it ends). Its row is read in a short transaction of
    its own, ended before the relay is spoken to (on PostgreSQL a read left open would stay
    "idle in transaction" for as long as the batch takes). A mail delivered but not yet
    recorded when the daemon dies is sent again once its claim goes stale: a second
    acknowledgement, never a lost one."""
    with read_only(rt.engine).connect() as conn, conn.begin():
        message_pk, recipients, mail_from, attempts, data = _QUEUED.all(conn, {"outbox_id": outbox_id})[0]
    recipients = [r for r in recipients.split(",") if r]
    status, error = "sent", ""
    try:
        if rt.config.relay is None:
            deliver_maildir(rt.config.sent_maildir, data)
        else:
            deliver_smtp(rt.config.relay, mail_from, recipients, data)
    except PermanentFailure as exc:
        status, error = "failed", str(exc)
    except TemporaryFailure as exc:
        status, error = "pending", str(exc)
    except Exception as exc:  # a bug or a local I/O problem: retry, loudly
        log.exception("delivering outbox mail %s", outbox_id)
        status, error = "pending", f"{type(exc).__name__}: {exc}"
    attempts += 1
    now = utcnow()
    values = {"attempts": attempts, "claimed_at": None, "last_error": error[:2000]}
    if status == "pending" and attempts >= rt.config.outbox.max_attempts:
        status = "failed"
        values["last_error"] = f"gave up after {attempts} attempts: {error}"[:2000]
    values["status"] = status
    message_values = {}
    if status == "sent":
        values["sent_at"] = now
        message_values = {"status": "sent"}
    elif status == "pending":
        values["next_attempt_at"] = now + _backoff(rt.config.outbox, attempts)
        log.warning("outbox mail %s to %s: %s; retry at %s", outbox_id, ",".join(recipients), error,
                    values["next_attempt_at"].isoformat(timespec="seconds"))
    else:
        message_values = {"status": "failed", "error": values["last_error"]}
        log.error("outbox mail %s to %s failed permanently: %s", outbox_id, ",".join(recipients), error)
    return Outcome(outbox_id, message_pk, status, values, message_values)


def send_due(rt, stopping: threading.Event | None = None) -> dict[int, str]:
    """Deliver every mail that is due now (until STOPPING is set); return what happened to each.

    What became of a batch's mails is written with the next claim; if a delivery raises, or
    the daemon is stopping, what was delivered so far is written at once, so that no delivered
    mail waits ten minutes for its claim to go stale and is sent again."""
    results: dict[int, str] = {}
    outcomes: list[Outcome] = []
    unsent: list[int] = []  # claimed but not attempted when the batch ended early: released
    try:
        while not (stopping is not None and stopping.is_set()):
            ids = claim_due(rt, record=outcomes)
            outcomes = []
            if not ids:
                break
            for n, outbox_id in enumerate(ids):
                if stopping is not None and stopping.is_set():
                    unsent = ids[n:]
                    break
                # if this one raises, it keeps its claim (so that it is not tried again at once,
                # ahead of the others), and the ones after it are released
                unsent = ids[n + 1:]
                outcomes.append(deliver(rt, outbox_id))
                results[outbox_id] = outcomes[-1].status
    finally:
        if outcomes or unsent:
            claim_due(rt, limit=0, record=outcomes, release=unsent)
    return results


def seconds_until_next(rt, default: float) -> float:
    with Session(read_only(rt.engine)) as session:
        due = session.exec(select(OutboxMail.next_attempt_at).where(OutboxMail.status == "pending")
                           .order_by(OutboxMail.next_attempt_at).limit(1)).first()
    if due is None:
        return default
    return max(0.0, min(default, (due - utcnow()).total_seconds()))
