"""The registry's hot statements: built once from the models' tables, run on the driver.

Decides how a statement that runs for every message reaches the database, not what it writes
(`cases`, `store`, `outbox` and the pipeline's `rows` calls decide that). SQLAlchemy builds
each one from the model's table and compiles it once per dialect; a run binds its values
through the columns' own bind processors (so a datetime is stored exactly as the ORM stores it)
and executes the compiled SQL on the DB-API connection under the caller's session, inside the
session's transaction: a fraction of the cost of a Core `Connection.execute` or a unit-of-work
flush, which is why every row of the registry is written this way (figures: bench/README.md).

`write` is the write-through path for a row the session holds: the changed columns are written
at once by one UPDATE and the session's object takes them as its committed values, so the unit
of work has nothing left to flush for it and a later query needs no autoflush to see them. The
object is recorded with the session's transaction (`transaction.written`) so that a savepoint
rolled back around the write leaves it as the database then is.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import bindparam, insert, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import ClauseElement

from . import transaction
from .models import as_loaded, row_values


class Prepared:
    """A statement made by BUILD (no arguments) from the models' tables, compiled once per
    dialect and run on the session's DB-API connection. Its bound parameters are named by
    BUILD (`bindparam("name")`, or a table's column keys for an INSERT); `run` takes them as
    a dict, and the columns' bind processors are applied to the values."""

    def __init__(self, build: Callable[[], ClauseElement]):
        self._build = build
        self._compiled: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def _for(self, dialect) -> tuple:
        got = self._compiled.get(dialect.name)
        if got is None:
            with self._lock:
                compiled = self._build().compile(dialect=dialect)
                names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
                binds = [compiled.binds[name] for name in names]
                processors = tuple(b.type.dialect_impl(dialect).bind_processor(dialect) for b in binds)
                # a literal of the statement (`last + 1`, `LIMIT 1`) is a parameter with its value
                fixed = {name: b.effective_value for name, b in zip(names, binds)
                         if not b.required and b.value is not None}
                got = self._compiled[dialect.name] = (compiled.string, names, processors, compiled.positional, fixed)
        return got

    @staticmethod
    def _params(names, processors, positional, fixed, values: dict):
        if fixed:
            values = {**fixed, **values}
        bound = [values[n] if p is None else p(values[n]) for n, p in zip(names, processors)]
        return bound if positional else dict(zip(names, bound))

    def run(self, session: Session | Connection, values: dict | None = None):
        """Execute with VALUES in SESSION's transaction (or on a Core connection); the DB-API
        cursor (for `fetchone`)."""
        conn = connection(session)
        sql, names, processors, positional, fixed = self._for(conn.dialect)
        cursor = conn.connection.driver_connection.cursor()
        params = self._params(names, processors, positional, fixed, values or {})
        try:
            cursor.execute(sql, params)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, sql, params, exc) from exc
        return cursor

    def run_many(self, session: Session | Connection, rows: Sequence[dict]) -> None:
        """Execute once per row of ROWS (executemany) in SESSION's transaction (or on a Core
        connection)."""
        if not rows:
            return
        conn = connection(session)
        sql, names, processors, positional, fixed = self._for(conn.dialect)
        cursor = conn.connection.driver_connection.cursor()
        params = [self._params(names, processors, positional, fixed, row) for row in rows]
        try:
            cursor.executemany(sql, params)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, sql, params, exc) from exc
        cursor.close()

    def all(self, session: Session | Connection, values: dict | None = None) -> list[tuple]:
        """Every row, as the driver gives it (no result processing: for ids, text and bytes)."""
        if isinstance(session, Session) and session.autoflush:
            session.flush()
        cursor = self.run(session, values)
        rows = cursor.fetchall()
        cursor.close()
        return rows

    def scalar(self, session: Session | Connection, values: dict | None = None):
        """The first column of the first row, or None. What the session's unit of work still
        holds is flushed first, as the ORM's autoflush would (with rows written through, there
        is usually nothing)."""
        if isinstance(session, Session) and session.autoflush:
            session.flush()  # returns at once when there is nothing to flush
        cursor = self.run(session, values)
        row = cursor.fetchone()
        cursor.close()
        return None if row is None else row[0]


def one_of(column, n: int):
    """COLUMN IN (:k0, ..., :k<N-1>), for a statement made for N values (the driver takes no
    expanding parameters: such a statement is cached per N); its values: `one_of_params`."""
    return column.in_([bindparam(f"k{i}") for i in range(n)])


def one_of_params(values: Iterable) -> dict:
    """The parameters of `one_of` for VALUES."""
    return {f"k{i}": value for i, value in enumerate(values)}


# -- rows as objects, without the ORM's loading ------------------------------------------------

@functools.cache
def _rows_by_key(model, n: int) -> Prepared:
    table = _table(model)
    (key,) = table.primary_key.columns
    return Prepared(lambda: select(*table.columns).where(one_of(key, n)))


_READERS: dict = {}


def _reader(model, dialect) -> tuple[tuple[str, ...], tuple]:
    """MODEL's column keys, in table order, and each column's result processor on DIALECT."""
    got = _READERS.get((model, dialect.name))
    if got is None:
        columns = list(_table(model).columns)
        got = _READERS[(model, dialect.name)] = (
            tuple(c.key for c in columns),
            tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns))
    return got


def load(session: Session | Connection, model, keys: Sequence) -> list:
    """MODEL's rows with these primary KEYS, as detached objects with every column loaded (the
    caller adds them to the session that is to change them): one SELECT on the driver, each
    value through its column's result processor, as the ORM reads them, without the cost of its
    loading. In the order the database gives them."""
    out = []
    for start in range(0, len(keys), 100):
        chunk = keys[start:start + 100]
        rows = _rows_by_key(model, len(chunk)).all(session, one_of_params(chunk))
        if rows:
            names, processors = _reader(model, connection(session).dialect)
            for row in rows:
                out.append(as_loaded(model, {n: v if p is None else p(v) for n, p, v in zip(names, processors, row)}))
    return out


def get(session: Session, model, key):
    """`session.get(MODEL, KEY)` for the hot path: the session's own object if it has one, else
    the row read on the driver (see `load`) and added to the session; None if there is none."""
    obj = session.identity_map.get(identity_key(model, key))
    if obj is not None:
        return obj
    found = load(session, model, [key])
    if not found:
        return None
    session.add(found[0])
    return found[0]


def connection(target: Session | Connection) -> Connection:
    """The Core connection of a session's transaction (begun if need be), or TARGET itself."""
    return transaction.connection(target) if isinstance(target, Session) else target


def _wrapped(conn, sql: str, params, exc: Exception) -> DBAPIError:
    """The driver's EXC as SQLAlchemy would have raised it (`IntegrityError`, `OperationalError`,
    ...): callers catch those, whichever path ran the statement."""
    return DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect,
                               hide_parameters=conn.engine.hide_parameters)


# -- INSERT and UPDATE by primary key, per model ---------------------------------------------------

_inserts: dict[tuple[type, bool], Prepared] = {}
_updates: dict[tuple[type, tuple[str, ...]], Prepared] = {}


def _table(model):
    return model.__table__


def _insert_columns(model) -> list[str]:
    """The columns of a new row as `models.row_values` gives it: every one but an integer id,
    which the database assigns."""
    return [c.key for c in _table(model).columns
            if not (c.primary_key and c.key == "id" and c.type.python_type is int)]


def _insert_for(model, returning_id: bool) -> Prepared:
    key = (model, returning_id)
    stmt = _inserts.get(key)
    if stmt is None:
        columns = _insert_columns(model)

        def build(model=model, columns=columns):
            table = _table(model)
            ins = insert(table).values({name: bindparam(name) for name in columns})
            return ins.returning(table.c.id) if returning_id else ins
        stmt = _inserts[key] = Prepared(build)
    return stmt


def insert_row(session: Session | Connection, model, row: dict, *, returning_id: bool = False):
    """INSERT ROW (every column but an autoincrement id, as `models.row_values` gives it) into
    MODEL's table in SESSION's transaction; the new id if RETURNING_ID."""
    stmt = _insert_for(model, returning_id)
    if returning_id:
        return stmt.scalar(session, row)
    stmt.run(session, row).close()
    return None


def insert_rows(session: Session | Connection, model, rows: Sequence[dict]) -> None:
    """INSERT every one of ROWS into MODEL's table in one executemany."""
    _insert_for(model, False).run_many(session, rows)


def _update_for(model, columns: tuple[str, ...]) -> Prepared:
    key = (model, columns)
    stmt = _updates.get(key)
    if stmt is None:
        pk = [c.key for c in _table(model).primary_key.columns]

        def build(model=model, columns=columns, pk=pk):
            table = _table(model)
            cond = [table.c[name] == bindparam(f"pk_{name}") for name in pk]
            return update(table).where(*cond).values({name: bindparam(name) for name in columns})
        stmt = _updates[key] = Prepared(build)
    return stmt


def update_rows(session: Session | Connection, model, columns: Iterable[str], rows: Sequence[dict]) -> None:
    """UPDATE MODEL's rows by primary key: each of ROWS gives COLUMNS' new values and, as
    `pk_<column>`, the primary key (one executemany)."""
    _update_for(model, tuple(columns)).run_many(session, rows)


def insert_object(session: Session, obj):
    """INSERT OBJ, a new row object (made with its model's constructor), in SESSION's
    transaction now, and make it the persistent row SESSION holds: the written-through path for
    a new row, where `session.add` would leave it to the unit of work. Returns OBJ, its id set."""
    model = type(obj)
    columns = _insert_columns(model)
    row = row_values(model, **{name: getattr(obj, name) for name in columns})
    if "id" in _table(model).c and "id" not in columns:  # an id the database assigns
        obj.id = insert_row(session, model, row, returning_id=True)
    else:
        insert_row(session, model, row)
    for name, value in row.items():
        setattr(obj, name, value)
    make_transient_to_detached(obj)  # its history reset, as if loaded
    session.add(obj)
    transaction.written(session, obj, inserted=True)
    return obj


def stage(session: Session, obj, **values: Any) -> None:
    """Set VALUES on OBJ, a persistent row SESSION holds, to be written by a later `write(...,
    also=...)` in the same transaction: what reads the object sees them at once, and the row is
    rewritten once (SQLite rewrites a whole row, overflow pages and all, for any change). Should
    the transaction or a savepoint around it be rolled back first, the object is expired
    (`transaction.written`) and reads the row again."""
    for key, value in values.items():
        set_committed_value(obj, key, value)
    transaction.written(session, obj)


def write(session: Session, obj, *, also: Iterable[str] = (), **values: Any) -> dict:
    """Set VALUES on OBJ, a row SESSION holds, and write the changed ones now (one UPDATE by
    primary key), with the columns ALSO as the object holds them (see `stage`). Returns
    {column: (old, new)} for what changed. A new row is written by `insert_object`, not here;
    a row read in another session joins this one."""
    state = inspect(obj)
    changed = {}
    for key, value in values.items():
        old = state.dict[key] if key in state.dict else getattr(obj, key)  # expired: loaded
        if old != value:
            changed[key] = (old, value)
    for key in also:
        if key not in changed:
            changed[key] = (state.dict[key], state.dict[key])
    if not changed:
        return changed
    if state.key is None or state.pending:
        raise ValueError(f"{type(obj).__name__} is not written yet: insert it with insert_object")
    if state.session is not session:
        session.add(obj)
    model = type(obj)
    columns = tuple(sorted(changed))
    params = {key: new for key, (_, new) in changed.items()}
    for name, value in zip([c.key for c in _table(model).primary_key.columns], state.identity):
        params[f"pk_{name}"] = value
    _update_for(model, columns).run(session, params).close()
    for key, (_, value) in changed.items():
        set_committed_value(obj, key, value)
    transaction.written(session, obj)
    return changed
