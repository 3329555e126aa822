"""The SMTP/LMTP receiver (aiosmtpd): accept, store durably, answer. It decides nothing else.

`250` goes out only after the raw bytes and the envelope are committed (off the event loop);
messages that arrive while a commit is running are committed together in the next one (group
commit: one fsync for a burst of concurrent senders, each answered only after the commit that
covers its message, and one log line for the group, `stored message N (...)` for each); a storage failure answers `451 4.3.0` to every sender of the failed group,
so the sending MTAs retry; a recipient that no
`[[address]]` serves is refused at RCPT with `550 5.1.1`; aiosmtpd itself refuses a message over
`max_message_bytes` with `552`. Under LMTP (RFC 2033) the answer after DATA is one status line
per accepted recipient. After a commit the pipeline runner is woken; parsing happens there.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time

from ..registry.db import WriterQueue
from ..registry.store import Incoming, StorageError, store_group
from .protocol import LMTPServer, SMTPServer

log = logging.getLogger("sakspost.receive")


class GroupCommit:
    """Commit what handle_DATA hands over, together with everything else that waits (group
    commit), and answer each sender when the commit that covers its message is done.

    In the running daemon the pipeline's thread does the storing (`serve`, between the
    messages it applies, once it is `served_by` it): one thread writes the registry, so a
    message waits neither for a hand-over between threads nor for a turn at the write lock,
    and under a burst the two no longer trade the interpreter lock for every statement (DATA
    to 250 in half the time, bench/README.md). A message the writer has not taken within
    SERVE_SECONDS (it is busy with a long step, or stuck) is stored on a thread of the
    receiver's own, as it is where no writer serves: at once when the store is idle, else
    with everything that arrived during the running commit."""

    MAX_MESSAGES = 64
    MAX_BYTES = 32 * 1024 * 1024
    SERVE_SECONDS = 1.0

    def __init__(self, engine, store=store_group, writers=None, stored: threading.Event | None = None):
        self.engine = engine
        self.store = store
        self.writers = writers or WriterQueue()
        self.stored = stored  # set after each commit that stored something (the pipeline's wake-up)
        self.waiting: list[tuple[Incoming, asyncio.Future, float]] = []
        self._lock = threading.Lock()  # `waiting` is taken from by the writer's thread too
        self.writer: threading.Event | None = None  # set to have the writer serve
        self.running = False
        self._task = None  # the loop keeps only a weak reference to a task
        self._loop = None

    def served_by(self, wake: threading.Event) -> None:
        """From now on a writer stores what waits; WAKE wakes it."""
        self.writer = wake

    async def commit(self, item: Incoming):
        """The Stored row for ITEM once it is durable; raises StorageError if its group failed."""
        loop = self._loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.writers.arrive()
        with self._lock:
            self.waiting.append((item, future, time.monotonic()))
        if self.writer is not None:
            self.writer.set()
            loop.call_later(self.SERVE_SECONDS, self._unserved)
        elif not self.running:
            self._start_drain()
        return await future

    def _start_drain(self) -> None:
        self.running = True
        self._task = asyncio.get_running_loop().create_task(self._drain())

    def _unserved(self) -> None:
        with self._lock:
            late = bool(self.waiting) and time.monotonic() - self.waiting[0][2] >= self.SERVE_SECONDS
        if late and not self.running:
            log.warning("the pipeline has not stored waiting messages for %g s; storing them here",
                        self.SERVE_SECONDS)
            self._start_drain()

    def _store(self, items: list[Incoming]):
        with self.writers.storing():  # the pipeline ends its transaction soon
            return self.store(self.engine, items)

    def _next_group(self) -> list[tuple[Incoming, asyncio.Future, float]]:
        group, size = [], 0
        with self._lock:
            while self.waiting and len(group) < self.MAX_MESSAGES:
                size += len(self.waiting[0][0].raw)
                if group and size > self.MAX_BYTES:
                    break
                group.append(self.waiting.pop(0))
        return group

    def _stored(self, group, stored) -> None:
        """Answer GROUP's senders with STORED (a result per message, or one exception for all)."""
        lines = []
        for index, (item, future, _) in enumerate(group):
            result = stored if isinstance(stored, BaseException) else stored[index]
            if not isinstance(result, BaseException):
                lines.append(f"stored message {result.pk} ({len(item.raw)} bytes, {','.join(item.roles)})"
                             + (" duplicate" if result.duplicate else ""))
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if lines:  # one record for the group: under a burst, a record per message cost a
            log.info("%s", "; ".join(lines))  # tenth of the event loop's time
            if self.stored is not None:
                self.stored.set()

    @staticmethod
    def _failure(exc: Exception) -> StorageError:
        # StorageError, or a bug: nobody in the group gets 250
        return exc if isinstance(exc, StorageError) else StorageError(f"{type(exc).__name__}: {exc}")

    def serve(self) -> None:
        """For the writer's thread: store what waits, group by group, and answer each sender
        through the event loop."""
        while True:
            group = self._next_group()
            if not group:
                return
            try:
                stored = self._store([item for item, _, _ in group])
            except Exception as exc:
                stored = self._failure(exc)
            finally:
                self.writers.done(len(group))
            self._loop.call_soon_threadsafe(self._stored, group, stored)

    async def _drain(self) -> None:
        try:
            while True:
                group = self._next_group()
                if not group:
                    return
                try:
                    stored = await asyncio.to_thread(self._store, [item for item, _, _ in group])
                except Exception as exc:
                    stored = self._failure(exc)
                finally:
                    self.writers.done(len(group))
                self._stored(group, stored)
        finally:
            self.running = False


class Handler:
    """aiosmtpd hooks; found by name, as aiosmtpd does."""

    def __init__(self, rt, protocol: str = "smtp"):
        self.rt = rt
        self.protocol = protocol
        self.committer = GroupCommit(rt.engine, writers=rt.writers, stored=rt.wake_pipeline)
        if rt.intake is None and rt.serve_intake:  # the pipeline's thread stores (see GroupCommit)
            self.committer.served_by(rt.wake_pipeline)
            rt.intake = self.committer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.rt.config.roles_for(address):
            log.info("refusing recipient %s: no [[address]] serves it", address)
            return "550 5.1.1 Mailbox unavailable: no such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):  # pragma: no cover - aiosmtpd gives bytes with decode_data=False
            raw = raw.encode("utf-8", "surrogateescape")
        roles = tuple(dict.fromkeys(r for rcpt in envelope.rcpt_tos for r in self.rt.config.roles_for(rcpt)))
        try:
            stored = await self.committer.commit(Incoming(
                raw, source=self.protocol, roles=roles,
                mail_from=envelope.mail_from or "<>", rcpt_tos=tuple(envelope.rcpt_tos),
            ))
        except StorageError as exc:
            log.error("could not store a message from %s: %s", envelope.mail_from, exc)
            return self._answer(envelope, "451 4.3.0 Temporary storage failure, try again later")
        return self._answer(envelope, f"250 2.0.0 OK stored as {stored.pk}")

    def _answer(self, envelope, line: str) -> str:
        if self.protocol == "lmtp":
            return "\r\n".join(line for _ in envelope.rcpt_tos) or line
        return line


def server_factory(rt):
    """A protocol factory for loop.create_server, as aiosmtpd's UnthreadedController builds."""
    cfg = rt.config.receiver
    protocol = cfg.protocol
    handler = Handler(rt, protocol)
    cls = LMTPServer if protocol == "lmtp" else SMTPServer
    hostname = cfg.hostname or rt.config.identity.domain

    def factory():
        server = cls(
            handler,
            data_size_limit=cfg.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=hostname,
            ident="sakspost",
        )
        return server

    return factory


async def start(rt):
    loop = asyncio.get_running_loop()
    cfg = rt.config.receiver
    server = await loop.create_server(server_factory(rt), host=cfg.host, port=cfg.port)
    return server
