"""monitoring/: the Prometheus rules file and the Grafana dashboard name only series a running
daemon serves on /metrics; promtool accepts the rules where it is installed; /metrics says which
release runs (`sakspost_build_info`) and carries no `_created` series."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT, free_port, wait_until
from test_watch import get

RULES = ROOT / "monitoring" / "sakspost.rules.yml"
DASHBOARD = ROOT / "monitoring" / "grafana-dashboard.json"
NAME = re.compile(r"\bsakspost_[a-z_]+\b")


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is not installed (Debian: prometheus); the rules' YAML and series are "
                           "still checked below")
def test_promtool_accepts_the_rules():
    out = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr


def _rules() -> list[dict]:
    (group,) = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return group["rules"]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def test_every_rule_alerts_with_a_summary_an_operator_can_act_on():
    rules = _rules()
    assert len({r["alert"] for r in rules}) == len(rules) >= 8
    for rule in rules:
        assert rule["expr"].strip() and rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
    # the cumulative count of failed mail is alerted on as it grows, so the alert clears
    (failing,) = [r for r in rules if r["alert"] == "SakspostOutboxFailing"]
    assert "delta(sakspost_outbox" in failing["expr"]


@pytest.fixture(scope="module")
def exposed(tmp_path_factory):
    """The series names a running daemon serves on /metrics, and the scrape's text."""
    from conftest import Sakspost

    port = free_port()
    d = Sakspost(tmp_path_factory.mktemp("monitoring"), {"metrics": {"listen": f"127.0.0.1:{port}"},
                                                          "mailbox": [{"name": "drift", "host": "127.0.0.1",
                                                                       "port": free_port(), "username": "u",
                                                                       "password_env": "HOME", "tls": "none"}]})
    d.start()
    try:
        text = wait_until(lambda: (lambda r: r[1] if r[0] == 200 and "sakspost_mailbox_lag_seconds{" in r[1]
                                   else None)(get(f"http://127.0.0.1:{port}/metrics")), 20, interval=0.2,
                          what="/metrics with the mailbox's lag")
    finally:
        d.stop()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            names |= {name} | ({f"{name}_bucket", f"{name}_count", f"{name}_sum"} if kind == "histogram" else set())
            names |= {f"{name}_total"} if kind == "counter" else set()
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names, text


def test_the_rules_and_the_dashboard_name_only_series_the_daemon_serves(exposed):
    names, _ = exposed
    used = {n for expr in [r["expr"] for r in _rules()] + _dashboard_exprs() for n in NAME.findall(expr)}
    assert used - names == set()
    assert {"sakspost_build_info", "sakspost_unescalated_ab_oldest_seconds", "sakspost_outbox",
            "sakspost_mailbox_lag_seconds"} <= used


def test_metrics_say_the_release_and_carry_no_created_series(exposed):
    from importlib.metadata import version

    _, text = exposed
    assert f'sakspost_build_info{{version="{version("sakspost")}"}} 1.0' in text
    assert "_created" not in text
    lag = [line for line in text.splitlines() if line.startswith("sakspost_mailbox_lag_seconds{")]
    assert lag and all(line.startswith('sakspost_mailbox_lag_seconds{mailbox="drift"} ') for line in lag), lag
