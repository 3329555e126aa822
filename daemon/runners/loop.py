"""The loop the pipeline and outgoing runners share: a thread that steps when woken or when due."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger("sakspost.runner")


class Runner(threading.Thread):
    """Call STEP whenever WAKE is set, and at least every INTERVAL seconds; survive its errors.

    NEXT_WAIT, when given, says how long to sleep before the next step (e.g. until the next
    outbox retry is due), capped by INTERVAL. GATHER, when given, is the least time from one
    step's start to the next one's: what wakes it meanwhile is taken by one step, not one each.
    DEFER_TO, when given, is an event the next step waits for, up to DEFER_SECONDS after the
    last step began: work that can wait gives way to work that cannot.
    """

    def __init__(self, name: str, step: Callable[[], object], wake: threading.Event,
                 interval: float, next_wait: Callable[[], float] | None = None, gather: float = 0.0,
                 defer_to: threading.Event | None = None, defer_seconds: float = 0.0):
        super().__init__(name=name, daemon=True)
        self.step = step
        self.wake = wake
        self.interval = interval
        self.next_wait = next_wait
        self.gather = gather
        self.defer_to = defer_to
        self.defer_seconds = defer_seconds
        self.stopping = threading.Event()
        self.failures = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()
            began = time.monotonic()
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
            if self.wake.wait(wait) and self.gather:
                self.stopping.wait(self.gather - (time.monotonic() - began))
            if self.defer_to is not None and not self.defer_to.is_set():
                self.defer_to.wait(self.defer_seconds - (time.monotonic() - began))

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.wake.set()
        self.join(timeout)
