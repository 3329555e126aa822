"""Durable storage of raw inbound mail: the one thing every receiver calls before it says yes.

A message is identified by its fingerprint (`identity.py`: the SHA-256 of its bytes with the
trace headers that differ per delivery left out), which a receiver may hand over with it, as
the receiving front does, or which is computed here. A second delivery of the same message
creates no new row; if it reached another of our addresses, the new role is added to the stored
one. Nothing is parsed beyond the header block, and nothing is decided about the content here.
A delivery that is no mail (a paper form registered from the command line) is kept the same way
by `record_document`, inside the transaction that registers it.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from sqlalchemy import func, insert, literal_column
from sqlalchemy.exc import IntegrityError
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from . import sql
from .identity import fingerprint, message_id_of
from .models import Attachment, Message, RawMessage, row_values, utcnow

LARGE = 1 << 20  # bytes: a message this large is written to SQLite in slices


class StorageError(Exception):
    """The message could not be committed; the sender must try again later."""


@dataclass(frozen=True)
class Stored:
    pk: int
    duplicate: bool
    roles: tuple[str, ...]


def _merge(existing: str, new: tuple[str, ...]) -> str:
    have = [r for r in existing.split(",") if r]
    for r in new:
        if r not in have:
            have.append(r)
    return ",".join(have)


@dataclass(frozen=True)
class Incoming:
    """One message as a receiver hands it over: the raw bytes and the envelope."""

    raw: bytes
    source: str
    roles: tuple[str, ...] = ("support",)
    mail_from: str = ""
    rcpt_tos: tuple[str, ...] = ()
    # `identity.fingerprint` and `identity.message_id_of` of RAW, if the receiver has them (the
    # receiving front computes them in its own process); else they are computed here
    fingerprint: str = ""
    message_id: str | None = None


def store_group(engine: Engine, items: list[Incoming]) -> list[Stored | StorageError]:
    """Commit every one of ITEMS in one transaction (one fsync); what happened to each, in order.

    Group commit: the receiver stores the messages of concurrent senders together, and answers
    each sender only after the commit that covers its message. If the group cannot be committed
    (a uniqueness conflict, a constraint, a value the database refuses, a full disk), each
    message is stored on its own, so one bad message never fails another: a StorageError
    stands in for each one that failed (raised only for a group of one).
    """
    fingerprints = [item.fingerprint or fingerprint(item.raw) for item in items]
    try:
        with engine.begin() as conn:  # every statement of a group runs on the driver: no unit of work
            distinct = sorted(set(fingerprints))
            known = {fp: [pk, roles, rcpt_tos] for pk, fp, roles, rcpt_tos in _stored_with(len(distinct)).all(
                conn, sql.one_of_params(distinct))}
            return [_store(conn, item, fp, known) for item, fp in zip(items, fingerprints)]
    except IntegrityError:
        pass
    except Exception as exc:
        if len(items) == 1:
            raise StorageError(f"{type(exc).__name__}: {exc}") from exc
    if len(items) > 1:
        results: list[Stored | StorageError] = []
        for item in items:
            try:
                results.extend(store_group(engine, [item]))
            except StorageError as exc:
                results.append(exc)
        return results
    item, fp = items[0], fingerprints[0]
    try:
        with Session(engine) as session:  # within the writer's turn (`writer.store_waiting`)
            found = session.exec(select(Message).where(Message.fingerprint == fp)).first()
            if found is None:
                raise StorageError("message vanished after a uniqueness conflict")
            roles = _merge(found.roles, item.roles)
            sql.write(session, found, roles=roles)
            session.commit()
            return [Stored(found.id, True, tuple(roles.split(",")))]
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"{type(exc).__name__}: {exc}") from exc


def _store(conn, item: Incoming, fp: str, known: dict[str, list]) -> Stored:
    """Store ITEM unless KNOWN (fingerprint -> [id, roles, rcpt_tos] of the stored row: read at
    the start of the group and kept up to date here) has it already, in which case the roles
    and recipients it adds are written to that row."""
    found = known.get(fp)
    if found is not None:  # stored before, or earlier in this group
        pk, roles, rcpt_tos = found
        merged = _merge(roles, item.roles)
        if merged != roles:
            found[1:] = [merged, _merge(rcpt_tos, item.rcpt_tos)]
            sql.update_rows(conn, Message, ("roles", "rcpt_tos"),
                            [{"roles": found[1], "rcpt_tos": found[2], "pk_id": pk}])
        return Stored(pk, True, tuple(merged.split(",")))
    pk = sql.insert_row(conn, Message, row_values(
        Message,
        direction="in",
        fingerprint=fp,
        message_id=item.message_id if item.message_id is not None else message_id_of(item.raw),
        size=len(item.raw),
        source=item.source[:200],
        mail_from=_text(item.mail_from)[:500],
        rcpt_tos=_text(",".join(item.rcpt_tos))[:2000],
        roles=",".join(dict.fromkeys(item.roles)),
        status="received",
    ), returning_id=True)
    known[fp] = [pk, ",".join(dict.fromkeys(item.roles)), ",".join(item.rcpt_tos)[:2000]]
    write_raw(conn, pk, item.raw)
    return Stored(pk, False, tuple(item.roles))


def _text(value: str) -> str:
    """VALUE as text the database can store: bytes an SMTPUTF8 envelope held that were no UTF-8
    (kept by the protocol as surrogate escapes) become U+FFFD."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@functools.cache
def _stored_with(n: int) -> sql.Prepared:
    """id, fingerprint, roles and recipients of the stored messages with one of N fingerprints."""
    table = Message.__table__
    return sql.Prepared(lambda: select(table.c.id, table.c.fingerprint, table.c.roles, table.c.rcpt_tos)
                        .where(sql.one_of(table.c.fingerprint, n)))


def write_raw(session, pk: int, raw: bytes) -> None:
    """The raw bytes' row of message PK, received or to be sent (`registry.outbox`), in
    SESSION's transaction (or on its Core connection); a large one through a blob (`_through_blob`)."""
    row = {"message_pk": pk, "data": raw}
    if not _through_blob(session, RawMessage, row):
        sql.insert_row(session, RawMessage, row)


def write_attachments(session, rows: list[dict]) -> None:
    """Attachment ROWS (as `models.row_values` gives them) in SESSION's transaction; a large
    one's data through a blob (`_through_blob`)."""
    sql.insert_rows(session, Attachment, [row for row in rows if not _through_blob(session, Attachment, row)])


def _through_blob(session, model, row: dict) -> bool:
    """On SQLite, INSERT ROW with a large `data` written through an incremental blob, and True;
    else nothing, and False (the caller inserts it as any row). Bound as a parameter, SQLite
    would copy the value and keep that copy bound to the cached INSERT until the next row
    (25 MB more resident memory for a 25 MB message, 18 MB for an 18 MB attachment)."""
    data = row["data"]
    if len(data) < LARGE:
        return False
    conn = sql.connection(session)
    if conn.dialect.name != "sqlite":
        return False
    table = model.__table__
    rowid = conn.execute(insert(table).values({**row, "data": func.zeroblob(len(data))})
                         .returning(literal_column("rowid"))).scalar_one()
    view = memoryview(data)
    with conn.connection.driver_connection.blobopen(table.name, "data", rowid) as blob:
        for start in range(0, len(view), LARGE):
            blob.write(view[start:start + LARGE])
    return True


def find_document(session, identity: bytes) -> Message | None:
    """The stored delivery that is no mail (see `record_document`) with these identifying bytes."""
    digest = "document:" + hashlib.sha256(identity).hexdigest()
    return session.exec(select(Message).where(Message.fingerprint == digest)).first()


def record_document(session, raw: bytes, *, identity: bytes, source: str, subject: str, text: str,
                    filename: str = "", content_type: str = "") -> Message:
    """Keep a delivery that is no mail (a paper form: its scan, or what was typed in) like a
    mail's raw bytes, in the caller's transaction: the case it opens commits with it.
    IDENTITY (what was registered, scan included) makes registering it twice visible."""
    msg = Message(direction="in", fingerprint="document:" + hashlib.sha256(identity).hexdigest(),
                  size=len(raw), source=source[:200], status="processed", classification="citizen_form",
                  subject=subject[:998], text=text, processed_at=utcnow())
    sql.insert_object(session, msg)
    write_raw(session, msg.id, raw)
    if filename or content_type:
        write_attachments(session, [row_values(Attachment, message_pk=msg.id, filename=filename,
                                               content_type=content_type, size=len(raw), data=raw)])
    return msg
