"""The mailbox cursors: where each IMAP mailbox's ingestion stands, and how it is doing.

Decides what a restart resumes from. A cursor is the folder's UIDVALIDITY and the highest UID
whose message is committed; it only moves forward, one committed message at a time. When the
server presents another UIDVALIDITY the old UIDs mean nothing any more: the cursor starts again
at 0 and the folder is rescanned (the store's fingerprint dedupe keeps that from creating
anything twice). The state (`connecting`, `connected`, `idle`, `polling`, `failing`, `stopped`)
and `since` say what the mailbox is doing and since when; `last_error` keeps the most recent
problem, also after recovery. `refused_at` is when the handlers were told that its login is
refused: once a refusal, until the mailbox has connected again (also across restarts).
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.engine import Engine

from . import sql
from .writer import unit_of_work
from .models import MailboxState, utcnow

log = logging.getLogger("sakspost.mailbox")
STATES = ("connecting", "connected", "idle", "polling", "failing", "stopped")


class Cursor:
    """One mailbox's row in `MailboxState`."""

    def __init__(self, engine: Engine, name: str):
        self.engine = engine
        self.name = name
        self.last_uid = 0

    def set_state(self, state: str, error: str | None = None) -> None:
        """Record STATE (and ERROR); `since` moves only when the state changes.

        A registry that cannot be written to must not stop the mailbox's own retrying, so a
        failure here is logged, not raised.
        """
        assert state in STATES, state
        try:
            with unit_of_work(self.engine) as session:
                row = session.get(MailboxState, self.name) or sql.insert_object(
                    session, MailboxState(name=self.name, state=""))
                values = {"state": state, "since": utcnow()} if row.state != state else {}
                if error is not None:
                    values["last_error"] = error[:1000]
                if state == "connected" and row.refused_at is not None:
                    values["refused_at"] = None
                sql.write(session, row, **values)
        except Exception as exc:
            log.error("mailbox %s: could not record state %s: %s", self.name, state, exc)

    def refused(self) -> bool:
        """The login is refused: whether that is news (the handlers are to be told), recording
        that it is told. A registry that cannot be written to says it is news."""
        try:
            with unit_of_work(self.engine) as session:
                row = session.get(MailboxState, self.name) or sql.insert_object(
                    session, MailboxState(name=self.name, state=""))
                if row.refused_at is not None:
                    return False
                sql.write(session, row, refused_at=utcnow())
                return True
        except Exception as exc:
            log.error("mailbox %s: could not record its refused login: %s", self.name, exc)
            return True

    def open(self, uidvalidity: int) -> int:
        """Resume under UIDVALIDITY: return the highest UID done, 0 if the folder is new to us."""
        with unit_of_work(self.engine) as session:
            row = session.get(MailboxState, self.name) or sql.insert_object(session, MailboxState(name=self.name))
            if row.uidvalidity != uidvalidity:
                if row.uidvalidity is not None:
                    log.warning("mailbox %s: UIDVALIDITY changed from %s to %s: rescanning the folder; "
                                "messages already stored are recognised and not created again",
                                self.name, row.uidvalidity, uidvalidity)
                sql.write(session, row, uidvalidity=uidvalidity, last_uid=0)
            self.last_uid = row.last_uid
        return self.last_uid

    def advance(self, uid: int, outcome: str) -> None:
        """UID is done: OUTCOME is "new", "duplicate" or "vanished" (gone before it was fetched)."""
        values = {"last_uid": uid}
        if outcome == "new":
            values["ingested"] = MailboxState.ingested + 1
        elif outcome == "duplicate":
            values["duplicates"] = MailboxState.duplicates + 1
        with unit_of_work(self.engine) as session:
            session.exec(update(MailboxState).where(MailboxState.name == self.name).values(**values))
        self.last_uid = max(self.last_uid, uid)
