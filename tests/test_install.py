"""A production install: the wheel (not an editable install) in a fresh virtualenv carries the
templates, the example configuration and the unit, and ingests a report; without its templates
`check-config` fails instead of saying "configuration OK"."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, incident_mail

SKIP = shutil.ignore_patterns(".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", "bench")


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtualenv with the wheel built from this checkout installed in it."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=SKIP)
    built = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", base / "dist", source)
    assert built.returncode == 0, built.stderr.decode()[-3000:]
    (wheel,) = (base / "dist").glob("sakspost-*.whl")
    env = base / "venv"
    assert run(sys.executable, "-m", "venv", env).returncode == 0
    installed = run(env / "bin" / "pip", "install", "-q", wheel)
    assert installed.returncode == 0, installed.stderr.decode()[-3000:]
    return env


def test_the_wheel_installs_a_working_daemon(venv, tmp_path):
    env = {"PATH": f"{venv}/bin:/usr/bin:/bin"}  # nothing of the checkout on the path
    checked = run(venv / "bin" / "sakspost", "check-config", cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stderr.decode()
    purelib = run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                  env=env).stdout.decode().strip()
    assert f"templates: {purelib}/daemon/share/templates" in checked.stdout.decode()
    for shipped in ("daemon/share/config/sakspost.toml", "daemon/share/systemd/sakspost.service",
                    "daemon/migrations/versions/0001_baseline.py", "daemon/migrations/script.py.mako",
                    "daemon/share/templates/nb/acknowledgement.txt",
                    "daemon/share/templates/en/acknowledgement.txt"):  # English beside bokmål
        assert (venv / purelib.removeprefix(str(venv) + "/") / shipped).is_file(), shipped
    example = run(venv / "bin" / "python", "-c", "import sys; from daemon import config; "
                  "print(config.load(sys.argv[1]).metrics)", f"{purelib}/daemon/share/config/sakspost.toml", env=env)
    assert example.returncode == 0 and b"Metrics(listen='')" in example.stdout, example.stderr.decode()
    # what the unit and the README point at is installed too
    assert (venv / "share" / "doc" / "sakspost" / "README.md").is_file()
    assert (venv / "share" / "sakspost" / "sakspost.service").is_file()
    unit = (ROOT / "systemd" / "sakspost.service").read_text()
    assert "Documentation=file:///opt/sakspost/share/doc/sakspost/README.md" in unit

    ingested = run(venv / "bin" / "sakspost", "ingest", "-", input=incident_mail(), cwd=tmp_path, env=env)
    assert ingested.returncode == 0, ingested.stderr.decode()
    assert b"stored as message" in ingested.stdout
    stats = json.loads(run(venv / "bin" / "sakspost", "stats", "--json", cwd=tmp_path, env=env).stdout)
    assert stats["messages"]["by_status"] == {"processed": 1}  # not dead-lettered for want of a template
    assert stats["cases"]["by_kind"] == {"incident": 1}
    assert stats["outbox"]["by_status"] == {"pending": 1}  # the acknowledgement, composed and queued
    # `db revision` from the install: Alembic's template is in the wheel (the models match: nothing to do)
    revised = run(venv / "bin" / "sakspost", "db", "revision", "-m", "nothing", cwd=tmp_path, env=env)
    assert revised.returncode == 0, revised.stderr.decode()
    assert b"wrote " in revised.stdout


def test_without_the_postgres_extra_check_config_names_it(venv, tmp_path):
    """The wheel installed without `[postgres]` and a PostgreSQL URL: one line saying what to
    install, exit 2, from check-config as from run (not a traceback at the first connection)."""
    config = tmp_path / "c.toml"
    config.write_text('[database]\nurl = "postgresql+psycopg://sakspost@127.0.0.1:5432/sakspost"\n')
    for command in ("check-config", "run"):
        out = run(venv / "bin" / "sakspost", "--config", config, command, cwd=tmp_path)
        assert out.returncode == 2, out.stderr.decode()
        assert out.stderr.decode() == (
            "sakspost: configuration error: [database].url: the postgresql driver is not installed: "
            "no module named 'psycopg' (pip install 'sakspost[postgres]')\n")


def test_without_its_templates_check_config_fails(venv, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[paths]\ntemplates_dir = "{tmp_path}/empty"\n')
    (tmp_path / "empty" / "nb").mkdir(parents=True)
    out = run(venv / "bin" / "sakspost", "--config", config, "check-config", cwd=tmp_path)
    assert out.returncode == 2
    assert "templates missing" in out.stderr.decode() and "nb/acknowledgement.txt" in out.stderr.decode()
    assert "configuration OK" not in out.stdout.decode()
    assert run(venv / "bin" / "sakspost", "--config", config, "run", cwd=tmp_path).returncode == 2


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_unit_stays_hardened():
    out = run("systemd-analyze", "security", "--offline=true", ROOT / "systemd" / "sakspost.service")
    found = re.search(rb"Overall exposure level for sakspost.service: (\d+\.\d+)", out.stdout)
    assert found, out.stdout.decode()[-2000:] + out.stderr.decode()
    assert float(found.group(1)) <= 2.0
