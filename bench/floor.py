"""The floor: the least work any mail daemon on this machine must do for the same corpus.

Every message is read from its file, parsed once with the standard library's parser (the same
`policy.default` the daemon uses; only the Subject is read from it), and one row (subject and
raw bytes) is inserted into SQLite in WAL mode with `synchronous=FULL`, one transaction per
message, in this one process. No case, no acknowledgement, no index but the primary key.
The daemon's numbers are shown as ratios of this one, measured minutes apart on the same machine.
"""

from __future__ import annotations

import sqlite3
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path


def measure(files: list[Path], db_path: Path) -> dict:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    parser = BytesParser(policy=policy.default)
    started = time.perf_counter()
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE mail (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, raw BLOB NOT NULL)")
    for path in files:
        raw = path.read_bytes()
        msg = parser.parsebytes(raw)
        try:
            subject = str(msg.get("Subject", ""))
        except Exception:  # a header policy.default cannot read; the floor does not care
            subject = ""
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO mail (subject, raw) VALUES (?, ?)", (subject, raw))
        db.execute("COMMIT")
    db.close()
    seconds = time.perf_counter() - started
    return {"messages": len(files), "seconds": seconds, "msgs_per_s": len(files) / seconds}
