"""Parsing beside the pipeline: a helper process parses the next batch while this one applies.

Decides where a stored message is parsed. Parsing needs nothing from the registry's transaction
and is a large part of a message's work, so the pipeline hands the batch it
claims next to one helper process (`ahead`, in slices of `SLICE` messages) and applies the
current batch meanwhile; `collect` takes the results before the next write transaction begins,
where the batch used to be parsed in this process. Nobody waits for a helper that has not begun:
a slice it has not started when its results are wanted is parsed here instead, from the bytes
it was given. Messages larger than `HELPER_MAX_BYTES` are always parsed here, from the stored
blob slice by slice (never whole in memory twice); and if the helper dies (or leaves a slice
unanswered for `SLICE_TIMEOUT`), what it held is parsed here and a new helper starts with a
later batch (`RESTART_SECONDS` on: a helper that cannot start is not started again and again).
A helper whose parent is gone ends itself. The helper gets raw bytes and gives back
`ParsedMail`s; it never opens the registry, and it imports only the standard library
(`daemon.parse`).

The helper runs only where it can pay: `[pipeline].parse_helper` (on by default) and more than
one core for this process; it is started by the commands that process mail in bulk (`run`,
`ingest`, `reprocess`), and anything else parses in its own process as before.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import select

from ..registry.db import is_sqlite, read_only
from ..registry.models import Message, RawMessage
from .hooks import read_with
from ..parse import ELSEWHERE_MAX_BYTES, ParsedMail, parse, parse_many, start_helper

log = logging.getLogger("sakspost.pipeline")
SLICE = 8  # messages per hand-over
HELPER_MAX_BYTES = ELSEWHERE_MAX_BYTES  # larger messages are parsed here, never copied to the helper and back
SLICE_TIMEOUT = 120.0  # seconds; a slice takes milliseconds: a helper this late is given up on


def _size_of(mail: ParsedMail) -> int:
    """About what a parse holds: its text, header fields and attachments (characters as bytes)."""
    return (len(mail.text) + len(mail.encoded_headers) + sum(len(k) + len(v) for k, v in mail.headers)
            + sum(map(len, mail.authentication_results))
            + sum(len(a.data) for a in mail.attachments))


def parse_here(engine: Engine, ids: list[int]) -> dict[int, ParsedMail]:
    """pk -> ParsedMail for IDS, parsed in this process without taking the write lock; on
    SQLite straight from the stored blob, slice by slice. A pk without a raw row is left out:
    the pipeline finds out and says so."""
    parsed = {}
    for pk in ids:
        with read_only(engine).connect() as conn:
            if is_sqlite(engine):
                try:
                    with conn.connection.driver_connection.blobopen(
                            RawMessage.__tablename__, "data", pk, readonly=True) as blob:
                        parsed[pk] = parse(blob)
                except sqlite3.Error:
                    pass
            else:
                data = conn.execute(select(RawMessage.data).where(RawMessage.message_pk == pk)).scalar()
                if data is not None:
                    parsed[pk] = parse(data)
    return parsed


@dataclass
class Ahead:
    """A batch handed to the helper: its ids, the helper it went to, and each slice's
    (pk, raw bytes) with the helper's future (a slice the helper has not begun is parsed here
    from those bytes, not read again)."""

    ids: list[int]
    pool: ProcessPoolExecutor | None = None
    slices: list[tuple[list[tuple[int, bytes]], Future]] = field(default_factory=list)
    recalled: dict[int, ParsedMail] = field(default_factory=dict)  # parsed already (`remember`)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Parsers:
    """The pipeline's parsing: in one helper process when it is started, else in this one."""

    RESTART_SECONDS = 30.0  # after a helper died, the next one starts this much later at the earliest

    # parses kept for messages not yet claimed (the front's: `remember`), at most so many and so
    # large: a backlog under a burst fits, and where several daemons share a registry, the
    # parses of messages that another daemon claims do not pile up
    REMEMBERED = 4096
    REMEMBERED_BYTES = 16 * 1024 * 1024

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and usable_cores() > 1
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._wanted = False
        self._not_before = 0.0
        self._remembered: dict[int, tuple[ParsedMail, int]] = {}  # pk -> (parse, its size)
        self._remembered_bytes = 0

    def remember(self, pk: int, mail: ParsedMail) -> None:
        """MAIL is message PK parsed already (by the receiving front, which had it in hand):
        the pipeline takes it instead of parsing again. Only so many are kept (the oldest go
        first); a message whose parse was dropped is parsed as any other."""
        size = _size_of(mail)
        with self._lock:
            old = self._remembered.pop(pk, None)
            if old is not None:
                self._remembered_bytes -= old[1]
            while self._remembered and (len(self._remembered) >= self.REMEMBERED
                                        or self._remembered_bytes + size > self.REMEMBERED_BYTES):
                self._remembered_bytes -= self._remembered.pop(next(iter(self._remembered)))[1]
            self._remembered[pk] = (mail, size)
            self._remembered_bytes += size

    def _recall(self, ids: list[int]) -> dict[int, ParsedMail]:
        with self._lock:
            found = {pk: self._remembered.pop(pk) for pk in ids if pk in self._remembered}
            self._remembered_bytes -= sum(size for _, size in found.values())
        return {pk: mail for pk, (mail, _) in found.items()}

    def start(self) -> None:
        """Start the helper now (it takes a moment to import), if it is to run at all; after
        a helper died, not before RESTART_SECONDS have passed (a later batch starts it)."""
        with self._lock:
            self._wanted = True
            if self.enabled and self._pool is None and time.monotonic() >= self._not_before:
                pool = None
                try:
                    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                               initializer=start_helper, initargs=(os.getpid(),))
                    pool.submit(parse_many, [])  # the process is spawned on the first submit
                except (OSError, RuntimeError) as exc:  # no /dev/shm, no processes left, ...
                    if pool is not None:
                        pool.shutdown(wait=False, cancel_futures=True)
                    self._not_before = time.monotonic() + self.RESTART_SECONDS
                    log.warning("could not start the parse helper (%s: %s); parsing in the "
                                "pipeline's process", type(exc).__name__, exc)
                    return
                self._pool = pool
                log.debug("parse helper started (pid %s)", self.helper_pid())

    def helper_pid(self) -> int | None:
        """The helper process's pid, while one runs."""
        pool = self._pool
        processes = getattr(pool, "_processes", None) or {}
        return next(iter(processes), None)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def ahead(self, engine: Engine, ids: list[int]) -> Ahead:
        """Hand the messages IDS to the helper, if it runs; `collect` gives their parses."""
        batch = Ahead(list(ids), None, recalled=self._recall(ids))
        ids = [pk for pk in ids if pk not in batch.recalled]
        if self._pool is None and self._wanted and ids:
            self.start()
        pool = batch.pool = self._pool
        if pool is None or not ids:
            return batch
        with read_only(engine).connect() as conn:
            rows = conn.execute(
                select(RawMessage.message_pk, RawMessage.data)
                .join(Message, Message.id == RawMessage.message_pk)
                .where(Message.id.in_(ids), Message.size <= HELPER_MAX_BYTES)
                .order_by(RawMessage.message_pk)).all()
        try:
            for start in range(0, len(rows), SLICE):
                items = [(pk, bytes(data)) for pk, data in rows[start:start + SLICE]]
                batch.slices.append((items, pool.submit(parse_many, items, read_with())))
        except RuntimeError as exc:  # the helper died (BrokenProcessPool) or is shutting down
            self._lost(pool, exc)
        return batch

    def collect(self, engine: Engine, batch: Ahead) -> dict[int, ParsedMail]:
        """pk -> ParsedMail for every message of BATCH: the helper's results, and what it has
        not begun (or could not do) parsed here."""
        parsed: dict[int, ParsedMail] = {**batch.recalled, **self._recall(batch.ids)}
        for items, future in batch.slices:
            if not future.cancel():  # begun (or done): its result, unless the helper failed
                try:
                    parsed.update(future.result(timeout=SLICE_TIMEOUT))
                    continue
                except Exception as exc:  # the helper died or hangs
                    self._lost(batch.pool, exc)
            parsed.update(parse_many(items, read_with()))
        parsed.update(parse_here(engine, [pk for pk in batch.ids if pk not in parsed]))
        return parsed

    def _lost(self, pool: ProcessPoolExecutor | None, exc: BaseException) -> None:
        with self._lock:
            if pool is None or self._pool is not pool:
                return
            self._pool = None
            self._not_before = time.monotonic() + self.RESTART_SECONDS
        log.warning("the parse helper failed (%s: %s); parsing in the pipeline's process, and "
                    "starting a new helper in %g s", type(exc).__name__, exc, self.RESTART_SECONDS)
        pool.shutdown(wait=False, cancel_futures=True)
