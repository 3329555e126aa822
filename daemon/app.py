"""`sakspost run`: start the receiver, the runners and the clock; stop them cleanly.

Decides only what runs and in which order: the registry is opened, waiting work from a previous
run is picked up, the runners start, then the SMTP/LMTP listener; systemd hears READY=1 once
the port is open, WATCHDOG=1 from the event loop itself, STOPPING=1 on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from sqlalchemy.engine import make_url

from . import memory, systemd
from .citizen.deadlines import send_due_reminders, today
from . import notify
from .incident import group
from .incident.workflow import close_verified
from .pipeline.process import run_until_empty
from .outbound.sender import seconds_until_next, send_due
from .receive import link, smtp
from .receive.watchers import Mailboxes
from .runners import Runner
from .runners.presence import Presence
from .runtime import Runtime
from .registry import limits
from .incident.stale import send_stale_reminders
from .registry.models import utcnow
from .schedule import digest
from .schedule.clock import Clock

log = logging.getLogger("sakspost")


def describe(cfg) -> list[str]:
    lines = [
        f"configuration: {cfg.source}",
        f"registry: {make_url(cfg.database.url).render_as_string(hide_password=True)}",
    ]
    if cfg.receiver.enabled:
        roles = "every recipient as support" if not cfg.address else \
            ", ".join(f"{a.email}={a.role}" for a in cfg.address)
        where = "a front process" if link.front_usable(cfg) else "this process"
        lines.append(f"receiver: {cfg.receiver.protocol.upper()} on {cfg.receiver.host}:{cfg.receiver.port} "
                     f"({roles}), spoken by {where}")
    for m in cfg.mailbox:
        after = f"then moved to {m.move_to!r}" if m.move_to else f"then flagged \\Seen and {m.keyword}"
        lines.append(f"mailbox {m.name}: {m.username}@{m.host}:{m.port} (tls {m.tls}) folder {m.folder!r} "
                     f"as {m.role}, {after}")
    if cfg.relay is None:
        lines.append(f"no [relay] configured: outbound mail is written to the maildir {cfg.sent_maildir}/ instead")
    else:
        lines.append(f"relay: {cfg.relay.host}:{cfg.relay.port} (starttls={cfg.relay.starttls})")
    lines.append(f"templates: {cfg.templates_dir}")
    if cfg.metrics.listen:
        lines.append(f"metrics: /metrics and /healthz on http://{cfg.metrics.listen}")
    return lines


SENDER_GATHER = 0.25  # seconds
SENDER_DEFER = 2.0  # seconds


class Daemon:
    def __init__(self, rt: Runtime):
        self.rt = rt
        self.runners: list = []
        self.server = None
        self.front = None
        # the receiver in a process of its own, which also parses (so no parse helper then)
        self.uses_front = rt.config.receiver.enabled and link.front_usable(rt.config)
        self.clock = Clock()
        # components with start()/stop(), started after the runners: mailboxes, then the clock
        self.extra: list = []

    def start_runners(self) -> None:
        rt = self.rt
        if not self.uses_front:
            rt.parsers.start()
        # Woken after every pipeline transaction. It takes what has been queued every
        # SENDER_GATHER seconds at most, and while the pipeline has messages waiting it waits
        # for the pipeline up to SENDER_DEFER seconds: under a burst, registering the cases
        # goes first (the sender cost a quarter of it, bench/README.md), and acknowledgements
        # follow in batches. A batch ends between two mails when the daemon stops.
        outgoing = Runner("outgoing", lambda: send_due(rt, outgoing.stopping), rt.wake_sender,
                          interval=rt.config.outbox.poll_seconds,
                          next_wait=lambda: seconds_until_next(rt, rt.config.outbox.poll_seconds),
                          gather=SENDER_GATHER, defer_to=rt.pipeline_idle, defer_seconds=SENDER_DEFER)
        self.runners = [Runner("pipeline", lambda: run_until_empty(rt), rt.wake_pipeline, interval=5.0), outgoing]
        for runner in self.runners:
            runner.start()
        for component in self.extra:
            component.start()

    def stop_runners(self) -> None:
        for component in reversed(self.extra):
            component.stop()
        for runner in self.runners:
            runner.stop()

    async def serve(self, stop: asyncio.Event) -> None:
        for line in describe(self.rt.config):
            log.info("%s", line)
        self.start_runners()
        try:
            if self.rt.config.receiver.enabled:
                committer = smtp.served_committer(self.rt)  # the pipeline's thread stores
                if self.uses_front:
                    self.front = link.Front(self.rt, committer, logging.getLevelName(logging.getLogger().level))
                    self.front.start()
                else:
                    self.server = await smtp.start(self.rt, committer)
            systemd.notify("READY=1\nSTATUS=receiving")
            log.info("sakspost is running")
            watchdog = systemd.watchdog_interval()
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=watchdog or 3600)
                except asyncio.TimeoutError:
                    systemd.notify("WATCHDOG=1")
        finally:
            systemd.notify("STOPPING=1")
            log.info("stopping")
            if self.server is not None:
                self.server.close()
                await self.server.wait_closed()
            if self.front is not None:
                await asyncio.to_thread(self.front.stop)
            await asyncio.to_thread(self.stop_runners)


def run(rt: Runtime) -> int:
    memory.return_large_blocks()
    # The pipeline thread is CPU-bound; a shorter switch interval than the default 5 ms lets the
    # event loop answer `250` sooner while a burst is processed (p99 DATA->250 at 50/s).
    sys.setswitchinterval(0.001)
    daemon = Daemon(rt)
    verify_every = min(60.0, max(1.0, rt.config.incident.verification_hours * 3600 / 4))
    daemon.clock.every("close_verified_incidents", verify_every, lambda: close_verified(rt), first_in=1)
    # hourly, not daily: each reminder is recorded when queued, so a late or repeated run sends nothing twice
    daemon.clock.every("citizen_deadline_reminders", 3600, lambda: send_due_reminders(rt, today()), first_in=60)
    daemon.clock.every("forget_rate_events", 3600, lambda: limits.forget_old(rt.engine), first_in=120)
    # both ask the registry what is due and record what they sent there (once across daemons)
    daemon.clock.every("stale_incident_reminders", 3600, lambda: send_stale_reminders(rt, utcnow()), first_in=90)
    if rt.config.digest.recipients:
        daemon.clock.every("meeting_digest", digest.TICK_SECONDS, lambda: digest.send_due_digest(rt, utcnow()),
                           first_in=5)
    daemon.clock.every("failed_nhn_mail", 10, lambda: group.tell_failed_forwards(rt), first_in=5)
    if rt.config.notify.minor_cases == "digest":  # 07:00 Norwegian time, summer and winter
        daemon.clock.cron("handler_digest", lambda: notify.send_digest(rt), hour=7, minute=0, timezone="Europe/Oslo")
    # several instances on one registry: each mailbox is worked, each of these jobs run, by one of them
    shared_jobs = ("close_verified_incidents", "citizen_deadline_reminders", "forget_rate_events",
                   "stale_incident_reminders", "meeting_digest", "failed_nhn_mail", "handler_digest")
    presence = Presence(rt.engine, [f"mailbox:{m.name}" for m in rt.config.mailbox] +
                        [f"job:{name}" for name in shared_jobs])
    daemon.clock.gate = lambda name: name not in shared_jobs or presence.holds(f"job:{name}")
    daemon.extra.append(presence)
    if rt.config.mailbox:
        daemon.extra.append(Mailboxes(rt, daemon.clock, presence))
    daemon.extra.append(daemon.clock)
    if rt.config.metrics.listen:
        from .watch import Watch

        daemon.extra.append(Watch(rt))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await daemon.serve(stop)

    asyncio.run(main())
    return 0
