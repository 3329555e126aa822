"""The daemon's own counters, in Prometheus' terms: what happened in this process since it started.

Decides the names and labels operators alert on. What the registry can say at any moment (cases by
kind and state, messages and outbox by status, the oldest A/B case not yet escalated, mailbox lag)
is read from the database when scraped (`daemon.watch`), so it is the same whichever instance is
asked and survives a restart; only what happens (events, latencies, scheduler runs) is counted here.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, disable_created_metrics

from . import __version__

# No `_created` series beside each counter and histogram: a timestamp per series that no rule
# reads, doubling what is stored (the client's own switch; OpenMetrics keeps them as metadata).
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

# `sakspost_build_info{version="0.1.0"} 1`: which release each instance runs (join it on `instance`).
BUILD = Info("sakspost_build", "The release of sakspost running", registry=REGISTRY)
BUILD.info({"version": __version__})

CASE_EVENTS = Counter("sakspost_case_events", "Case events committed: opened, escalated, acknowledged, closed, "
                      "escalation_failed, bounced", ["event", "kind"], registry=REGISTRY)
ESCALATION_LATENCY = Histogram("sakspost_escalation_latency_seconds",
                               "From a case's opening to NHN being told (A/B incidents)",
                               buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, float("inf")), registry=REGISTRY)
SCHEDULER_RUNS = Counter("sakspost_scheduler_runs", "Scheduled job runs", ["job", "outcome"], registry=REGISTRY)
