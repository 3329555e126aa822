"""`sakspost run`: wire the receiver, the writer and the runners; start them, stop them cleanly.

Decides only what runs and in which order: the runners start (`runners/`: this instance's
presence, the pipeline, the outgoing mail, the mailboxes, the clock with the jobs given to it
here), then the SMTP/LMTP receiver (a front process, `receive/link.py`, or in this process,
`receive/smtp.py`), whose messages the pipeline's thread stores (`registry/writer.py`); systemd
hears READY=1 once the port is open, WATCHDOG=1 from the event loop itself, STOPPING=1 on SIGTERM.
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
from .pipeline import hooks
from .pipeline.roles import CLAIM_ONLY, claim_only
from .receive import link, smtp
from .runners.clock import ClockRunner
from .runners.mailboxes import MailboxRunner
from .runners.outgoing import OutgoingRunner
from .runners.pipeline import PipelineRunner
from .runners.presence import Presence
from .runtime import Runtime
from .registry import limits
from .incident.stale import send_stale_reminders
from .registry.models import utcnow
from .schedule import digest

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
    lines.append(f"trust: {CLAIM_ONLY}" if claim_only(cfg) else
                 f"trust: a sender is proven by {cfg.security.trusted_authserv_id}'s Authentication-Results "
                 "(aligned dmarc=pass or dkim=pass) or by our reply address; unproven mail in a role waits for #godta")
    if cfg.metrics.listen:
        lines.append(f"metrics: /metrics and /healthz on http://{cfg.metrics.listen}")
    return lines


class Daemon:
    """The runners, started in order and stopped in reverse, and the receiver."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.server = None
        self.front = None
        # the receiver in a process of its own, which also parses (so no parse helper then)
        self.uses_front = rt.config.receiver.enabled and link.front_usable(rt.config)
        self.clock = ClockRunner()
        self.runners: list = [PipelineRunner(rt), OutgoingRunner(rt)]

    def start_runners(self) -> None:
        if not self.uses_front:
            self.rt.parsers.start()
        for runner in self.runners:
            runner.start()

    def stop_runners(self) -> None:
        for runner in reversed(self.runners):
            runner.stop()

    async def serve(self, stop: asyncio.Event) -> None:
        for line in describe(self.rt.config):
            log.info("%s", line)
        self.start_runners()
        try:
            if self.rt.config.receiver.enabled:
                writer = self.rt.writer
                writer.stored = self.rt.wake_pipeline
                writer.serve_from(self.rt.wake_pipeline)  # the pipeline's thread stores
                if self.uses_front:
                    self.front = link.Front(self.rt, logging.getLevelName(logging.getLogger().level),
                                            reader=hooks.read_with())
                    self.front.start()
                else:
                    self.server = await smtp.start(self.rt.config, writer, self.rt.receiving)
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
    systemd.open_files_as_allowed()
    # The pipeline thread is CPU-bound; a shorter switch interval than the default 5 ms lets the
    # event loop answer `250` sooner while a burst is processed.
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
                        [f"job:{name}" for name in shared_jobs], me=rt.instance)
    daemon.clock.gate = lambda name: name not in shared_jobs or presence.holds(f"job:{name}")
    daemon.runners.insert(0, presence)
    if rt.config.mailbox:
        daemon.runners.append(MailboxRunner(rt, daemon.clock, presence))
    daemon.runners.append(daemon.clock)
    if rt.config.metrics.listen:
        from .watch import Watch

        daemon.runners.append(Watch(rt))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await daemon.serve(stop)

    asyncio.run(main())
    return 0
