"""IMAP mailboxes as a receiver: fetch, store durably, then move or flag. It decides nothing else.

One thread per `[[mailbox]]` (imapclient blocks). After every (re)connect the thread searches
for UIDs above the mailbox's cursor (`daemon.registry.mailboxes`), fetches them with
`BODY.PEEK[]` fifty at a time, commits each through the writer (`registry/writer.py`) and advances the cursor past it,
and only then moves the batch to `move_to` (MOVE; else COPY, `\\Deleted` and UID EXPUNGE) or
marks it `\\Seen` plus our keyword. Killed between the commit and the move, the next run finds
the message at or below the cursor and still unmoved, and moves it without storing it again;
killed before the cursor's advance, it fetches the message again and the store recognises it. A
new UIDVALIDITY rescans the folder; the store's fingerprint dedupe keeps that from creating
anything twice.

While connected it waits in IDLE (re-issued every `idle_renew_seconds` and at the clock's poll
tick every `poll_seconds`, checking for a stop every second, and followed by a catch-up however
it ends) or, where the server has no IDLE or `idle = false`, for the poll tick. Any error (lost connection, refused login, timeout, no such folder,
storage failure) is logged, recorded as state `failing` with the error and since when, and
retried with backoff (1 s doubling to 60 s; to 10 minutes for a refused login, so a wrong
password does not get the account locked). Each mailbox is its own thread: one failing never
stops the others or the SMTP receiver.

`auth = "xoauth2"` logs in by SASL XOAUTH2 with a token of the client-credentials grant
(`daemon.oauth2`), fetched again before a reconnect once it is near its end; a token the server
refuses is fetched anew once and tried again. A login still refused then (or a client the token
endpoint refuses, or a refused password) is a refusal: the handlers are told once
(`notify.mailbox_refused`, until the mailbox has connected again) and it is logged once; the
retries after it are logged only at debug level.

`SAKSPOST_TEST_HOLD_AFTER_COMMIT=SECONDS` (tests only) waits that long after each commit,
before the move or flag, so a test can kill the daemon inside that window.
"""

from __future__ import annotations

import ast
import imaplib
import logging
import os
import socket
import ssl
import threading
import time
from contextlib import suppress

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from .. import notify
from ..config import ConfigError, Mailbox
from ..oauth2 import ClientRefused, TokenError, tokens_for
from ..registry.mailboxes import Cursor
from ..registry.store import Incoming, StorageError

log = logging.getLogger("sakspost.imap")

CHUNK = 50  # UIDs per FETCH: a 5,000-message backlog is never held in memory at once
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
BACKOFF_MAX_LOGIN = 600.0  # a refused login is not hammered: directories lock accounts out
IDLE_CHECK_SECONDS = 1.0
SETTLE_IDLE_SECONDS = 2.0
_HOLD_AFTER_COMMIT = float(os.environ.get("SAKSPOST_TEST_HOLD_AFTER_COMMIT") or 0)


class ConnectionLost(Exception):
    """The server closed the connection (BYE, or end of stream during IDLE)."""


class FolderError(Exception):
    """The configured folder cannot be opened."""


class TLSUnavailable(Exception):
    """`tls = "starttls"` but the server does not offer STARTTLS."""


# -- connecting, shared with `sakspost mailboxes check` -----------------------------------------

def connect(mailbox: Mailbox) -> IMAPClient:
    """A logged-in client: TLS as configured (certificates verified), socket timeouts set."""
    context = ssl.create_default_context()
    implicit = mailbox.tls == "implicit"
    client = IMAPClient(mailbox.host, mailbox.port, ssl=implicit, ssl_context=context if implicit else None,
                        timeout=mailbox.timeout_seconds)
    try:
        if mailbox.tls == "starttls":
            if not client.has_capability("STARTTLS"):
                raise TLSUnavailable(f"{mailbox.host}:{mailbox.port} does not offer STARTTLS")
            client.starttls(context)
        login(client, mailbox)
    except BaseException:
        with suppress(Exception):
            client.shutdown()
        raise
    return client


def login(client: IMAPClient, mailbox: Mailbox) -> None:
    """Log in as the mailbox says: LOGIN with its password, or XOAUTH2 with a token (a refused
    token is fetched anew once). Raises LoginError when refused, TokenError without a token."""
    if mailbox.auth != "xoauth2":
        client.login(mailbox.username, mailbox.password())
        return
    tokens = tokens_for(mailbox)
    try:
        client.oauth2_login(mailbox.username, tokens.token())
    except LoginError:
        tokens.refused()
        log.info("mailbox %s: the server refused the access token; fetching a new one", mailbox.name)
        try:
            client.oauth2_login(mailbox.username, tokens.token())
        except LoginError as exc:
            tokens.refused()
            raise LoginError(f"{_text(exc)} (also with a new access token)") from None


def explain(exc: BaseException, mailbox: Mailbox) -> str:
    """What went wrong, in words an operator can act on (never the password)."""
    where = f"{mailbox.host}:{mailbox.port}"
    text = _text(exc)
    if isinstance(exc, LoginError):
        return f"login refused for {mailbox.username!r}: {text}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS failure with {where}: certificate not accepted ({exc.verify_message or text})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failure with {where}: {text}"
    if isinstance(exc, TLSUnavailable):
        return f"TLS failure: {text}"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot connect to {where}: connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer from {where} within {mailbox.timeout_seconds:g} s"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {mailbox.host!r}: {exc.strerror}"
    if isinstance(exc, (ConnectionLost, imaplib.IMAP4.abort)):
        return f"connection to {where} lost: {text}"
    if isinstance(exc, OSError):
        return f"connection to {where} failed: {exc.strerror or text}"
    if isinstance(exc, (FolderError, ConfigError, TokenError)):
        return text
    if isinstance(exc, StorageError):
        return f"registry could not store a message (left on the server): {text}"
    if isinstance(exc, imaplib.IMAP4.error):
        return f"server refused a command: {text}"
    return f"{type(exc).__name__}: {text}"


def _text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if text.startswith(("b'", 'b"')):  # imaplib puts the server's words in as repr'd bytes
        with suppress(ValueError, SyntaxError, AttributeError):
            text = ast.literal_eval(text).decode("utf-8", "replace")
    return text


_EXPECTED = (OSError, imaplib.IMAP4.error, ConnectionLost, FolderError, TLSUnavailable, ConfigError, StorageError,
             TokenError)
_REFUSED = (LoginError, ClientRefused)  # will not mend itself: an operator must act


# -- one mailbox --------------------------------------------------------------------------------

class MailboxWatcher(threading.Thread):
    """Keeps one mailbox connected and drained into the registry until stopped."""

    def __init__(self, rt, mailbox: Mailbox):
        super().__init__(name=f"imap:{mailbox.name}", daemon=True)
        self.rt = rt
        self.mailbox = mailbox
        self.cursor = Cursor(rt.engine, mailbox.name)
        self.stopping = threading.Event()
        self.poll_due = threading.Event()
        self.client: IMAPClient | None = None
        self.can_move = self.can_uid_expunge = self.can_idle = self.keyword_ok = False

    # called from other threads
    def poll_tick(self) -> None:
        """The clock's poll interval came round."""
        self.poll_due.set()

    def stop_soon(self) -> None:
        self.stopping.set()
        self.poll_due.set()

    def abort(self) -> None:
        """Break a blocking socket read so a stuck thread ends (used when stop takes too long)."""
        client = self.client
        if client is not None:
            with suppress(Exception):
                client.socket().shutdown(socket.SHUT_RDWR)

    # the thread
    def run(self) -> None:
        m = self.mailbox
        backoff = BACKOFF_FIRST
        self.cursor.set_state("connecting")
        while not self.stopping.is_set():
            try:
                self.client = connect(m)
                self._open_folder()
                self._settle_committed()
                self.catch_up()
                backoff = BACKOFF_FIRST
                if self.can_idle:
                    self._wait_idling()
                else:
                    self._wait_polling()
            except Exception as exc:
                if self.stopping.is_set():
                    break
                reason = explain(exc, m)
                self.cursor.set_state("failing", reason)
                if isinstance(exc, _REFUSED) and not self.cursor.refused():
                    log.debug("mailbox %s: %s; retrying in %g s", m.name, reason, backoff)
                elif isinstance(exc, _REFUSED):
                    log.error("mailbox %s: %s; retrying in %g s; the handlers are told", m.name, reason, backoff)
                    self._tell_refused(reason)
                elif isinstance(exc, _EXPECTED):
                    log.error("mailbox %s: %s; retrying in %g s", m.name, reason, backoff)
                else:
                    log.exception("mailbox %s: %s; retrying in %g s", m.name, reason, backoff)
                self._disconnect(logout=False)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_LOGIN if isinstance(exc, _REFUSED) else BACKOFF_MAX)
        self._disconnect(logout=True)
        self.cursor.set_state("stopped")
        log.info("mailbox %s: stopped", m.name)

    def _tell_refused(self, reason: str) -> None:
        try:
            notify.mailbox_refused(self.rt, self.mailbox, reason)
        except Exception:  # the registry's trouble; the mailbox keeps retrying
            log.exception("mailbox %s: the handlers could not be told of its refused login", self.mailbox.name)

    def _open_folder(self) -> None:
        m, client = self.mailbox, self.client
        try:
            info = client.select_folder(m.folder)
        except imaplib.IMAP4.error as exc:
            raise FolderError(f"folder {m.folder!r} cannot be opened: {_text(exc)}") from None
        caps = set(client.capabilities())
        self.can_move = b"MOVE" in caps
        self.can_uid_expunge = b"UIDPLUS" in caps
        self.can_idle = m.idle and b"IDLE" in caps
        permanent = set(info.get(b"PERMANENTFLAGS", ()))
        self.keyword_ok = b"\\*" in permanent or m.keyword.encode() in permanent
        if not m.move_to and not self.keyword_ok:
            log.warning("mailbox %s: the server keeps no keyword %s here; marking \\Seen only "
                        "(the cursor still prevents a second fetch)", m.name, m.keyword)
        if m.move_to and not client.folder_exists(m.move_to):
            client.create_folder(m.move_to)
            log.info("mailbox %s: created folder %r for stored messages", m.name, m.move_to)
        uidvalidity = int(info[b"UIDVALIDITY"])
        last_uid = self.cursor.open(uidvalidity)
        self.cursor.set_state("connected")
        log.info("mailbox %s: connected to %s:%s as %s, folder %s (UIDVALIDITY %d, done up to UID %d, %s)",
                 m.name, m.host, m.port, m.username, m.folder, uidvalidity, last_uid,
                 "IDLE" if self.can_idle else f"polling every {m.poll_seconds:g} s")

    def _wait_idling(self) -> None:
        """IDLE until the server says something, idle_renew_seconds pass or the clock's poll
        tick comes; catch up; IDLE again.

        IDLE is a hint: Dovecot 2.3 drops the announcement of a mail that arrives in the last
        half second of an IDLE, and of one that arrives between our search and the IDLE (it
        looks again only every 30 s), so every IDLE, however it ends, is followed by a
        catch-up, the IDLE after a catch-up ends after SETTLE_IDLE_SECONDS for one more
        (a mail that came while we searched, as when it comes while we connect, waits no
        longer than that), and the poll tick ends any IDLE (no mail waits longer than
        poll_seconds, whatever the server missed).
        """
        m, client = self.mailbox, self.client
        self.cursor.set_state("idle")
        settling = True
        while not self.stopping.is_set():
            client.idle()
            self._idle_for(SETTLE_IDLE_SECONDS if settling else m.idle_renew_seconds)
            client.idle_done()
            if self.stopping.is_set():
                return
            self.catch_up()
            settling = not settling

    def _idle_for(self, seconds: float) -> None:
        """Wait in IDLE until the server speaks or SECONDS pass, checking for a stop every second."""
        client = self.client
        started = time.monotonic()
        self.poll_due.clear()
        while not self.stopping.is_set() and time.monotonic() - started < seconds:
            if self.poll_due.is_set():
                return
            asked = time.monotonic()
            responses = client.idle_check(timeout=IDLE_CHECK_SECONDS)
            for response in responses:
                if response and response[0] == b"BYE":
                    said = b" ".join(_bytes(r) for r in response[1:]).decode("utf-8", "replace")
                    raise ConnectionLost(f"server said BYE: {said}")
            if responses:
                return
            if time.monotonic() - asked < IDLE_CHECK_SECONDS / 2:
                return  # readable but nothing to read: end of stream; idle_done() will say

    def _wait_polling(self) -> None:
        self.cursor.set_state("polling")
        while True:
            self.poll_due.wait()
            self.poll_due.clear()
            if self.stopping.is_set():
                return
            self.catch_up()

    def _disconnect(self, logout: bool) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        with suppress(Exception):
            if logout:
                client.logout()
            else:
                client.shutdown()

    # draining the folder
    def catch_up(self) -> None:
        """Store every message above the cursor, in UID order, a chunk at a time."""
        while not self.stopping.is_set():
            # NOOP makes the server bring its view up to date (Dovecot's SEARCH right after an
            # IDLE does not see a mail that arrived in its last half second); the search below
            # covers everything announced until now
            self.client.noop()
            _new_mail_announced(self.client)
            uids = self._waiting_uids()
            if not uids:
                if _new_mail_announced(self.client):
                    continue  # announced while we searched: IDLE would not announce it again
                return
            if len(uids) > CHUNK:
                log.info("mailbox %s: %d messages waiting", self.mailbox.name, len(uids))
            for start in range(0, len(uids), CHUNK):
                if self.stopping.is_set():
                    return
                self._ingest(uids[start:start + CHUNK])

    def _waiting_uids(self) -> list[int]:
        m = self.mailbox
        criteria = ["UID", f"{self.cursor.last_uid + 1}:*"]
        if not m.move_to and self.keyword_ok:
            criteria += ["UNKEYWORD", m.keyword]
        # `UID n:*` always matches the highest UID, even one below n
        return sorted(uid for uid in self.client.search(criteria) if uid > self.cursor.last_uid)

    def _ingest(self, uids: list[int]) -> None:
        m = self.mailbox
        fetched = self.client.fetch(uids, [b"BODY.PEEK[]"])
        stored, new, unreadable = [], 0, None
        for uid in uids:
            raw = fetched.get(uid, {}).get(b"BODY[]")
            if raw is None:
                if self.client.search(["UID", str(uid)]):
                    unreadable = uid  # still there: never skip it; fail visibly and retry
                    break
                log.warning("mailbox %s: UID %d was removed before it could be fetched", m.name, uid)
                self.cursor.advance(uid, "vanished")
                continue
            result = self.rt.writer.store_now([Incoming(raw, f"imap:{m.name}", (m.role,))])[0]
            if isinstance(result, StorageError):
                raise result
            self.cursor.advance(uid, "duplicate" if result.duplicate else "new")
            self.rt.wake_pipeline.set()
            new += not result.duplicate
            stored.append(uid)
            if _HOLD_AFTER_COMMIT:
                self.stopping.wait(_HOLD_AFTER_COMMIT)
            if self.stopping.is_set():
                break  # settle what is stored; the rest waits for the next run
        if stored:
            self._settle(stored)
            log.info("mailbox %s: stored %d message(s) from UID %d to %d (%d already known), %s",
                     m.name, len(stored), stored[0], stored[-1], len(stored) - new,
                     f"moved to {m.move_to}" if m.move_to else "flagged")
        if unreadable is not None:
            raise FolderError(f"the server returned no content for UID {unreadable} in {m.folder!r}; "
                              f"it is left there and fetched again on the next try")

    def _settle_committed(self) -> None:
        """Move or flag what an earlier connection committed but did not get to move or flag.

        Everything at or below the cursor is committed (the cursor advances only after a
        commit), so what is still here unsettled was interrupted between the two steps.
        """
        m, last = self.mailbox, self.cursor.last_uid
        if not last:
            return
        if m.move_to:
            criteria = ["UID", f"1:{last}", "UNDELETED"]
        elif self.keyword_ok:
            criteria = ["UID", f"1:{last}", "UNKEYWORD", m.keyword]
        else:
            return  # \Seen alone cannot tell ours from what a person read
        uids = sorted(uid for uid in self.client.search(criteria) if uid <= last)
        if uids:
            log.info("mailbox %s: %d message(s) stored earlier but not yet %s: doing it now",
                     m.name, len(uids), "moved" if m.move_to else "flagged")
            for start in range(0, len(uids), CHUNK):
                self._settle(uids[start:start + CHUNK])

    def _settle(self, uids: list[int]) -> None:
        """What happens to messages once they are committed: move them, or flag them done."""
        m, client = self.mailbox, self.client
        if not m.move_to:
            client.add_flags(uids, [b"\\Seen"] + ([m.keyword.encode()] if self.keyword_ok else []), silent=True)
        elif self.can_move:
            client.move(uids, m.move_to)
        else:
            client.copy(uids, m.move_to)
            client.add_flags(uids, [b"\\Deleted"], silent=True)
            if self.can_uid_expunge:
                client.uid_expunge(uids)
            # without UIDPLUS only a bare EXPUNGE would remove them, and that would remove other
            # clients' deleted mail too: they stay marked \Deleted, and the cursor is past them


def _new_mail_announced(client: IMAPClient) -> bool:
    """Whether the server announced new mail (EXISTS) alongside our last commands; forgets it.

    imaplib keeps untagged responses that come with other commands in `untagged_responses`, and
    keeps them forever; imapclient offers no public way to read them. An EXISTS that came with a
    SEARCH is not sent again once we IDLE, so it must be noticed here.
    """
    pending = client._imap.untagged_responses
    announced = bool(pending.pop("EXISTS", None))
    for kind in ("RECENT", "EXPUNGE", "FETCH"):
        pending.pop(kind, None)
    return announced


def _bytes(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
