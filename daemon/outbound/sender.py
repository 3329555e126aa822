"""The outgoing runner: deliver queued mail through the relay, retrying with backoff.

Decides when a mail is sent, retried or given up. Due rows are claimed by this instance in a
short transaction (never holding a row lock while talking SMTP); a claim is the instance's as
long as it is alive (its heartbeat, `registry/leases.py`), so a dead instance's claims are taken
over within a minute, and a restarted daemon's at once. Stored bytes are delivered unchanged
(the Message-ID fixed when it was queued, so a retry sends the identical mail), with RFC 5321's
timeouts (ten minutes for the answer to the final `.`), and each outcome is recorded as soon
as the relay has answered: `sent`; a 4xx answer or a dropped connection is retried after an
exponential backoff (`[outbox].backoff_seconds` doubling up to `backoff_max_seconds`, for
`max_attempts`); no answer to the final `.` may mean delivered, and is retried only after
`UNCERTAIN_BACKOFF`; a 5xx answer, or an address SMTP cannot carry, fails the row at once,
visibly (`stats`, `cases show`), with one log line. With no `[relay]`
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

from ..oauth2 import TokenError, tokens_for, xoauth2
from ..registry import leases, sql
from ..registry.db import read_only
from ..registry.models import Message, OutboxMail, RawMessage, utcnow

log = logging.getLogger("sakspost.sender")


class TemporaryFailure(Exception):
    pass


class PermanentFailure(Exception):
    pass


class Uncertain(TemporaryFailure):
    """The relay took the whole message but its answer to the final `.` never came: the mail
    may have been delivered. Tried again only after UNCERTAIN_BACKOFF, with the same bytes."""


# RFC 5321 section 4.5.3.2: how long a client waits for each answer
GREETING_SECONDS = 300.0  # and MAIL, RCPT (5 minutes)
DATA_INIT_SECONDS = 120.0
DATA_BLOCK_SECONDS = 180.0
DATA_END_SECONDS = 600.0
UNCERTAIN_BACKOFF = timedelta(hours=2)


class _Client(smtplib.SMTP):
    """smtplib's client with RFC 5321's timeouts for each stage, and knowing whether the final
    `.` went out (a timeout after it is `Uncertain`, not a failure)."""

    data_sent = False

    def data(self, msg):
        self.sock.settimeout(DATA_INIT_SECONDS)
        code, repl = self.docmd("data")
        if code != 354:
            raise smtplib.SMTPDataError(code, repl)
        quoted = smtplib._quote_periods(msg if isinstance(msg, bytes) else msg.encode("ascii"))
        if quoted[-2:] != b"\r\n":
            quoted += b"\r\n"
        self.sock.settimeout(DATA_BLOCK_SECONDS)
        self.send(quoted + b".\r\n")
        self.data_sent = True
        self.sock.settimeout(DATA_END_SECONDS)
        return self.getreply()  # `sendmail` raises for anything but 250


class _TLSClient(_Client, smtplib.SMTP_SSL):
    pass


def deliver_smtp(relay, mail_from: str, recipients: list[str], raw: bytes) -> None:
    """Deliver RAW through RELAY; raises TemporaryFailure (4xx, a lost connection, a timeout
    before the end of the data), Uncertain (no answer to the final `.`) or PermanentFailure
    (5xx, or an address that cannot be written in SMTP)."""
    client = None
    try:
        if relay.implicit_tls:
            client = _TLSClient(relay.host, relay.port, timeout=relay.timeout_seconds, context=_tls_context(relay))
        else:
            client = _Client(relay.host, relay.port, timeout=relay.timeout_seconds)
        with client:
            client.sock.settimeout(GREETING_SECONDS)
            client.ehlo()
            if relay.starttls and not relay.implicit_tls:
                client.starttls(context=_tls_context(relay))
                client.sock.settimeout(GREETING_SECONDS)
                client.ehlo()
            if relay.auth == "xoauth2":
                _xoauth2_login(client, relay)
            elif relay.username:
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
    except TokenError as exc:  # no token: the mail waits, like one the relay cannot take now
        raise TemporaryFailure(str(exc)) from None
    except (UnicodeError, smtplib.SMTPNotSupportedError) as exc:  # the same every time: not retried
        raise PermanentFailure(f"cannot be sent: {type(exc).__name__}: {exc}") from None
    except (smtplib.SMTPException, OSError, socket.timeout, ssl.SSLError) as exc:
        if client is not None and client.data_sent:
            raise Uncertain(f"no answer to the end of the data: {type(exc).__name__}: {exc}") from None
        raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from None
    if refused:
        log.warning("relay refused some recipients: %s", refused)


def _xoauth2_login(client: smtplib.SMTP, relay) -> None:
    """AUTH XOAUTH2 with the relay's token; a refused token is fetched anew once. Still refused,
    the mail waits (TemporaryFailure): a refused login is the configuration's fault, not the mail's."""
    tokens = tokens_for(relay)
    for attempt in (1, 2):
        token = tokens.token()
        # the server answers a refusal with a 334 challenge (its error, as JSON): an empty line ends it
        answers = iter((xoauth2(relay.username, token), ""))
        try:
            client.auth("XOAUTH2", lambda challenge=None: next(answers, ""), initial_response_ok=True)
            return
        except smtplib.SMTPAuthenticationError as exc:
            tokens.refused()
            said = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            if attempt == 2:
                raise TemporaryFailure(f"relay refused AUTH XOAUTH2 for {relay.username!r}, also with a new "
                                       f"access token: {exc.smtp_code} {said}") from None
            log.info("relay refused the access token (%s); fetching a new one", exc.smtp_code)


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
LEGACY_STALE = timedelta(minutes=10)  # a claim from before claims named their instance
GIVE_WAY = 10  # mails a batch sends at least before it gives way to a busy pipeline


@functools.cache
def _due(dead: int) -> sql.Prepared:
    """The mails due that nobody alive has claimed (DEAD: how many dead claimants are named)."""
    claimable = [_OUTBOX.c.claimed_at.is_(None),
                 (_OUTBOX.c.claimed_by == "") & (_OUTBOX.c.claimed_at < bindparam("stale"))]
    if dead:
        claimable.append(sql.one_of(_OUTBOX.c.claimed_by, dead))
    return sql.Prepared(lambda: select(_OUTBOX.c.id)
                        .where(_OUTBOX.c.status == "pending", _OUTBOX.c.next_attempt_at <= bindparam("now"))
                        .where(or_(*claimable))
                        .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id).limit(bindparam("limit", type_=Integer))
                        .with_for_update(skip_locked=True))


_CLAIMANTS = sql.Prepared(lambda: select(_OUTBOX.c.claimed_by).distinct()
                          .where(_OUTBOX.c.status == "pending", _OUTBOX.c.claimed_at.is_not(None),
                                 _OUTBOX.c.claimed_by != "", _OUTBOX.c.claimed_by != bindparam("me")))


@functools.cache
def _claiming(n: int) -> sql.Prepared:
    return sql.Prepared(lambda: update(_OUTBOX).where(sql.one_of(_OUTBOX.c.id, n))
                        .values(claimed_at=bindparam("now"), claimed_by=bindparam("me")))


def _dead_claimants(session: Session, me: str, now) -> list[str]:
    """The instances other than ME holding claims that are not alive: no heartbeat within
    `leases.TTL`, or (on this host) no process any more, as after a restart."""
    claimants = [holder for (holder,) in _CLAIMANTS.all(session, {"me": me})]
    if not claimants:
        return []
    alive = leases.live_ids(sql.connection(session), now)
    return [h for h in claimants if h not in alive or leases.dead_here(h)]


def claim_due(rt, limit: int = 50) -> list[int]:
    """Claim up to LIMIT mails that are due for this instance (`rt.instance`): unclaimed, or
    claimed by an instance that is dead. A claim is ours until its outcome is recorded or we
    give it back (`release`): a live instance's claims are never taken."""
    now = utcnow()
    with rt.writer.transaction() as session:
        dead = _dead_claimants(session, rt.instance, now)
        params = {"now": now, "stale": now - LEGACY_STALE, "limit": limit, **sql.one_of_params(dead)}
        ids = [pk for (pk,) in _due(len(dead)).all(session, params)]
        if ids:
            _claiming(len(ids)).run(session, {"now": now, "me": rt.instance, **sql.one_of_params(ids)}).close()
    if dead and ids:
        log.info("took over the outbox claims of %s (not alive)", ", ".join(dead))
    return ids


def release(rt, ids: list[int]) -> None:
    """Give back the claims of IDS (claimed, not attempted): they are due again at once."""
    if ids:
        with rt.writer.transaction() as session:
            _claiming(len(ids)).run(session, {"now": None, "me": "", **sql.one_of_params(ids)}).close()


def record(rt, outcome: Outcome) -> None:
    """Write what became of one delivery, in a transaction of its own, as soon as it is known:
    a mail the relay has taken is never sent again because a batch was not yet written."""
    with rt.writer.statements() as conn:
        sql.update_rows(conn, OutboxMail, tuple(sorted(outcome.values)),
                        [{**outcome.values, "pk_id": outcome.outbox_id}])
        if outcome.message_values:
            sql.update_rows(conn, Message, tuple(sorted(outcome.message_values)),
                            [{**outcome.message_values, "pk_id": outcome.message_pk}])


_QUEUED = sql.Prepared(lambda: select(_OUTBOX.c.message_pk, _OUTBOX.c.recipients, _OUTBOX.c.mail_from,
                                      _OUTBOX.c.attempts, _RAW.c.data)
                       .join_from(_OUTBOX, _RAW, _RAW.c.message_pk == _OUTBOX.c.message_pk)
                       .where(_OUTBOX.c.id == bindparam("outbox_id")))


def deliver(rt, outbox_id: int) -> Outcome:
    """Deliver one claimed outbox mail; what is to be recorded of it. Its row is read in a
    short transaction of its own, ended before the relay is spoken to (on PostgreSQL a read
    left open would stay "idle in transaction" while the relay is waited for). A mail whose
    stored bytes cannot be read is retried later, like a relay's 4xx."""
    message_pk, recipients, attempts = 0, [], 0
    status, error, retry_after = "sent", "", None
    try:
        with read_only(rt.engine).connect() as conn, conn.begin():
            message_pk, recipients, mail_from, attempts, data = _QUEUED.all(conn, {"outbox_id": outbox_id})[0]
        recipients = [r for r in recipients.split(",") if r]
        if rt.config.relay is None:
            deliver_maildir(rt.config.sent_maildir, data)
        else:
            deliver_smtp(rt.config.relay, mail_from, recipients, data)
    except PermanentFailure as exc:
        status, error = "failed", str(exc)
    except Uncertain as exc:
        status, error, retry_after = "pending", str(exc), UNCERTAIN_BACKOFF
    except TemporaryFailure as exc:
        status, error = "pending", str(exc)
    except Exception as exc:  # a bug or a local I/O problem: retry, loudly
        log.exception("delivering outbox mail %s", outbox_id)
        status, error = "pending", f"{type(exc).__name__}: {exc}"
    attempts += 1
    now = utcnow()
    values = {"attempts": attempts, "claimed_at": None, "claimed_by": "", "last_error": error[:2000]}
    if status == "pending" and attempts >= rt.config.outbox.max_attempts:
        status = "failed"
        values["last_error"] = f"gave up after {attempts} attempts: {error}"[:2000]
    values["status"] = status
    message_values = {}
    if status == "sent":
        values["sent_at"] = now
        message_values = {"status": "sent"}
    elif status == "pending":
        values["next_attempt_at"] = now + (retry_after or _backoff(rt.config.outbox, attempts))
        log.warning("outbox mail %s to %s: %s; %s at %s", outbox_id, ",".join(recipients), error,
                    "may have been delivered: tried again, the same mail," if retry_after else "retry",
                    values["next_attempt_at"].isoformat(timespec="seconds"))
    else:
        message_values = {"status": "failed", "error": values["last_error"]}
        log.error("outbox mail %s to %s failed permanently: %s", outbox_id, ",".join(recipients), error)
    return Outcome(outbox_id, message_pk, status, values, message_values)


def send_due(rt, stopping: threading.Event | None = None) -> dict[int, str]:
    """Deliver every mail that is due now (until STOPPING is set, or a burst arrives: a
    batch ends between two mails, and the claims not attempted are given back); return what
    happened to each. Each outcome is recorded as soon as it is known (`record`)."""
    results: dict[int, str] = {}
    while not (stopping is not None and stopping.is_set()):
        ids = claim_due(rt)
        if not ids:
            break
        for n, outbox_id in enumerate(ids):
            # a batch ends between two mails when the daemon stops, and after GIVE_WAY mails
            # during a burst (receivers have messages waiting to be stored, or the pipeline has
            # a backlog): registering them goes first (the outgoing runner comes back when the
            # pipeline is idle, or soon); at a steady rate it is neither, and nothing waits
            if (stopping is not None and stopping.is_set()) or (
                    n >= GIVE_WAY and (rt.writer.waiting() or rt.pipeline_behind.is_set())):
                release(rt, ids[n:])
                return results
            try:
                outcome = deliver(rt, outbox_id)
                record(rt, outcome)
            except BaseException:
                release(rt, ids[n + 1:])
                raise
            results[outbox_id] = outcome.status
    return results


def seconds_until_next(rt, default: float) -> float:
    with Session(read_only(rt.engine)) as session:
        due = session.exec(select(OutboxMail.next_attempt_at).where(OutboxMail.status == "pending")
                           .order_by(OutboxMail.next_attempt_at).limit(1)).first()
    if due is None:
        return default
    return max(0.0, min(default, (due - utcnow()).total_seconds()))
