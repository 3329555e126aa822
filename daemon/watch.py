"""Watching a running daemon: `/metrics` (Prometheus' text format) and `/healthz` on
`[metrics] listen`, in a thread of the daemon; absent key, no listener.

Decides what the registry says on a scrape and what "healthy" means. On a scrape a few counting
queries read, across every instance sharing the registry: cases by kind and state, messages by
direction and status, the outbox by status (pending = queued, sent, failed), the age of the oldest
A/B incident not yet escalated, the oldest inbound message still waiting for the pipeline, and each
mailbox's lag (how long it has been failing or stopped; 0 while it is connected); and the
receiver's connections, open and refused by reason, as its listener or front last told them
(`rt.receiving`). `/healthz` answers 200 when the database answers a query, the receiver
accepts a connection and no mailbox is failing, else 503, with what failed in a small JSON
object (a failing mailbox as `"mailbox NAME": "failing: ITS LAST ERROR"`); the receiver is
`degraded` (still 200) while every place is taken or it refused a connection for lack of room
in the last REFUSED_SECONDS (a scrape every 15 s sees a crowd that came and went between two).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select, text

from .config import listen_address
from .metrics import REGISTRY
from .receive.protocol import FULL, PER_PEER
from .registry.db import read_only
from .registry.models import Case, MailboxState, Message, OutboxMail, as_utc

log = logging.getLogger(__name__)
_WORKING = ("connected", "idle", "polling", "connecting")
REFUSED_SECONDS = 30.0  # the receiver is degraded this long after it last refused for lack of room


class RegistryCollector:
    """What the registry holds, read at each scrape."""

    def __init__(self, engine):
        self.engine = read_only(engine)

    def collect(self):
        now = datetime.now(timezone.utc)
        cases = GaugeMetricFamily("sakspost_cases", "Cases by kind and state", labels=["kind", "state"])
        messages = GaugeMetricFamily("sakspost_messages", "Messages by direction and status (failed: dead-lettered)",
                                     labels=["direction", "status"])
        outbox = GaugeMetricFamily("sakspost_outbox", "Outbound mails by status", labels=["status"])
        unescalated = GaugeMetricFamily("sakspost_unescalated_ab_oldest_seconds",
                                        "Age of the oldest open A/B incident NHN has not been told of (0: none)")
        pending = GaugeMetricFamily("sakspost_inbound_pending_oldest_seconds",
                                    "Age of the oldest inbound message the pipeline has still to process (0: none)")
        # the state is no label: a series that changes its labels as the mailbox fails and
        # recovers breaks every rule over time (`stats` and /healthz say the state)
        lag = GaugeMetricFamily("sakspost_mailbox_lag_seconds",
                                "How long a mailbox has not been read (failing or stopped); 0 while connected",
                                labels=["mailbox"])
        with self.engine.connect() as conn:
            for kind, state, n in conn.execute(select(Case.kind, Case.state, func.count()).group_by(Case.kind, Case.state)):
                cases.add_metric([kind, state], n)
            for direction, status, n in conn.execute(select(Message.direction, Message.status, func.count())
                                                     .group_by(Message.direction, Message.status)):
                messages.add_metric([direction, status], n)
            for status, n in conn.execute(select(OutboxMail.status, func.count()).group_by(OutboxMail.status)):
                outbox.add_metric([status], n)
            oldest = conn.execute(select(func.min(Case.created_at)).where(
                Case.kind == "incident", Case.severity.in_(("A", "B")), Case.escalated_at.is_(None),
                Case.state != "closed")).scalar()
            unescalated.add_metric([], _age(now, oldest))
            waiting = conn.execute(select(func.min(Message.received_at)).where(
                Message.direction == "in", Message.status == "pending")).scalar()
            pending.add_metric([], _age(now, waiting))
            for name, state, since in conn.execute(select(MailboxState.name, MailboxState.state, MailboxState.since)):
                lag.add_metric([name], 0.0 if state in _WORKING else _age(now, since))
        yield from (cases, messages, outbox, unescalated, pending, lag)


class ReceiverCollector:
    """The receiver's connections (`protocol.Connections`, through `rt.receiving`), at each scrape."""

    def __init__(self, receiving, limit: int):
        self.receiving, self.limit = receiving, limit

    def collect(self):
        picture = self.receiving.picture()  # None until the receiver (a front starting) has said anything
        open_, limit, refused = picture[:3] if picture else (0, self.limit, {FULL: 0, PER_PEER: 0})
        gauge = GaugeMetricFamily("sakspost_receiver_connections_open", "SMTP/LMTP connections open now")
        gauge.add_metric([], open_)
        most = GaugeMetricFamily("sakspost_receiver_connections_max", "The [receiver] max_connections")
        most.add_metric([], limit)
        counter = CounterMetricFamily("sakspost_receiver_connections_refused",
                                      "Connections told 421 and closed, by reason: full (max_connections), "
                                      "per_peer (max_connections_per_peer)", labels=["reason"])
        for reason in (FULL, PER_PEER):
            counter.add_metric([reason], refused.get(reason, 0))
        yield from (gauge, most, counter)


def _age(now: datetime, moment) -> float:
    return max((now - as_utc(moment)).total_seconds(), 0.0) if moment is not None else 0.0


class Watch:
    """The HTTP listener; `start()` and `stop()` like the daemon's runners."""

    name = "metrics"

    def __init__(self, rt):
        self.rt = rt
        self.address = listen_address(rt.config.metrics.listen, "[metrics].listen")
        REGISTRY.register(collector := RegistryCollector(rt.engine))
        self._collector = collector
        self.receiving = getattr(rt, "receiving", None)
        self._receiver_collector = None
        if self.receiving is not None:
            REGISTRY.register(receiver_collector := ReceiverCollector(self.receiving, rt.config.receiver.max_connections))
            self._receiver_collector = receiver_collector
        try:
            self.server = ThreadingHTTPServer(self.address, self._handler())
        except OSError as exc:  # said by `sakspost run` in one line
            REGISTRY.unregister(collector)
            if self._receiver_collector is not None:
                REGISTRY.unregister(self._receiver_collector)
            raise OSError(exc.errno, f"{exc.strerror} ([metrics].listen = {rt.config.metrics.listen!r})") from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="watch", daemon=True)

    def start(self) -> None:
        self.thread.start()
        log.info("metrics on http://%s:%d/metrics, health on /healthz", *self.address)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        REGISTRY.unregister(self._collector)
        if self._receiver_collector is not None:
            REGISTRY.unregister(self._receiver_collector)

    def health(self) -> tuple[bool, dict]:
        checks = {}
        try:
            with read_only(self.rt.engine).connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            with read_only(self.rt.engine).connect() as conn:
                for name, error in conn.execute(select(MailboxState.name, MailboxState.last_error)
                                                .where(MailboxState.state == "failing")):
                    checks[f"mailbox {name}"] = f"failing: {error}"
        except Exception as exc:  # what failed is the answer, not a crash
            checks["database"] = f"failed: {type(exc).__name__}"
        receiver = self.rt.config.receiver
        if receiver.enabled:
            refusing = self.refusing()  # before this connection is counted among them
            try:
                with socket.create_connection((receiver.host, receiver.port), timeout=2):
                    checks["receiver"] = "degraded" if refusing else "ok"
            except OSError as exc:
                checks["receiver"] = f"failed: {exc.strerror or type(exc).__name__}"
        return all(v in ("ok", "degraded") for v in checks.values()), checks

    def refusing(self) -> bool:
        """Is the receiver refusing connections for lack of room: every place taken, or one
        refused for it in the last REFUSED_SECONDS? (Refused for `max_connections_per_peer`
        is that peer's limit, not a lack of room: the others are served.)"""
        picture = self.receiving.picture() if self.receiving is not None else None
        if picture is None:
            return False
        open_, limit, _, full_at = picture
        return open_ >= limit or (full_at is not None and time.monotonic() - full_at < REFUSED_SECONDS)

    def _handler(self):
        watch = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    try:
                        body, status, ctype = generate_latest(REGISTRY), 200, CONTENT_TYPE_LATEST
                    except Exception:
                        log.exception("metrics: the registry could not be read")
                        body, status, ctype = b"registry unavailable\n", 503, "text/plain"
                elif path == "/healthz":
                    ok, checks = watch.health()
                    word = "ok" if all(v == "ok" for v in checks.values()) else "degraded" if ok else "failing"
                    body = (json.dumps({"status": word, **checks}) + "\n").encode()
                    status, ctype = (200 if ok else 503), "application/json"
                else:
                    body, status, ctype = b"not found\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):  # scrapes every 15 s are not news
                pass

        return Handler
