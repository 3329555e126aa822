"""The management-meeting report (`sakspost report meeting`), `report support`, `check-config`'s
warning and `report escalations --format md|csv`: run as the command line, over a real registry."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from datetime import timedelta

import pytest
from conftest import ROOT, render_toml
from meeting_registry import HANDLER, incident, runtime, settings

from daemon.citizen.deadlines import today
from daemon.incident import workflow
from daemon.registry import cases
from daemon.registry.writer import unit_of_work

DAY = timedelta(days=1)


def cli(tmp_path, *args, extra=None, check=True) -> subprocess.CompletedProcess:
    path = tmp_path / "sakspost.toml"
    path.write_text(render_toml(settings(tmp_path, **(extra or {}))), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "daemon", "--config", str(path), *args], cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def registry(tmp_path):
    rt = runtime(tmp_path)
    ids = {
        "open_a": incident(rt, severity="A", age=2 * DAY, subject="Pasient Ola Hansen 31129956715 får ikke opp journal"),
        "open_c_old": incident(rt, severity="C", age=40 * DAY),
        "closed_recent": incident(rt, severity="B", age=5 * DAY, closed_ago=2 * DAY, resolved_by=HANDLER),
        "closed_long_ago": incident(rt, severity="D", age=30 * DAY, closed_ago=20 * DAY),
    }
    with unit_of_work(rt.engine) as session:
        near = cases.open_case(session, "citizen_form", who="test", form_type="access_log",
                               owner_actor="helse-vest", received_at=today() - 28 * DAY, deadline=today() + 2 * DAY)
        far = cases.open_case(session, "citizen_form", who="test", form_type="copy_of_record",
                              owner_actor="helse-vest", received_at=today(), deadline=today() + 30 * DAY)
        ids["citizen_near"], ids["citizen_far"] = near.id, far.id
    rt.close()
    return ids


def test_report_lists_exactly_the_open_and_recently_closed_cases(tmp_path, registry):
    rows = list(csv.DictReader(io.StringIO(cli(tmp_path, "report", "meeting", "--format", "csv").stdout)))
    listed = {(r["section"], r["case"]) for r in rows}
    assert listed == {("open", registry["open_a"]), ("open", registry["open_c_old"]),
                      ("closed", registry["closed_recent"]), ("citizen", registry["citizen_near"])}
    closed = next(r for r in rows if r["section"] == "closed")
    assert closed["confirmed_by"] == HANDLER and float(closed["hours_to_close"]) == pytest.approx(72, abs=0.1)
    # the subject (the reporter's words) only when asked for, and then without the identity number
    assert {r["subject"] for r in rows} == {""} and {r["service"] for r in rows} == {"XCA-gateway", ""}
    rows = csv.DictReader(io.StringIO(cli(tmp_path, "report", "meeting", "--format", "csv", "--subjects").stdout))
    subject = next(r["subject"] for r in rows if r["case"] == registry["open_a"])
    assert "31129956715" not in subject and "[fnr fjernet]" in subject
    # an earlier --since takes in the case closed 20 days ago too
    since = (today() - 25 * DAY).isoformat()
    md = cli(tmp_path, "report", "meeting", "--format", "md", "--since", since).stdout
    assert registry["closed_long_ago"] in md and registry["citizen_far"] not in md
    assert md.index(registry["open_a"]) < md.index(registry["open_c_old"])  # A before C


def test_html_report_is_self_contained_and_shows_in_chromium(tmp_path, registry):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed (.ci/run installs it)")
    out = tmp_path / "report.html"
    cli(tmp_path, "report", "meeting", "--output", str(out))
    page = out.read_text(encoding="utf-8")
    assert "<svg" in page and "<script" not in page.lower()
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert registry["open_a"] in page and "31129956715" not in page and "Ola Hansen" not in page
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1280,1600", out.as_uri()], capture_output=True, timeout=120, check=True)
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    pixels = [image.getpixel((x, y)) for y in range(0, image.height, 2) for x in range(0, image.width, 2)]
    ink = sum(1 for p in pixels if p != (255, 255, 255))
    assert ink > 0.01 * len(pixels), f"the screenshot is (nearly) blank: {ink} non-white pixels"
    assert any(p == (8, 48, 107) for p in pixels), "the chart's oldest-age shade is not on the screen"


def test_support_report_and_check_config_name_the_actor_without_local_support(tmp_path):
    support = cli(tmp_path, "report", "support").stdout
    assert "helse-vest" in support and "MANGLER" in support
    assert "Uten dokumentert lokal brukerstøtte (1): helse-vest (Helse Vest RHF)" in support
    checked = cli(tmp_path, "check-config")
    assert "warning" in checked.stderr and "'helse-vest'" in checked.stderr and "'sykehus'" not in checked.stderr


def test_escalations_include_meld_nhn_cases_as_md_and_csv(tmp_path):
    extra = {"nhn": {"intake_address": "kundesenter@nhn.example"}}
    rt = runtime(tmp_path, **extra)
    by_severity = incident(rt, severity="A", age=DAY)
    by_handler = incident(rt, severity="C", age=DAY)
    not_sent = incident(rt, severity="D", age=DAY)
    with unit_of_work(rt.engine) as session:
        from daemon.registry.models import Case

        workflow.escalate_to_nhn(session, rt, session.get(Case, by_severity), who="system",
                                 reason="alvorlighetsgrad A")
        workflow.escalate_to_nhn(session, rt, session.get(Case, by_handler), who=HANDLER,
                                 reason="meldt av saksbehandler")
    rt.close()
    rows = list(csv.DictReader(io.StringIO(cli(tmp_path, "report", "escalations", "--format", "csv",
                                               extra=extra).stdout)))
    assert {r["id"]: r["route"] for r in rows} == {by_severity: "severity", by_handler: "meld-nhn"}
    assert next(r for r in rows if r["id"] == by_handler)["escalated_by"] == HANDLER
    md = cli(tmp_path, "report", "escalations", "--format", "md", extra=extra).stdout
    assert f"| {by_handler} | C | #meld-nhn ({HANDLER})" in md and not_sent not in md


def test_schedule_with_a_weekday_number_is_refused(tmp_path):
    result = cli(tmp_path, "check-config", extra={"digest": {"schedule": "0 8 * * 1"}}, check=False)
    assert result.returncode == 2 and "[digest].schedule" in result.stderr
