"""The mailbox runner: a watcher thread per configured mailbox this instance works
(`receive/imap.py`'s `MailboxWatcher`), and its poll tick on the clock.

Decides which mailboxes are watched here: all of them, or with a `Presence` (several instances on
one registry) those whose lease `mailbox:NAME` this instance holds, started when it takes the lease
and stopped when it loses it, so one mailbox is never worked by two instances at once.
"""

from __future__ import annotations

import threading
import time

from ..receive.imap import MailboxWatcher


class MailboxRunner:
    """Starts a watcher per configured mailbox (and its poll tick on the clock); stops them all.
    With PRESENCE (several instances on one registry) a mailbox is watched only while this
    instance holds its lease `mailbox:NAME`: started when taken, stopped when lost."""

    name = "mailboxes"

    def __init__(self, rt, clock, presence=None):
        self.rt = rt
        self.clock = clock
        self.presence = presence
        self.watchers: dict[str, MailboxWatcher] = {}
        self._lock = threading.Lock()
        self._started = False
        if presence is not None:
            presence.subscribe(self._held)

    def start(self) -> None:
        for m in self.rt.config.mailbox:
            self.clock.every(f"imap-poll:{m.name}", m.poll_seconds, lambda name=m.name: self._tick(name))
        with self._lock:
            self._started = True
        self._held(self.presence.held if self.presence is not None else None)

    def _tick(self, name: str) -> None:
        watcher = self.watchers.get(name)
        if watcher is not None:
            watcher.poll_tick()

    def _held(self, held) -> None:
        """Watch the mailboxes whose lease is HELD (all, when None); stop watching the others."""
        with self._lock:
            if not self._started:
                return
            for m in self.rt.config.mailbox:
                wanted = held is None or f"mailbox:{m.name}" in held
                if wanted and m.name not in self.watchers:
                    self.watchers[m.name] = watcher = MailboxWatcher(self.rt, m)
                    watcher.start()
                elif not wanted and m.name in self.watchers:
                    self._stop([self.watchers.pop(m.name)])

    def stop(self, timeout: float = 3.0) -> None:
        with self._lock:
            self._started = False
            watchers, self.watchers = list(self.watchers.values()), {}
        self._stop(watchers, timeout)

    @staticmethod
    def _stop(watchers, timeout: float = 3.0) -> None:
        for watcher in watchers:
            watcher.stop_soon()
        deadline = time.monotonic() + timeout
        for watcher in watchers:
            watcher.join(max(0.0, deadline - time.monotonic()))
        for watcher in watchers:
            if watcher.is_alive():
                watcher.abort()
                watcher.join(2.0)
