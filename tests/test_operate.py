"""Operating it from the command line as an operator meets it: a failure to start or a usage
mistake said in one line with its exit code (in the log format chosen), never a traceback."""

from __future__ import annotations

import json
import smtplib
import socket
import subprocess
import sys

import pytest

from conftest import ROOT, Sakspost, free_port, incident_mail, wait_until


def sakspost(*args, cwd, timeout=60, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daemon", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env or {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


def problems(out: subprocess.CompletedProcess, format: str) -> list[str]:
    """What OUT said at level ERROR (text: the `sakspost: ` lines), after checking that nothing
    else than log lines was written: no traceback, and under JSON every line an object."""
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.splitlines()
    if format == "json":
        entries = [json.loads(line) for line in lines]  # every line is JSON
        return [e["message"] for e in entries if e["level"] == "ERROR"]
    return [line.removeprefix("sakspost: ") for line in lines if line.startswith("sakspost: ")]


@pytest.fixture
def taken():
    """A port some other process listens on."""
    with socket.create_server(("127.0.0.1", 0)) as held:
        yield held.getsockname()[1]


@pytest.mark.parametrize("format", ["text", "json"])
@pytest.mark.parametrize("parse_helper", [True, False])  # received by a front process, or in the daemon
def test_a_receiver_port_in_use_is_one_line_and_exit_1(tmp_path, taken, format, parse_helper):
    d = Sakspost(tmp_path, {"receiver": {"port": taken}, "logging": {"format": format},
                            "pipeline": {"parse_helper": parse_helper}})
    out = sakspost("--config", d.config_path, "run", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    (problem,) = problems(out, format)
    assert problem.startswith("cannot listen: ") and f"127.0.0.1', {taken})" in problem, problem
    assert "in use" in problem


def test_a_metrics_port_in_use_is_one_line_and_exit_1(tmp_path, taken):
    d = Sakspost(tmp_path, {"metrics": {"listen": f"127.0.0.1:{taken}"}})
    out = sakspost("--config", d.config_path, "run", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    (problem,) = problems(out, "text")
    assert "in use" in problem and f"127.0.0.1:{taken}" in problem and "[metrics].listen" in problem, problem


@pytest.mark.parametrize("format", ["text", "json"])
def test_a_missing_database_driver_is_a_configuration_error(tmp_path, format):
    """check-config says what `run` would meet: no driver for the URL's database (pg8000 is not
    among this project's dependencies; the wheel without the postgres extra: tests/test_install.py)."""
    d = Sakspost(tmp_path, {"database": {"url": "postgresql+pg8000://sakspost@127.0.0.1:5432/sakspost"},
                            "logging": {"format": format}})
    for command in ("check-config", "run"):
        out = sakspost("--config", d.config_path, command, cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        assert "configuration OK" not in out.stdout
        (problem,) = problems(out, format)
        assert problem == ("configuration error: [database].url: the postgresql driver is not installed: "
                           "no module named 'pg8000' (pip install 'sakspost[postgres]')"), problem


def test_a_bad_log_level_is_a_usage_error(tmp_path):
    out = sakspost("--log-level", "verbose", "check-config", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr == ("sakspost: argument --log-level: 'verbose' is not a log level "
                          "(debug, info, warning, error, critical) (see sakspost --help)\n")
    assert sakspost("--log-level", "debug", "check-config", cwd=tmp_path).returncode == 0


def test_a_usage_error_is_one_line_and_exit_2(tmp_path):
    out = sakspost("cases", "lsit", cwd=tmp_path)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "invalid choice: 'lsit'" in out.stderr and "sakspost cases --help" in out.stderr


def test_configuration_errors_are_json_where_the_file_asks_for_json(tmp_path):
    path = tmp_path / "sakspost.toml"
    path.write_text('[logging]\nformat = "json"\n\n[receiver]\nport = "25"\nprotocol = "pop3"\n')
    out = sakspost("--config", path, "run", cwd=tmp_path)
    assert out.returncode == 2
    found = problems(out, "json")
    assert len(found) == 2 and all(p.startswith(f"configuration error: {path} line ") for p in found), found


def test_the_unit_does_not_restart_a_configuration_that_cannot_work():
    unit = (ROOT / "systemd" / "sakspost.service").read_text()
    assert "\nRestartPreventExitStatus=2\n" in unit and "\nRestart=on-failure\n" in unit



# -- where the registry is: the configuration file's folder, and only a daemon or a writer makes it --

READ_ONLY = [("cases", "list"), ("cases", "show", "INC-1"), ("cases", "export", "INC-1"), ("stats",),
             ("report", "escalations"), ("report", "meeting", "--format", "md"), ("digest", "--dry-run"),
             ("purge", "--dry-run", "--before", "2026-01-01"), ("db", "current")]


def test_relative_paths_are_the_configuration_files_and_read_commands_create_nothing(tmp_path):
    """`cd ~ && sakspost --config /etc/sakspost/sakspost.toml cases list` as in issue 29: relative
    `sqlite:///var/sakspost.db` and `var_dir = "var"` are beside the file, and a command that only
    reads says in one line that there is no registry, creating none (no database, no secret)."""
    etc, home = tmp_path / "etc", tmp_path / "home"
    etc.mkdir(), home.mkdir()
    path = etc / "sakspost.toml"
    path.write_text('[database]\nurl = "sqlite:///var/sakspost.db"\n\n[paths]\nvar_dir = "var"\n')
    for command in READ_ONLY:
        out = sakspost("--config", path, *command, cwd=home)
        assert out.returncode == 1, (command, out.stdout, out.stderr)
        assert out.stderr == (f"sakspost: no registry at {etc}/var/sakspost.db (a command that only reads "
                              "creates none): `sakspost db upgrade` or the daemon makes it\n"), (command, out.stderr)
        assert list(home.iterdir()) == [] and sorted(p.name for p in etc.iterdir()) == ["sakspost.toml"], command
    out = sakspost("--config", path, "db", "upgrade", cwd=home)
    assert out.returncode == 0, out.stderr
    assert (etc / "var" / "sakspost.db").is_file() and list(home.iterdir()) == []
    ingested = subprocess.run([sys.executable, "-m", "daemon", "--config", str(path), "ingest", "-"],
                              input=incident_mail(), capture_output=True, cwd=home,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert ingested.returncode == 0, ingested.stderr
    assert (etc / "var" / "secret").is_file() and list(home.iterdir()) == []
    listed = json.loads(sakspost("--config", path, "cases", "list", "--json", cwd=home).stdout)
    assert [c["kind"] for c in listed] == ["incident"]  # the daemon's registry, found from elsewhere
    assert json.loads(sakspost("--config", path, "stats", "--json", cwd=tmp_path).stdout)["cases"]["total"] == 1


def test_a_read_command_creates_no_secret(tmp_path):
    """A registry made elsewhere (here by `db upgrade`, which needs no secret) and no token secret
    yet: reading works and makes none."""
    d = Sakspost(tmp_path, {})
    assert d.cli("db", "upgrade").returncode == 0
    assert not (tmp_path / "var" / "secret").exists()
    assert d.cases() == [] and d.stats()["cases"]["total"] == 0
    assert not (tmp_path / "var" / "secret").exists()


def test_a_registry_of_an_older_release_is_refused_by_a_read_command_unchanged(tmp_path):
    import sqlite3

    d = Sakspost(tmp_path, {})
    with sqlite3.connect(d.db_path) as db:
        db.executescript((ROOT / "tests" / "data" / "release-0.1.0-sqlite.sql").read_text())

    def schema():
        with sqlite3.connect(d.db_path) as db:
            return sorted(db.execute("SELECT name, sql FROM sqlite_master"))

    before = schema()
    out = d.cli("stats", check=False)
    assert out.returncode == 1 and "run `sakspost db upgrade`" in out.stderr.decode(), out.stderr
    assert schema() == before  # not upgraded, nothing added


# -- the command line's own words ---------------------------------------------------------------

def _commands(parser, name="sakspost"):
    """(name, parser) of PARSER and of every command below it."""
    import argparse

    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, command in action.choices.items():
                yield from _commands(command, f"{name} {sub}")


def test_every_command_and_option_has_help():
    """Each command has a description (`sakspost cases list --help`) and each option and argument
    a help line (a list of commands is helped by each command's line)."""
    import argparse

    from daemon.cli import build_parser

    missing = []
    for name, parser in _commands(build_parser()):
        if not parser.description:
            missing.append(name)
        missing += [f"{name} {a.option_strings or a.dest}" for a in parser._actions
                    if not a.help and not isinstance(a, argparse._SubParsersAction)]
    assert missing == []


def test_the_top_level_help_is_complete(tmp_path):
    out = sakspost("--help", cwd=tmp_path)
    assert out.returncode == 0
    assert out.stdout.rstrip().endswith("2 bad configuration or usage, 75 (EX_TEMPFAIL) when storage failed\n"
                                        "and the caller (an MTA) should try again."), out.stdout
    for command in ("run", "check-config", "example-config", "cases", "stats", "db"):
        assert f"\n    {command} " in out.stdout, command
    run = sakspost("run", "--help", cwd=tmp_path)
    assert "run the daemon: receive, process and send" in run.stdout


def test_version(tmp_path):
    from importlib.metadata import version

    out = sakspost("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == f"sakspost {version('sakspost')}\n"


def test_example_config_prints_the_shipped_example_which_loads(tmp_path):
    out = sakspost("--config", tmp_path / "not-there.toml", "example-config", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (ROOT / "config" / "sakspost.toml").read_text(encoding="utf-8")
    path = tmp_path / "sakspost.toml"
    path.write_text(out.stdout, encoding="utf-8")
    from daemon import config

    assert config.load(path).receiver.port == 2525


# -- the shipped example and the relay's keys -----------------------------------------------------

def test_the_shipped_example_starts_as_shipped_and_sends_to_the_maildir_beside_it(tmp_path):
    """Copied as it is (only its receiver's port made free for the test): check-config says OK
    with no relay.pw anywhere, the daemon starts, and an acknowledgement lands in var/sent/ beside
    the file, where the comment says."""
    shipped = (ROOT / "config" / "sakspost.toml").read_text(encoding="utf-8")
    path = tmp_path / "etc" / "sakspost.toml"
    path.parent.mkdir()
    path.write_text(shipped, encoding="utf-8")
    out = sakspost("--config", path, "check-config", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"{path.parent}/var/sent" in out.stdout
    port = free_port()
    assert shipped.count("\nport = 2525\n") == 1
    path.write_text(shipped.replace("\nport = 2525\n", f"\nport = {port}\n"), encoding="utf-8")
    daemon = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(path), "run"], cwd=tmp_path,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def send():
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                    client.sendmail("kari@sykehus.example", ["brukerstotte@sykehus.example"],
                                    incident_mail(sender="kari@sykehus.example"))
                return True
            except OSError:
                assert daemon.poll() is None, daemon.stderr.read().decode()
                return False

        wait_until(send, 30, interval=0.2, what="the shipped example's daemon")
        sent = path.parent / "var" / "sent" / "new"
        assert wait_until(lambda: list(sent.glob("*")) if sent.is_dir() else [], 30, what="mail in var/sent")
    finally:
        daemon.terminate()
        daemon.wait(30)
    assert not (tmp_path / "var").exists()  # beside the file, not where it was started


@pytest.mark.parametrize("relay, problem", [
    ('host = "smtp.sykehus.example"\nstarttls = false\n',
     "[relay].starttls: starttls = false toward 'smtp.sykehus.example' would send mail (and any password) in "
     "clear: starttls or implicit_tls is required for a relay not on loopback"),
    ('host = "smtp.sykehus.example"\nusername = "sakspost"\npassword_file = "{dir}/relay.pw"\n',
     "[relay].password_file: '{dir}/relay.pw' is empty"),
    ('host = "smtp.sykehus.example"\nusername = "sakspost"\npassword_file = "{dir}/missing.pw"\n',
     "[relay].password_file: cannot read '{dir}/missing.pw': No such file or directory"),
])
def test_a_relay_that_cannot_be_used_safely_is_refused_with_its_line(tmp_path, relay, problem):
    (tmp_path / "relay.pw").write_text("\n")  # an empty password file, as `install -m 0600 /dev/null` leaves it
    path = tmp_path / "sakspost.toml"
    path.write_text('[receiver]\nport = 2525\n\n[relay]\n' + relay.format(dir=tmp_path))
    out = sakspost("--config", path, "check-config", cwd=tmp_path)
    assert out.returncode == 2
    line = 7 if "password_file" in problem else 6
    assert out.stderr == f"sakspost: configuration error: {path} line {line}: {problem.format(dir=tmp_path)}\n"


def test_starttls_false_is_fine_toward_a_relay_on_loopback(tmp_path):
    path = tmp_path / "sakspost.toml"
    for host in ("127.0.0.1", "::1", "localhost"):
        path.write_text(f'[relay]\nhost = "{host}"\nport = 2526\nstarttls = false\n')
        assert sakspost("--config", path, "check-config", cwd=tmp_path).returncode == 0
