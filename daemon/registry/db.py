"""Opening the registry database: one engine per process, one short session per unit of work.

Decides how durability is configured. SQLite (the default) runs in WAL mode with
`synchronous=FULL` (a committed message survives power loss, which is what our `250` promises),
a busy timeout, and `BEGIN IMMEDIATE` for every transaction so writers queue instead of failing
on lock upgrades (SQLAlchemy's documented recipe); a transaction that only reads (`read_only`)
begins deferred, so it never waits for nor holds the write lock. PostgreSQL is used as it is.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from . import events, models  # noqa: F401  (registers the tables, and the case events' listeners)
from . import schema


def open_engine(url: str, *, create: bool = True) -> Engine:
    """The registry's engine. Its errors (and SQL logging) never show the values bound to a
    statement (`hide_parameters`): they are logged, and a mail's text may hold an identity number.
    With CREATE, an empty database gets the schema and one that is not current is refused
    (`schema.SchemaError`, saying which command to run)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # LIFO: a thread gets back the connection it just used, whose page cache is still valid
        # unless another connection has written since (SQLite drops a connection's whole cache
        # when it sees another's commit; FIFO handed out the least recently used one, and the
        # daemon read 86 pages a message back from the file instead of 31)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_use_lifo=True,
                               hide_parameters=True)
        _sqlite_recipe(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
    if create:
        try:
            schema.ensure(engine)
        except BaseException:
            engine.dispose()
            raise
    return engine


def _sqlite_recipe(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


_READ_ONLY = "sakspost_read_only"


def read_only(engine: Engine) -> Engine:
    """ENGINE for transactions that only read: on SQLite they begin deferred (no write lock)."""
    return engine.execution_options(**{_READ_ONLY: True})


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextlib.contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """A session whose work commits together on success and is rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class WriterQueue:
    """Inside one process, the write lock is taken here before SQLite is asked for it, and the
    receiver and the background writers take turns.

    SQLite has one writer at a time, and a writer that finds the lock taken sleeps in SQLite's
    busy handler (1, 2, 5, ... up to 100 ms between tries). So the receiver says here that
    messages are waiting to be stored (`arrive`, then `done`) and stores them once the open
    background transaction has ended (`storing`); background writers (the pipeline, the outbox
    sender) take turns among themselves (`background`), and end theirs early when a message
    waits (`waiting`): a sender hears `250` without waiting for case work.

    Turns, not strict priority: a background transaction begins while messages wait only once a
    store has run since the last one began. Under a burst, four senders keep a message waiting
    nearly all the time, and strict priority let the pipeline apply 27 messages a second while
    300 a second were stored (bench/README.md); now a store of whatever has arrived and a
    pipeline transaction alternate, and each store's group commit takes more messages at once.
    """

    def __init__(self):
        self._changed = threading.Condition()
        self._urgent = 0
        self._background = 0  # background transactions now open (one, but for a timeout)
        self._storing = 0
        self._owed = False  # a store has run since a background transaction last began

    def arrive(self, n: int = 1) -> None:
        """N urgent writes are coming (messages waiting to be stored)."""
        with self._changed:
            self._urgent += n

    def done(self, n: int = 1) -> None:
        """N urgent writes are over."""
        with self._changed:
            self._urgent -= n
            self._changed.notify_all()

    def waiting(self) -> bool:
        """Is an urgent writer storing, or about to?"""
        return self._urgent > 0

    @contextlib.contextmanager
    def background(self, timeout: float = 5.0, stores_for_receiver: bool = False) -> Iterator[None]:
        """A background transaction (the pipeline's, the outbox sender's): it begins once no
        other writer is in and either no message waits or the receiver has had its turn (or
        after TIMEOUT: then SQLite's lock decides), and it should end soon after `waiting()`
        says so. Two writers never meet in SQLite's busy handler, where the one that waits
        sleeps in steps of up to 100 ms and holds up the receiver behind it. A writer that
        STORES_FOR_RECEIVER (the pipeline's thread, see `receive.smtp.GroupCommit`) does not
        wait for the messages it is to store itself after this transaction."""
        with self._changed:
            self._changed.wait_for(lambda: self._background == 0 and self._storing == 0
                                   and (self._urgent == 0 or self._owed or stores_for_receiver), timeout)
            self._background += 1
            self._owed = False
        try:
            yield
        finally:
            with self._changed:
                self._background -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def storing(self, timeout: float = 5.0) -> Iterator[None]:
        """For the receiver: store once the open background transaction has ended (waiting
        here, not in SQLite's busy handler); after TIMEOUT go on and let SQLite's lock decide."""
        with self._changed:
            self._changed.wait_for(lambda: self._background == 0, timeout)
            self._storing += 1
        try:
            yield
        finally:
            with self._changed:
                self._storing -= 1
                self._owed = True
                self._changed.notify_all()
