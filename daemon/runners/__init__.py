"""Runners: background loops that each drive one queue (the pipeline, the outbox, mailboxes)."""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger("sakspost.runner")


class Runner(threading.Thread):
    """Call STEP whenever WAKE is set, and at least every INTERVAL seconds; survive its errors.

    NEXT_WAIT, when given, says how long to sleep before the next step (e.g. until the next
    outbox retry is due), capped by INTERVAL.
    """

    def __init__(self, name: str, step: Callable[[], object], wake: threading.Event,
                 interval: float, next_wait: Callable[[], float] | None = None):
        super().__init__(name=name, daemon=True)
        self.step = step
        self.wake = wake
        self.interval = interval
        self.next_wait = next_wait
        self.stopping = threading.Event()
        self.failures = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()
            try:
                self.step()
                self.failures = 0
            except Exception:
                self.failures += 1
                log.exception("%s runner step failed (%d in a row)", self.name, self.failures)
            if self.stopping.is_set():
                break
            wait = self.interval
            if self.failures:
                wait = min(self.interval * 2 ** min(self.failures, 6), 300)
            elif self.next_wait is not None:
                try:
                    wait = self.next_wait()
                except Exception:
                    wait = self.interval
            self.wake.wait(wait)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.wake.set()
        self.join(timeout)
