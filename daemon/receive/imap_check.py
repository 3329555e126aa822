"""`sakspost mailboxes check`: can each configured mailbox be used, and what is in it?

Decides only what counts as a problem: a mailbox is fine when we can connect (TLS as
configured, certificate verified), log in and open its folder. It changes nothing on the
server: folders are read with LIST and STATUS, the watched folder is opened with EXAMINE
(read-only), no flag is set and no folder is created (a missing `move_to` folder is only
noted: the daemon creates it on its first connect).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field

from ..config import Mailbox
from .imap import connect, explain


@dataclass
class Report:
    mailbox: Mailbox
    problem: str = ""
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problem

    def render(self) -> str:
        m = self.mailbox
        verdict = "OK" if self.ok else f"FAILED: {self.problem}"
        head = f"{m.name} ({m.username} at {m.host}:{m.port}, tls {m.tls}): {verdict}"
        return "\n".join([head, *(f"  {line}" for line in self.lines)])


def _same_folder(a: str, b: str) -> bool:
    return a == b or (a.upper() == "INBOX" and b.upper() == "INBOX")


def check_mailbox(m: Mailbox) -> Report:
    report = Report(m)
    try:
        client = connect(m)
    except Exception as exc:
        report.problem = explain(exc, m)
        return report
    try:
        folders = [name for flags, _delim, name in client.list_folders() if b"\\Noselect" not in flags]
        for name in folders:
            status = client.folder_status(name, [b"MESSAGES", b"UNSEEN"])
            role = ""
            if _same_folder(name, m.folder):
                role = "  <- watched"
            elif m.move_to and name == m.move_to:
                role = "  <- stored messages are moved here"
            report.lines.append(f"{name}: {status[b'MESSAGES']} messages, {status[b'UNSEEN']} unseen{role}")
        if not any(_same_folder(name, m.folder) for name in folders):
            report.problem = f"no such folder {m.folder!r} (folders: {', '.join(folders) or 'none'})"
        else:
            client.select_folder(m.folder, readonly=True)  # EXAMINE: proves it opens, changes nothing
        if m.move_to and m.move_to not in folders:
            report.lines.append(f"{m.move_to}: does not exist yet; the daemon creates it on its first connect")
        caps = set(client.capabilities())
        offered = [c for c in ("IDLE", "MOVE", "UIDPLUS") if c.encode() in caps]
        waiting = "IDLE" if m.idle and "IDLE" in offered else f"polling every {m.poll_seconds:g} s"
        report.lines.append(f"server offers: {', '.join(offered) or 'none of IDLE, MOVE, UIDPLUS'}; "
                            f"the daemon will wait by {waiting}")
    except Exception as exc:
        report.problem = explain(exc, m)
    finally:
        with suppress(Exception):
            client.logout()
    return report
