"""Durable storage of raw inbound mail: the one thing every receiver calls before it says yes.

Decides what counts as the same message. A message is identified by its fingerprint: the
SHA-256 of its bytes with the trace headers that differ per delivery (Received, Return-Path,
Delivered-To, X-Original-To, ...) left out. A second delivery of the same message creates no
new row; if it reached another of our addresses, the new role is added to the stored one.
Nothing is parsed beyond the header block, and nothing is decided about the content here.
A delivery that is no mail (a paper form registered from the command line) is kept the same
way by `record_document`, inside the transaction that registers it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from sqlalchemy import func, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.engine import Engine
from sqlmodel import select

from . import sql
from .db import unit_of_work
from .models import Attachment, Message, RawMessage, row_values, utcnow

_TRACE = re.compile(
    rb"^(received|return-path|delivered-to|x-original-to|x-envelope-to|x-delivered-to|"
    rb"x-rcpt-to|envelope-to|x-sakspost-[\w-]+)\s*:",
    re.IGNORECASE,
)
_HEADER_END = re.compile(rb"\r?\n\r?\n|\r\r")
_MSGID = re.compile(rb"<([^<>\s]+)>")
LARGE = 1 << 20  # bytes: a message this large is written to SQLite in slices


class StorageError(Exception):
    """The message could not be committed; the sender must try again later."""


@dataclass(frozen=True)
class Stored:
    pk: int
    duplicate: bool
    roles: tuple[str, ...]


def header_block(raw: bytes) -> bytes:
    m = _HEADER_END.search(raw)
    return raw[: m.start()] if m else raw


def fingerprint(raw: bytes) -> str:
    """SHA-256 over the message without its per-delivery trace header fields."""
    m = _HEADER_END.search(raw)
    head, body = (raw[: m.start()], memoryview(raw)[m.start():]) if m else (raw, b"")
    digest = hashlib.sha256()
    skipping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                digest.update(line)
            continue
        skipping = bool(_TRACE.match(line))
        if not skipping:
            digest.update(line)
    digest.update(body)
    return digest.hexdigest()


def message_id_of(raw: bytes) -> str:
    """The Message-ID without angle brackets, or "" when there is none usable."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
        value = headers.get("Message-ID")
    except Exception:  # a header block the parser cannot read at all
        return ""
    if value is None:
        return ""
    value = str(value)
    found = _MSGID.search(value.encode("utf-8", "replace"))
    if found:
        return found.group(1).decode("utf-8", "replace")[:500]
    return value.strip()[:500]


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


def store_raw(
    engine: Engine,
    raw: bytes,
    *,
    source: str,
    roles: tuple[str, ...] = ("support",),
    mail_from: str = "",
    rcpt_tos: tuple[str, ...] = (),
) -> Stored:
    """Commit RAW (and its envelope) durably; return its row and whether it was already there.

    Raises StorageError when the commit fails: the caller answers 451 (SMTP), exits 75
    (pipe delivery) or leaves the IMAP message where it is.
    """
    stored = store_group(engine, [Incoming(raw, source, tuple(roles), mail_from, tuple(rcpt_tos))])[0]
    if isinstance(stored, StorageError):
        raise stored
    return stored


def store_group(engine: Engine, items: list[Incoming]) -> list[Stored | StorageError]:
    """Commit every one of ITEMS in one transaction (one fsync); what happened to each, in order.

    Group commit: the receiver stores the messages of concurrent senders together, and answers
    each sender only after the commit that covers its message. Raises StorageError when the
    commit fails: then every sender of the group must be told to try again. If a uniqueness
    conflict spoils the group (another delivery of one of them committed first, or a constraint
    refused one), each is stored on its own, and a StorageError stands in for any that failed.
    """
    fingerprints = [fingerprint(item.raw) for item in items]
    try:
        with unit_of_work(engine) as session:
            known = {m.fingerprint: m for m in session.exec(
                select(Message).where(Message.fingerprint.in_(set(fingerprints))))}
            return [_store(session, item, fp, known) for item, fp in zip(items, fingerprints)]
    except IntegrityError:
        pass
    except Exception as exc:
        raise StorageError(f"{type(exc).__name__}: {exc}") from exc
    if len(items) > 1:
        results: list[Stored | StorageError] = []
        for item in items:
            try:
                results.append(store_raw(engine, item.raw, source=item.source, roles=item.roles,
                                         mail_from=item.mail_from, rcpt_tos=item.rcpt_tos))
            except StorageError as exc:
                results.append(exc)
        return results
    item, fp = items[0], fingerprints[0]
    try:
        with unit_of_work(engine) as session:
            found = session.exec(select(Message).where(Message.fingerprint == fp)).first()
            if found is None:
                raise StorageError("message vanished after a uniqueness conflict")
            found.roles = _merge(found.roles, item.roles)
            session.add(found)
            return [Stored(found.id, True, tuple(found.roles.split(",")))]
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"{type(exc).__name__}: {exc}") from exc


def _store(session, item: Incoming, fp: str, known: dict[str, Message | int]) -> Stored:
    """Store ITEM unless KNOWN (fingerprint -> row, or the id of a row written earlier in this
    group; read at the start of the group and kept up to date here) has it already. A new row
    is written with Core statements: a unit-of-work flush per message cost more than the rest."""
    found = known.get(fp)
    if found is not None:  # stored before, or earlier in this group
        if isinstance(found, int):
            found = known[fp] = session.get(Message, found)
        merged = _merge(found.roles, item.roles)
        if merged != found.roles:
            found.roles = merged
            found.rcpt_tos = _merge(found.rcpt_tos, item.rcpt_tos)
            session.add(found)
        return Stored(found.id, True, tuple(merged.split(",")))
    pk = sql.insert_row(session, Message, row_values(
        Message,
        direction="in",
        fingerprint=fp,
        message_id=message_id_of(item.raw),
        size=len(item.raw),
        source=item.source[:200],
        mail_from=item.mail_from[:500],
        rcpt_tos=",".join(item.rcpt_tos)[:2000],
        roles=",".join(dict.fromkeys(item.roles)),
        status="received",
    ), returning_id=True)
    known[fp] = pk
    write_raw(session, pk, item.raw)
    return Stored(pk, False, tuple(item.roles))


def write_raw(session, pk: int, raw: bytes) -> None:
    """The raw bytes' row of message PK, received or to be sent (`outbound.outbox`). On SQLite
    a large message is written through an incremental blob: bound as a parameter, SQLite would
    copy it and keep that copy bound to the cached INSERT until the next message is stored
    (25 MB of resident memory for a 25 MB message)."""
    conn = session.connection()
    if len(raw) < LARGE or conn.dialect.name != "sqlite":
        sql.insert_row(session, RawMessage, {"message_pk": pk, "data": raw})
        return
    conn.execute(insert(RawMessage).values(message_pk=pk, data=func.zeroblob(len(raw))))
    view = memoryview(raw)
    with conn.connection.driver_connection.blobopen(RawMessage.__tablename__, "data", pk) as blob:
        for start in range(0, len(view), LARGE):
            blob.write(view[start:start + LARGE])


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
    session.add(msg)
    session.flush()
    session.add(RawMessage(message_pk=msg.id, data=raw))
    if filename or content_type:
        session.add(Attachment(message_pk=msg.id, filename=filename, content_type=content_type,
                               size=len(raw), data=raw))
    return msg
