"""The SMTP/LMTP receiver (aiosmtpd): accept, store durably, answer. It decides nothing else.

`250` goes out only after the raw bytes and the envelope are committed (off the event loop);
messages that arrive while a commit is running are committed together in the next one (group
commit: one fsync for a burst of concurrent senders, each answered only after the commit that
covers its message, and one log line for the group, `stored message N (...)` for each); a storage failure answers `451 4.3.0` to every sender of the failed group,
so the sending MTAs retry; a recipient that no
`[[address]]` serves is refused at RCPT with `550 5.1.1`; aiosmtpd itself refuses a message over
`max_message_bytes` with `552`. Under LMTP (RFC 2033) the answer after DATA is one status line
per accepted recipient. After a commit the pipeline runner is woken; parsing happens there.

Where the daemon has a receiving front (`front.py`, a process of its own; `link.py` is its end
here), the front speaks the protocol and this module only commits what it hands over; the
`Handler` here speaks it in the daemon's own process where there is no front (one core, or
`[pipeline].parse_helper` off).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Callable

from ..registry.db import WriterQueue
from ..registry.store import Incoming, StorageError, store_group
from .protocol import Answers, LMTPServer, SMTPServer, server_factory

log = logging.getLogger("sakspost.receive")


class GroupCommit:
    """Commit what the receiver hands over, together with everything else that waits (group
    commit), and answer each sender when the commit that covers its message is done.

    In the running daemon the pipeline's thread does the storing (`serve`, between the
    messages it applies, once it is `served_by` it): one thread writes the registry, so a
    message waits neither for a hand-over between threads nor for a turn at the write lock,
    and under a burst the two no longer trade the interpreter lock for every statement (DATA
    to 250 in half the time, bench/README.md). A message the writer has not taken within
    SERVE_SECONDS (it is busy with a long step, or stuck) is stored by the committer's own
    thread, as everything is where no writer serves: at once when the store is idle, else with
    everything that arrived during the running commit.

    `hand_over` may be called from any thread (the front's link, `receive.link`); `commit` is
    the same for a coroutine (the in-process SMTP handler)."""

    MAX_MESSAGES = 64
    MAX_BYTES = 32 * 1024 * 1024
    SERVE_SECONDS = 1.0
    SERVE_GROUPS = 2  # groups stored by the writer at one call of `serve`

    def __init__(self, engine, store=store_group, writers=None, stored: threading.Event | None = None):
        self.engine = engine
        self.store = store
        self.writers = writers or WriterQueue()
        self.stored = stored  # set after each commit that stored something (the pipeline's wake-up)
        self.waiting: list[tuple[Incoming, Callable, float]] = []
        self._changed = threading.Condition()  # `waiting` is taken from by two threads
        self.writer: threading.Event | None = None  # set to have the writer serve
        self._thread: threading.Thread | None = None

    def served_by(self, wake: threading.Event) -> None:
        """From now on a writer stores what waits; WAKE wakes it."""
        self.writer = wake

    def hand_over(self, item: Incoming, done: Callable[[object], None]) -> None:
        """Have ITEM stored; DONE(Stored or StorageError) is called once it is committed or its
        group failed, on the thread that stored it."""
        self.writers.arrive()
        with self._changed:
            self.waiting.append((item, done, time.monotonic()))
            if self._thread is None:
                self._thread = threading.Thread(target=self._own_store, name="receiver-store", daemon=True)
                self._thread.start()
            if self.writer is None:
                self._changed.notify()
        if self.writer is not None:
            self.writer.set()

    async def commit(self, item: Incoming):
        """The Stored row for ITEM once it is durable; raises StorageError if its group failed."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.hand_over(item, lambda result: loop.call_soon_threadsafe(_settle, future, result))
        return await future

    def _own_store(self) -> None:
        """The committer's thread: store at once where no writer serves; where one does, look
        every SERVE_SECONDS (it is not woken for each message) for what it has left waiting."""
        while True:
            with self._changed:
                while True:
                    if self.writer is None:
                        if self.waiting:
                            break
                        self._changed.wait()
                        continue
                    age = time.monotonic() - self.waiting[0][2] if self.waiting else 0.0
                    if age >= self.SERVE_SECONDS:
                        log.warning("the pipeline has not stored waiting messages for %g s; storing them "
                                    "on the receiver's thread", self.SERVE_SECONDS)
                        break
                    self._changed.wait(self.SERVE_SECONDS - age)
            self.serve()

    def _store(self, items: list[Incoming]):
        with self.writers.storing():  # the pipeline ends its transaction soon
            return self.store(self.engine, items)

    def _next_group(self) -> list[tuple[Incoming, Callable, float]]:
        group, size = [], 0
        with self._changed:
            while self.waiting and len(group) < self.MAX_MESSAGES:
                size += len(self.waiting[0][0].raw)
                if group and size > self.MAX_BYTES:
                    break
                group.append(self.waiting.pop(0))
        return group

    def serve(self, groups: int | None = None) -> None:
        """Store what waits, group by group (GROUPS at most), and answer each sender (the
        writer's thread calls this between its messages, with a bound: under a burst from many
        senders something arrives during every commit, and a writer that stored until nothing
        waited would never get back to its own work; what is left waits for its next call)."""
        while groups is None or groups > 0:
            if groups is not None:
                groups -= 1
            group = self._next_group()
            if not group:
                return
            try:
                stored = self._store([item for item, _, _ in group])
            except Exception as exc:  # StorageError, or a bug: nobody in the group gets 250
                stored = exc if isinstance(exc, StorageError) else StorageError(f"{type(exc).__name__}: {exc}")
            finally:
                self.writers.done(len(group))
            lines = []
            for index, (item, done, _) in enumerate(group):
                result = stored if isinstance(stored, BaseException) else stored[index]
                if not isinstance(result, BaseException):
                    lines.append(f"stored message {result.pk} ({len(item.raw)} bytes, {','.join(item.roles)})"
                                 + (" duplicate" if result.duplicate else ""))
                done(result)
            if lines:  # one record for the group: under a burst, a record per message cost a
                log.info("%s", "; ".join(lines))  # tenth of the event loop's time
                if self.stored is not None:
                    self.stored.set()


def _settle(future: asyncio.Future, result) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class Handler(Answers):
    """aiosmtpd hooks; found by name, as aiosmtpd does (RCPT: `protocol.Answers`)."""

    def __init__(self, rt, protocol: str = "smtp", committer: GroupCommit | None = None):
        self.rt = rt
        self.config = rt.config
        self.protocol = protocol
        self.committer = committer or GroupCommit(rt.engine, writers=rt.writers, stored=rt.wake_pipeline)

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):  # pragma: no cover - aiosmtpd gives bytes with decode_data=False
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            stored = await self.committer.commit(Incoming(
                raw, source=self.protocol, roles=self.roles(envelope),
                mail_from=envelope.mail_from or "<>", rcpt_tos=tuple(envelope.rcpt_tos),
            ))
        except StorageError as exc:
            return self.answer(envelope, None, str(exc))
        return self.answer(envelope, stored.pk)


def served_committer(rt) -> GroupCommit:
    """The daemon's group commit, whose messages the pipeline's thread stores (`rt.intake`)."""
    committer = GroupCommit(rt.engine, writers=rt.writers, stored=rt.wake_pipeline)
    committer.served_by(rt.wake_pipeline)
    rt.intake = committer
    return committer


async def start(rt, committer: GroupCommit | None = None):
    """Receive in this process (one core, or `[pipeline].parse_helper` off; else `link.Front`)."""
    loop = asyncio.get_running_loop()
    cfg = rt.config.receiver
    protocol = cfg.protocol
    cls = LMTPServer if protocol == "lmtp" else SMTPServer
    factory = server_factory(cls, Handler(rt, protocol, committer), rt.config)
    server = await loop.create_server(factory, host=cfg.host, port=cfg.port)
    return server
