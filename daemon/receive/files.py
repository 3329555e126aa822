"""Batch import and MTA pipe delivery: files, mbox archives and standard input.

Decides how a file is split into messages: an mbox archive (a file starting with `From `)
yields every message in it; anything else is one message. Each message is stored exactly like
one received over SMTP; a file that is no mail (empty, binary) is stored too and dead-lettered
by the pipeline with a clear reason. One unreadable file never stops the ones after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..registry.store import Stored, store_raw

_MBOX_FROM = re.compile(rb"^From \S+", re.MULTILINE)


@dataclass
class Outcome:
    name: str
    stored: list[Stored]
    error: str = ""


def split_messages(data: bytes) -> list[bytes]:
    """One message, or every message of an mbox archive."""
    if data.startswith(b"From ") and _MBOX_FROM.match(data):
        return _split_mbox(data)
    return [data]


def _split_mbox(data: bytes) -> list[bytes]:
    parts: list[bytes] = []
    starts = [m.start() for m in re.finditer(rb"(?:^|\n)From [^\n]*\n", data)]
    for i, start in enumerate(starts):
        chunk = data[start: starts[i + 1] if i + 1 < len(starts) else len(data)]
        chunk = chunk.lstrip(b"\n")
        body = chunk.split(b"\n", 1)[1] if b"\n" in chunk else b""
        # undo mboxrd/mboxo quoting of lines starting with From
        body = re.sub(rb"(?m)^>(>*From )", rb"\1", body)
        parts.append(body)
    return parts or [data]


def ingest_bytes(rt, data: bytes, *, source: str, roles=("support",)) -> list[Stored]:
    return [store_raw(rt.engine, msg, source=source, roles=tuple(roles)) for msg in split_messages(data)]


def ingest_path(rt, path: str, *, roles=("support",)) -> Outcome:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return Outcome(path, [], f"cannot read: {exc.strerror}")
    return Outcome(path, ingest_bytes(rt, data, source=f"file:{path}"[:200], roles=roles))

