"""Who may read the files sakspost writes: the registry database (and its WAL and journal), the
maildir of outbound mail, the secret, every spool file. They hold health data.

Decides the process's file mode once, before anything is written: files are created 0600 (the
daemon's user only), or 0640 where `[paths] group` names a group that may read them (a backup
job's); then the directories the daemon writes in are given that group and the set-group-ID bit,
so what is created in them belongs to the group. A database file found readable by others is
narrowed, and said so in the log.
"""

from __future__ import annotations

import grp
import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def file_mode(config) -> int:
    return 0o640 if config.paths.group else 0o600


def apply(config, directories: bool = True) -> None:
    """Set the umask for every file this process (and its children) creates, narrow a registry
    file that is readable beyond it, and (with DIRECTORIES) prepare the directories it writes in."""
    os.umask(0o027 if config.paths.group else 0o077)
    narrow_database(config)
    if not config.paths.group or not directories:
        return
    gid = grp.getgrnam(config.paths.group).gr_gid
    for directory in _directories(config):
        directory.mkdir(parents=True, exist_ok=True)
        try:
            os.chown(directory, -1, gid)
            os.chmod(directory, 0o2750)
        except PermissionError:
            log.warning("cannot give %s to group %s: files there keep the daemon's group", directory,
                        config.paths.group)


def narrow_database(config) -> None:
    """A SQLite registry (with its -wal, -shm, -journal) readable beyond the mode is narrowed to it."""
    database = _database(config)
    if database is None:
        return
    mode = file_mode(config)
    for path in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal"))):
        try:
            current = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if current & ~mode:
            os.chmod(path, current & mode)
            log.warning("%s was readable beyond %o (mode %o): narrowed", path, mode, current)


def _database(config) -> Path | None:
    url = make_url(config.database.url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _directories(config) -> list[Path]:
    found = [config.var_dir, config.sent_maildir]
    database = _database(config)
    if database is not None:
        found.append(database.parent)
    return found
