"""Opening the registry database: one engine per process (its write transactions: `writer.py`).

Decides how durability is configured. SQLite (the default) runs in WAL mode with
`synchronous=FULL` (a committed message survives power loss, which is what our `250` promises),
a busy timeout, and `BEGIN IMMEDIATE` for every transaction so writers queue instead of failing
on lock upgrades (SQLAlchemy's documented recipe); a transaction that only reads (`read_only`)
begins deferred, so it never waits for nor holds the write lock. PostgreSQL is used as it is.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine

from . import events, models  # noqa: F401  (registers the tables, and the case events' listeners)
from . import schema


def check_driver(url: str) -> None:
    """ConfigError unless URL is a database URL whose driver is installed (PostgreSQL's, psycopg, is
    the `postgres` extra), without connecting."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from ..config import ConfigError

    try:
        parsed = make_url(url)
        parsed.get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigError(f"[database].url: {exc}") from None
    except ImportError as exc:
        hint = " (pip install 'sakspost[postgres]')" if parsed.get_backend_name() == "postgresql" else ""
        raise ConfigError(f"[database].url: the {parsed.get_backend_name()} driver is not installed: "
                          f"no module named {exc.name!r}{hint}") from None


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


def require_file(url: str) -> None:
    """SchemaError where URL is a SQLite file that is not there (connecting would create it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:" \
            and not Path(parsed.database).is_file():
        raise schema.SchemaError(f"no registry at {parsed.database} (a command that only reads creates none): "
                                 "`sakspost db upgrade` or the daemon makes it")


def open_existing(url: str) -> Engine:
    """The engine of a registry that is there and current, for a command that only reads: nothing is
    created (no file, no folder, no schema); SchemaError says what is missing."""
    require_file(url)
    engine = open_engine(url, create=False)
    try:
        schema.check(engine)
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
