"""Watching a running daemon: `/metrics` and `/healthz` on `[metrics] listen`, one log line per case
event with ids only (JSON on request), and nothing listening where the key is absent."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from conftest import free_port, incident_mail, relay_config, wait_until
from test_incident import ACTORS, FULL_REPORT, HANDLER, INTAKE, REPORTER, mails

SUBJECT = "XCA-oppslag feiler for alle"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[str, float]:
    return {line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
            for line in text.splitlines() if line and not line.startswith("#")}


def test_metrics_health_and_case_event_lines(sakspost, relay):
    port = free_port()
    d = sakspost({**relay_config(relay), **ACTORS, "metrics": {"listen": f"127.0.0.1:{port}"},
                  "logging": {"format": "json"}})
    base = f"http://127.0.0.1:{port}"
    status, health = get(f"{base}/healthz")
    assert status == 200 and json.loads(health) == {"status": "ok", "database": "ok", "receiver": "ok"}

    d.send(incident_mail(subject=SUBJECT, body=FULL_REPORT, sender=REPORTER))  # severity A: to NHN
    (case,) = d.wait_cases(1)
    mails(relay, INTAKE)
    mails(relay, REPORTER)
    mails(relay, HANDLER)  # a new A case: our handlers are told at once

    def scraped():
        found = samples(get(f"{base}/metrics")[1])
        return found if found.get('sakspost_outbox{status="sent"}') == len(relay.messages) == 3 else None
    found = wait_until(scraped, 15, interval=0.2, what="the forward, the acknowledgement and the handler's notice "
                                                        "sent, in /metrics")
    assert found[f'sakspost_cases{{kind="incident",state="{case["state"]}"}}'] == 1
    assert found['sakspost_messages{direction="in",status="processed"}'] == 1
    assert found['sakspost_case_events_total{event="opened",kind="incident"}'] == 1
    assert found['sakspost_case_events_total{event="escalated",kind="incident"}'] == 1
    assert found['sakspost_case_events_total{event="acknowledged",kind="incident"}'] == 1
    assert found["sakspost_escalation_latency_seconds_count"] == 1
    assert found["sakspost_unescalated_ab_oldest_seconds"] == 0
    assert found["sakspost_inbound_pending_oldest_seconds"] == 0

    lines = [json.loads(line) for line in d.log().splitlines() if line.startswith("{")]
    events = [(e["event"], e["case_id"]) for e in lines if e.get("logger") == "sakspost.cases"]
    assert events == [("opened", case["id"]), ("escalated", case["id"]), ("acknowledged", case["id"])]
    assert "XCA-oppslag" not in d.log() and "31129956715" not in d.log()  # ids, never content

    d.stop()  # the receiver and the database gone: the listener is gone too
    assert wait_until(lambda: get_refused(f"{base}/healthz"), 5, what="listener closed")


def get_refused(url: str) -> bool:
    try:
        get(url)
    except OSError:
        return True
    return False


def test_health_says_what_failed(sakspost):
    from daemon.config import parse
    from daemon.registry.db import open_engine
    from daemon.watch import Watch

    port = free_port()
    d = sakspost({}, start=False)
    config = parse({"database": {"url": f"sqlite:///{d.workdir}/r.db"}, "receiver": {"port": free_port()},
                    "metrics": {"listen": f"127.0.0.1:{port}"}})
    rt = type("Rt", (), {"config": config, "engine": open_engine(config.database.url)})()
    watch = Watch(rt)
    watch.start()
    try:
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        assert status == 503
        assert json.loads(body)["receiver"].startswith("failed") and json.loads(body)["database"] == "ok"
        assert get(f"http://127.0.0.1:{port}/nothing")[0] == 404
    finally:
        watch.stop()
        rt.engine.dispose()


def test_no_listener_without_the_key(sakspost):
    d = sakspost({})
    assert "metrics:" not in d.cli("check-config").stdout.decode()
    assert "metrics on http" not in d.log()
