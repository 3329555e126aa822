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

from sqlalchemy.exc import IntegrityError
from sqlalchemy.engine import Engine
from sqlmodel import select

from .db import unit_of_work
from .models import Attachment, Message, RawMessage, utcnow

_TRACE = re.compile(
    rb"^(received|return-path|delivered-to|x-original-to|x-envelope-to|x-delivered-to|"
    rb"x-rcpt-to|envelope-to|x-sakspost-[\w-]+)\s*:",
    re.IGNORECASE,
)
_HEADER_END = re.compile(rb"\r?\n\r?\n|\r\r")
_MSGID = re.compile(rb"<([^<>\s]+)>")


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
    head, body = (raw[: m.start()], raw[m.start():]) if m else (raw, b"")
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
    fp = fingerprint(raw)
    try:
        with unit_of_work(engine) as session:
            found = session.exec(select(Message).where(Message.fingerprint == fp)).first()
            if found is not None:
                merged = _merge(found.roles, roles)
                if merged != found.roles:
                    found.roles = merged
                    found.rcpt_tos = _merge(found.rcpt_tos, rcpt_tos)
                    session.add(found)
                return Stored(found.id, True, tuple(merged.split(",")))
            msg = Message(
                direction="in",
                fingerprint=fp,
                message_id=message_id_of(raw),
                size=len(raw),
                source=source[:200],
                mail_from=mail_from[:500],
                rcpt_tos=",".join(rcpt_tos)[:2000],
                roles=",".join(dict.fromkeys(roles)),
                status="received",
            )
            session.add(msg)
            session.flush()
            session.add(RawMessage(message_pk=msg.id, data=raw))
            pk = msg.id
        return Stored(pk, False, tuple(roles))
    except IntegrityError:
        pass  # another delivery of the same message committed first: that one is ours too
    except Exception as exc:
        raise StorageError(f"{type(exc).__name__}: {exc}") from exc
    try:
        with unit_of_work(engine) as session:
            found = session.exec(select(Message).where(Message.fingerprint == fp)).first()
            if found is None:
                raise StorageError("message vanished after a uniqueness conflict")
            found.roles = _merge(found.roles, roles)
            session.add(found)
            return Stored(found.id, True, tuple(found.roles.split(",")))
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"{type(exc).__name__}: {exc}") from exc


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
