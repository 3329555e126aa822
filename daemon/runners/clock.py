"""The clock runner (APScheduler 3.x, in-memory job store, never shared between processes).

Decides nothing about what is due: each job asks the registry what is due now and records
what it did there, so a missed tick or a second daemon changes nothing. Jobs coalesce, never
run twice at once, and tolerate a late start (`misfire_grace_time`).
"""

from __future__ import annotations

import logging
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from ..metrics import SCHEDULER_RUNS

log = logging.getLogger("sakspost.clock")


class ClockRunner:
    """Runs the jobs `app.py` gives it, each on its own timer, on APScheduler's threads."""

    name = "clock"

    def __init__(self):
        self.gate: Callable[[str], bool] = lambda name: True  # may this instance run job NAME now?
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )

    def every(self, name: str, seconds: float, func: Callable[[], object], *, first_in: float | None = None) -> None:
        """Run FUNC every SECONDS (first after FIRST_IN seconds, default SECONDS)."""
        from datetime import datetime, timedelta, timezone

        start = datetime.now(timezone.utc) + timedelta(seconds=seconds if first_in is None else first_in)
        self.scheduler.add_job(self._guard(name, func), "interval", seconds=seconds, id=name,
                               name=name, next_run_time=start, replace_existing=True)

    def cron(self, name: str, func: Callable[[], object], **fields) -> None:
        """Run FUNC on a cron schedule (APScheduler's cron fields, e.g. day_of_week="mon", hour=7)."""
        self.scheduler.add_job(self._guard(name, func), "cron", id=name, name=name, replace_existing=True, **fields)

    def _guard(self, name: str, func):
        def run():
            if not self.gate(name):
                return  # another instance runs it
            try:
                func()
            except Exception:
                log.exception("scheduled job %s failed", name)
                SCHEDULER_RUNS.labels(name, "failed").inc()
            else:
                SCHEDULER_RUNS.labels(name, "ok").inc()
        return run

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
