"""Batch import and MTA pipe delivery: files, mbox archives and standard input.

Decides how a file is split into messages: an mbox archive (a file starting with `From `)
yields every message in it; anything else is one message. Each message is stored exactly like
one received over SMTP; a file that is no mail (empty, binary) is stored too and dead-lettered
by the pipeline with a clear reason. One unreadable file never stops the ones after it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..registry.store import Incoming, StorageError, Stored

_MBOX_FROM = re.compile(rb"^From \S+", re.MULTILINE)


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


def ingest(rt, names: list[str], *, roles=("support",), stdin=None,
           group_messages: int = 200, group_bytes: int = 16 * 1024 * 1024) -> Iterator[tuple[str, Stored | str]]:
    """Store every message of NAMES ("-" is STDIN); yield (name, Stored) per message, or
    (name, error) for a file that cannot be read. Messages are committed in groups (one fsync
    per group, as the receiver's group commit does): a batch import of thousands of files does
    not pay one disk flush per message, and nothing is reported stored before its group has
    committed. A StorageError leaves the failed group uncommitted and stops the import."""
    pending: list[tuple[str, Incoming]] = []
    size = 0

    def flush():
        nonlocal size
        results = rt.writer.store_now([item for _, item in pending])
        out = list(zip([name for name, _ in pending], results))
        pending.clear()
        size = 0
        for name, result in out:
            if isinstance(result, StorageError):
                raise result
        return out

    for name in names:
        if name == "-":
            data, source = (stdin.read() if stdin is not None else b""), "stdin"
        else:
            try:
                data = Path(name).read_bytes()
            except OSError as exc:
                yield name, f"cannot read: {exc.strerror}"
                continue
            source = f"file:{name}"[:200]
        for raw in split_messages(data):
            pending.append((name, Incoming(raw, source, tuple(roles))))
            size += len(raw)
            if len(pending) >= group_messages or size >= group_bytes:
                yield from flush()
    if pending:
        yield from flush()
