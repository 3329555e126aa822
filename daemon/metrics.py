"""The daemon's own counters, in Prometheus' terms: what happened in this process since it started.

Decides the names and labels operators alert on. What the registry can say at any moment (cases by
kind and state, messages and outbox by status, the oldest A/B case not yet escalated, mailbox lag)
is read from the database when scraped (`daemon.watch`), so it is the same whichever instance is
asked and survives a restart; only what happens (events, latencies, scheduler runs) is counted here.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

CASE_EVENTS = Counter("sakspost_case_events", "Case events committed: opened, escalated, acknowledged, closed, "
                      "escalation_failed, bounced", ["event", "kind"], registry=REGISTRY)
ESCALATION_LATENCY = Histogram("sakspost_escalation_latency_seconds",
                               "From a case's opening to NHN being told (A/B incidents)",
                               buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, float("inf")), registry=REGISTRY)
SCHEDULER_RUNS = Counter("sakspost_scheduler_runs", "Scheduled job runs", ["job", "outcome"], registry=REGISTRY)
