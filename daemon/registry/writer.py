"""The writer: every write transaction of a process, and the order in which they take turns.

The registry has one writer at a time (SQLite's write lock; PostgreSQL locks rows, and the same
discipline costs it nothing). This module alone decides who writes when; the rest of the daemon
says what to write:

- A receiver calls `store(incoming)` and answers its sender when the returned future is done:
  `250` with the `Stored` row, `451` on a `StorageError`. Messages handed over while a commit
  runs are committed together in the next one (group commit: one fsync for a burst), and each
  sender is answered only after the commit that covers its message.
- The pipeline, the outbound sender, the clock's jobs and the command line write in turns:
  `transaction()` (a session that commits at the end) or `turn()` (the turn alone, for a caller
  that manages its session). A turn begins once no other writer is in and either no message
  waits or the receiver has had its turn since the last one began; a turn that is under way
  asks `go_on(started)` before each further piece of work and ends soon after a message waits.
  A writer that waits for its turn waits here, not in SQLite's busy handler (which sleeps in
  steps of up to 100 ms). Turns nest: a thread that holds one does not wait for itself.
- While the daemon receives, the pipeline's thread stores what receivers handed over, at the
  start of each of its turns (`serve_from`): one thread writes the registry, so a message waits
  neither for a hand-over between threads nor for a turn. What it has not taken within
  `SERVE_SECONDS` (it is busy with a long step, or stuck), and everything where no pipeline
  serves, is stored by the writer's own thread.

One `Writer` per engine and process: `Writer.of(engine)` finds it, `unit_of_work(engine)` is a
turn of it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from concurrent.futures import Future
from typing import Callable, Iterator

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from .store import Incoming, StorageError, Stored, store_group

log = logging.getLogger("sakspost.writer")

TURN_SECONDS = 0.005  # a turn goes on at least this long even if a message waits to be stored
TURN_WAIT_SECONDS = 5.0  # after this long waiting for a turn, SQLite's own lock decides
SERVE_SECONDS = 1.0  # a message the pipeline's thread has not stored by then is stored by ours
SERVE_GROUPS = 2  # groups the pipeline's thread stores at the start of one turn
MAX_GROUP_MESSAGES = 64
MAX_GROUP_BYTES = 32 * 1024 * 1024

_WRITERS: "weakref.WeakKeyDictionary[Engine, Writer]" = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


class Writer:
    """The writer of ENGINE's registry in this process (see the module's docstring)."""

    def __init__(self, engine: Engine, store: Callable = store_group):
        self.engine = engine
        self._store_group = store
        self.stored: threading.Event | None = None  # set after each commit that stored something
        self._changed = threading.Condition()
        self._urgent = 0  # messages handed over and not yet answered
        self._background = 0  # turns now open (one, but for a timeout)
        self._storing = 0
        self._owed = False  # a store has run since a turn last began
        self._waiting: list[tuple[Incoming, Future, float]] = []
        self._server: threading.Event | None = None  # wakes the thread that serves, if one does
        self._thread: threading.Thread | None = None
        self._held = threading.local()  # how many turns this thread holds
        self.serve_seconds = SERVE_SECONDS

    @classmethod
    def of(cls, engine: Engine) -> "Writer":
        """The writer of ENGINE in this process (made on first use)."""
        with _WRITERS_LOCK:
            writer = _WRITERS.get(engine)
            if writer is None:
                writer = _WRITERS[engine] = cls(engine)
            return writer

    # -- receivers ----------------------------------------------------------------------------

    def store(self, item: Incoming) -> "Future[Stored]":
        """Have ITEM committed; the future's result is its `Stored` row, or its exception a
        `StorageError`. Any thread may call this; the future is settled on the thread that
        stored it."""
        future: Future = Future()
        with self._changed:
            self._urgent += 1
            self._waiting.append((item, future, time.monotonic()))
            if self._thread is None:
                self._thread = threading.Thread(target=self._own_store, name="writer-store", daemon=True)
                self._thread.start()
            server = self._server  # read once: `away` may change it meanwhile
            if server is None:
                self._changed.notify_all()
        if server is not None:
            server.set()
        return future

    def store_now(self, items: list[Incoming]) -> list[Stored | StorageError]:
        """Commit ITEMS together on the caller's thread, in a turn, for a receiver with nobody
        waiting on a socket (`ingest`'s files, a mailbox's messages); what became of each."""
        with self._changed:
            self._urgent += len(items)  # waiting, like a receiver's: the next turn is ours
        try:
            with self._storing_turn():
                try:
                    stored = self._store_group(self.engine, items)
                except StorageError as exc:
                    return [exc] * len(items)
        finally:
            with self._changed:
                self._urgent -= len(items)
                self._changed.notify_all()
        if self.stored is not None:
            self.stored.set()
        return stored

    def serve_from(self, wake: threading.Event) -> None:
        """From now on the thread that WAKE wakes (the pipeline's) stores what receivers hand
        over, at the start of each of its turns and when it has nothing else to do."""
        self._server = wake

    @contextlib.contextmanager
    def away(self) -> Iterator[None]:
        """The thread that serves (`serve_from`) is about to do slow work outside any turn
        (reading attachments, parsing a large message): meanwhile our own thread stores at once."""
        server = self._server
        if server is None:
            yield
            return
        with self._changed:
            self._server = None
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._server = server
                self._changed.notify_all()  # our thread goes back to looking every SERVE_SECONDS

    def store_waiting(self, groups: int | None = None) -> None:
        """Store what waits, group by group (GROUPS at most), and settle each message's future.
        Bounded for the pipeline's thread: under a burst something arrives during every commit,
        and a thread that stored until nothing waited would never get back to its own work."""
        while groups is None or groups > 0:
            if groups is not None:
                groups -= 1
            group = self._next_group()
            if not group:
                return
            with self._storing_turn():
                try:
                    stored = self._store_group(self.engine, [item for item, _, _ in group])
                except Exception as exc:  # StorageError, or a bug: nobody in the group gets 250
                    stored = exc if isinstance(exc, StorageError) else StorageError(f"{type(exc).__name__}: {exc}")
                finally:
                    with self._changed:
                        self._urgent -= len(group)
            lines = []
            for index, (item, future, _) in enumerate(group):
                result = stored if isinstance(stored, BaseException) else stored[index]
                if isinstance(result, BaseException):
                    future.set_exception(result)
                    continue
                lines.append(f"stored message {result.pk} ({len(item.raw)} bytes, {','.join(item.roles)})"
                             + (" duplicate" if result.duplicate else ""))
                future.set_result(result)
            if lines:  # one record for a group
                log.info("%s", "; ".join(lines))
                if self.stored is not None:
                    self.stored.set()

    def _next_group(self) -> list[tuple[Incoming, Future, float]]:
        group, size = [], 0
        with self._changed:
            while self._waiting and len(group) < MAX_GROUP_MESSAGES:
                size += len(self._waiting[0][0].raw)
                if group and size > MAX_GROUP_BYTES:
                    break
                group.append(self._waiting.pop(0))
        return group

    def _own_store(self) -> None:
        """Our thread: store at once where no pipeline serves; where one does, look every
        SERVE_SECONDS for what it has left waiting."""
        while True:
            with self._changed:
                while True:
                    if self._server is None:
                        if self._waiting:
                            break
                        self._changed.wait()
                        continue
                    age = time.monotonic() - self._waiting[0][2] if self._waiting else 0.0
                    if age >= self.serve_seconds:
                        log.warning("the pipeline has not stored waiting messages for %g s; storing them "
                                    "on the writer's own thread", self.serve_seconds)
                        break
                    self._changed.wait(self.serve_seconds - age)
            self.store_waiting()

    @contextlib.contextmanager
    def _storing_turn(self) -> Iterator[None]:
        """Store once the open turn has ended (waiting here, not in SQLite's busy handler)."""
        with self._changed:
            if not self._holds():
                self._changed.wait_for(lambda: self._background == 0, TURN_WAIT_SECONDS)
            self._storing += 1
        try:
            yield
        finally:
            with self._changed:
                self._storing -= 1
                self._owed = True
                self._changed.notify_all()

    # -- everyone else -----------------------------------------------------------------------

    def waiting(self) -> bool:
        """Is a message waiting to be stored (or being stored)?"""
        return self._urgent > 0

    def backlog(self) -> int:
        """How many messages wait to be taken into a group."""
        return len(self._waiting)

    def go_on(self, started: float, seconds: float) -> bool:
        """May a turn that began at STARTED (`time.monotonic()`) and has done one piece of work
        take on another? Not after SECONDS; not after TURN_SECONDS while a message waits."""
        elapsed = time.monotonic() - started
        if elapsed >= seconds:
            return False
        return elapsed < TURN_SECONDS or not self.waiting()

    def _holds(self) -> bool:
        return getattr(self._held, "turns", 0) > 0

    @contextlib.contextmanager
    def turn(self, *, serves: bool = False) -> Iterator[None]:
        """A turn at writing. SERVES: the caller is the thread that stores for the receivers
        (`serve_from`): it stores a few waiting groups first, and then does not wait for the
        messages it is to store itself after this turn."""
        if self._holds():  # nested in a turn of this thread's
            yield
            return
        serving = serves and self._server is not None
        if serving:
            self.store_waiting(SERVE_GROUPS)
        with self._changed:
            self._changed.wait_for(lambda: self._background == 0 and self._storing == 0
                                   and (self._urgent == 0 or self._owed or serving), TURN_WAIT_SECONDS)
            self._background += 1
            self._owed = False
        self._held.turns = 1
        try:
            yield
        finally:
            self._held.turns = 0
            with self._changed:
                self._background -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def transaction(self, *, serves: bool = False) -> Iterator[Session]:
        """A session in a turn (see `turn`): its work commits together at the end, or is rolled
        back on any error. Pending audit events are written just before the commit
        (`transaction`)."""
        with self.turn(serves=serves), Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


    @contextlib.contextmanager
    def statements(self) -> Iterator[Connection]:
        """A Core connection in a turn, its statements committed together at the end: for a
        few statements on the driver (`sql.Prepared`) that need no session."""
        with self.turn(), self.engine.begin() as conn:
            yield conn


def unit_of_work(engine: Engine) -> "contextlib.AbstractContextManager[Session]":
    """A session whose work commits together on success and is rolled back on any error, in a
    turn of ENGINE's writer."""
    return Writer.of(engine).transaction()
