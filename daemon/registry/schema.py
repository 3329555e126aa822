"""The registry's schema: upgraded by the Alembic migrations in `daemon/migrations/`.

Decides what a command may do with the database it is given. An empty database gets the models'
tables (`create_all`) stamped with the newest revision, as Alembic's `stamp` writes it, without
loading Alembic or running every migration (so `sakspost run` on a fresh install needs no other
step; a test holds that this makes the schema the migrations make); one at the newest
revision is used; one that is behind (or was made by the release before migrations, which has
tables but no revision) is refused with the command that upgrades it, `sakspost db upgrade`; one
ahead of this release (a newer release upgraded it) is refused too. Upgrading takes a lock first
(PostgreSQL: an advisory lock; SQLite: the write lock of `BEGIN IMMEDIATE`), so several daemons
starting at once on one empty database make it once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect, text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
BASELINE = "0001"  # the schema of the release before migrations, made by create_all
_LOCK_KEY = 0x5A4B5350  # PostgreSQL advisory lock: one upgrade at a time
# Alembic's own version table (alembic.runtime.migration), made here without loading Alembic
_VERSION = Table("alembic_version", MetaData(), Column("version_num", String(32), nullable=False),
                 PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))

log = logging.getLogger(__name__)


class SchemaError(Exception):
    """The database's schema is not the one this release uses; the message says what to run."""


def alembic_config(connection: Connection | None = None):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision this release knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def revision(connection: Connection) -> str | None:
    """The database's revision: None when it has none (empty, or made before migrations)."""
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def state(connection: Connection) -> str:
    """`empty`, `current`, `behind` (an older revision, or tables without one), or `unknown`
    (a revision this release does not know: a newer release's)."""
    current = revision(connection)
    if current is None:
        return "behind" if _has_tables(connection) else "empty"
    if current == head():
        return "current"
    from alembic.script import ScriptDirectory

    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    return "behind" if current in known else "unknown"


def newest_file() -> str:
    """The newest revision by the migrations' file names (`0004_...py` is revision 0004): what
    `head()` says, without loading Alembic and every migration (a test holds the two equal)."""
    return max(p.name.partition("_")[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def ensure(engine: Engine) -> None:
    """Make an empty database's schema; accept a current one; refuse any other (SchemaError).
    A current one is recognised by one query and an empty one made without Alembic, so a
    command that opens the registry (every `ingest` an MTA pipes a mail to) does not load it."""
    with engine.connect() as conn:
        if _has_version_table(conn):
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            if row is not None and row[0] == newest_file():
                return
            found = state(conn)
        else:
            found = "behind" if _has_tables(conn) else "empty"
    if found == "current":
        return
    if found == "empty":
        upgrade(engine, only_if_empty=True)
        return
    raise SchemaError(_refusal(found, engine))


def check(engine: Engine) -> None:
    """Accept a current schema; refuse any other (SchemaError), an empty database included, and
    change nothing (for the commands that only read)."""
    with engine.connect() as conn:
        found = state(conn) if _has_version_table(conn) or _has_tables(conn) else "empty"
    if found == "empty":
        raise SchemaError(f"no registry at {engine.url.render_as_string(hide_password=True)} yet (a command that "
                          "only reads creates none): `sakspost db upgrade` or the daemon makes it")
    if found != "current":
        raise SchemaError(_refusal(found, engine))


def upgrade(engine: Engine, *, only_if_empty: bool = False) -> tuple[str | None, str]:
    """Bring the schema to the newest revision under a lock; return (revision before, after). An
    empty database is made by `create`; one made before migrations is recognised as the baseline
    and upgraded from there."""
    with engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite: the write lock, held to the end
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        if not _has_tables(conn) and (not _has_version_table(conn) or revision(conn) is None):
            after = create(conn)
            log.info("registry schema %s: (empty) -> %s", engine.url.render_as_string(hide_password=True), after)
            return None, after
        before = revision(conn)
        if only_if_empty:
            return before, before  # another process made it meanwhile; `ensure` is asked again at start
        from alembic import command

        cfg = alembic_config(conn)
        if before is None and _has_tables(conn):
            command.stamp(cfg, BASELINE)
            before = "(before migrations)"
        command.upgrade(cfg, "head")
        after = revision(conn)
        if after != before:
            log.info("registry schema %s: %s -> %s", engine.url.render_as_string(hide_password=True),
                     before or "(empty)", after)
        return before, after


def create(connection: Connection) -> str:
    """Make the schema in an empty database: the models' tables, and the version table holding
    the newest revision (what `alembic stamp head` writes). Returns that revision."""
    from sqlmodel import SQLModel

    from . import models  # noqa: F401  (registers the tables)

    SQLModel.metadata.create_all(connection)
    _VERSION.create(connection, checkfirst=True)
    newest = newest_file()
    connection.execute(_VERSION.insert().values(version_num=newest))
    return newest


def migrate(connection: Connection) -> str:
    """Run every migration on CONNECTION's empty database, as `create` would not (for the test
    that the two agree); returns the revision reached."""
    from alembic import command

    command.upgrade(alembic_config(connection), "head")
    return revision(connection)


def new_revision(engine: Engine, message: str) -> Path:
    """Write the migration from ENGINE's schema (which must be current) to the models' as they are
    now (Alembic's autogenerate; read it through before committing it); return its file."""
    with engine.begin() as conn:
        if state(conn) != "current":
            raise SchemaError(_refusal(state(conn), engine))
        from alembic import command

        number = f"{int(head()) + 1:04d}"
        script = command.revision(alembic_config(conn), message=message, autogenerate=True, rev_id=number)
    return Path(script.path)


def _has_version_table(connection: Connection) -> bool:
    return inspect(connection).has_table("alembic_version")


def _has_tables(connection: Connection) -> bool:
    return bool(set(inspect(connection).get_table_names()) - {"alembic_version"})


def _refusal(found: str, engine: Engine) -> str:
    url = engine.url.render_as_string(hide_password=True)
    if found == "unknown":
        return (f"the registry {url} was upgraded by a newer release of sakspost (schema revision unknown "
                f"to this one, {head()}): install that release")
    return f"the registry {url} has an older schema than this release's ({head()}): run `sakspost db upgrade`"
