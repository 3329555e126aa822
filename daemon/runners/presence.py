"""This instance among the others sharing the registry: a heartbeat thread that holds the leases of
the mailboxes it works and the scheduled jobs it runs (`daemon.registry.leases`).

Decides what this instance may do now: `holds(name)`. Whoever subscribes (the mailboxes) hears the
new set whenever it changes. A heartbeat that cannot reach the registry keeps what it holds until
its leases may have expired (TTL less a margin), then lets go of everything: another instance may
have taken over by then, and two must never work one mailbox.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ..registry import leases

log = logging.getLogger("sakspost.presence")


class Presence:
    name = "presence"

    def __init__(self, engine, wanted: list[str], interval: float = leases.HEARTBEAT, me: str = ""):
        self.engine = engine
        self.wanted = wanted
        self.interval = interval
        self.me = me or leases.new_instance_id()
        self.held: frozenset[str] = frozenset()
        self._subscribers: list[Callable[[frozenset], None]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="presence", daemon=True)
        self._last_ok = time.monotonic()

    def subscribe(self, callback: Callable[[frozenset], None]) -> None:
        self._subscribers.append(callback)

    def holds(self, name: str) -> bool:
        return name in self.held

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._change(frozenset())
        try:
            leases.release(self.engine, self.me)
        except Exception:
            log.exception("instance %s: leases could not be given up (they expire in %g s)", self.me, leases.TTL)

    def beat(self) -> None:
        try:
            held = frozenset(leases.heartbeat(self.engine, self.me, self.wanted))
            self._last_ok = time.monotonic()
        except Exception:
            log.exception("instance %s: heartbeat failed", self.me)
            if time.monotonic() - self._last_ok < leases.TTL - 2 * self.interval / 3:
                return
            held = frozenset()
        self._change(held)

    def _change(self, held: frozenset) -> None:
        if held == self.held:
            return
        gained, lost = sorted(held - self.held), sorted(self.held - held)
        self.held = held
        log.info("instance %s: now holds %s%s", self.me, ", ".join(gained) or "-",
                 f"; gave up {', '.join(lost)}" if lost else "")
        for callback in self._subscribers:
            callback(held)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.beat()
