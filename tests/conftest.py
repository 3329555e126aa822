"""Test peers: a relay (aiosmtpd) that collects what the daemon sends, the daemon itself as a
real process (`python -m daemon run`), and helpers to talk SMTP to it and read its registry.

Everything binds to 127.0.0.1 on free ports.
"""

from __future__ import annotations

import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent

# The real-world corpus (mail from other projects' test suites) is an extra check where it exists:
# beside the checkout as `../shared/corpus/real`, or wherever SAKSPOST_REAL_CORPUS says.
REAL = Path(os.environ.get("SAKSPOST_REAL_CORPUS") or ROOT.parent / "shared" / "corpus" / "real")
needs_real_corpus = pytest.mark.skipif(
    not REAL.is_dir(), reason=f"real-world corpus not found at {REAL} (set SAKSPOST_REAL_CORPUS to run it)")


def real_files(pattern: str = "*") -> list[Path]:
    """The real-world corpus' files (licence files left out); none where the corpus is absent."""
    return sorted(p for p in REAL.rglob(pattern) if p.is_file() and p.name != "LICENSE") if REAL.is_dir() else []


def generated_corpus(outdir: Path, count: int, seed: int) -> list[Path]:
    """COUNT generated messages (bench.mailgen, the project's own generator) written to OUTDIR."""
    from bench.mailgen import write_corpus

    write_corpus(outdir, count, seed)
    return sorted(outdir.glob("*.eml"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# -- the relay ------------------------------------------------------------------------------

class Relay:
    """An aiosmtpd SMTP server standing in for the organisation's relay; it keeps every mail."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.messages: list[dict] = []
        self._lock = threading.Lock()
        self.controller = None

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes, policy

        raw = envelope.original_content or envelope.content
        with self._lock:
            self.messages.append({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                                  "raw": raw, "msg": message_from_bytes(raw, policy=policy.default)})
        return "250 OK"

    def start(self):
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict]:
        wait_until(lambda: len(self.messages) >= count, timeout, what=f"{count} mail(s) at the relay")
        return list(self.messages)

    def to(self, address: str) -> list[dict]:
        return [m for m in self.messages if address.lower() in [r.lower() for r in m["rcpt_tos"]]]


@pytest.fixture
def relay():
    r = Relay().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def module_relay():
    """One relay for every test of a module (a module that also keeps one daemon running)."""
    r = Relay().start()
    yield r
    r.stop()


def module_daemon(tmp_path_factory, name: str, config: dict):
    """A daemon for every test of a module (a generator for a module-scoped fixture)."""
    d = Sakspost(tmp_path_factory.mktemp(name), config).start()
    yield d
    d.stop()


# -- the daemon -----------------------------------------------------------------------------

def toml_value(value) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, bool) else str(value).lower()


def render_toml(config: dict) -> str:
    lines = []
    for section, body in config.items():
        if isinstance(body, list):
            for item in body:
                lines.append(f"[[{section}]]")
                lines.extend(f"{k} = {toml_value(v)}" for k, v in item.items())
                lines.append("")
        else:
            lines.append(f"[{section}]")
            subtables, tables = {}, {}
            for k, v in body.items():
                if isinstance(v, list) and v and isinstance(v[0], dict):
                    subtables[k] = v
                elif isinstance(v, dict):
                    tables[k] = v
                else:
                    lines.append(f"{k} = {toml_value(v)}")
            lines.append("")
            for k, table in tables.items():
                lines.append(f"[{section}.{k}]")
                lines.extend(f"{kk} = {toml_value(vv)}" for kk, vv in table.items())
                lines.append("")
            for k, items in subtables.items():
                for item in items:
                    lines.append(f"[[{section}.{k}]]")
                    lines.extend(f"{kk} = {toml_value(vv)}" for kk, vv in item.items())
                    lines.append("")
    return "\n".join(lines)


class Sakspost:
    """The daemon under test: its configuration, its process, its command line."""

    def __init__(self, workdir: Path, config: dict):
        self.workdir = workdir
        self.port = config.get("receiver", {}).get("port") or free_port()
        base = {
            "database": {"url": f"sqlite:///{workdir}/sakspost.db"},
            "receiver": {"host": "127.0.0.1", "port": self.port},
            "identity": {"address": "brukerstotte@sykehus.example", "name": "Brukerstøtte"},
            "paths": {"var_dir": str(workdir / "var")},
            "outbox": {"backoff_seconds": 0.3, "backoff_max_seconds": 1.0, "poll_seconds": 0.2},
        }
        for key, value in config.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
        self.config = base
        self.config_path = workdir / "sakspost.toml"
        self.config_path.write_text(render_toml(base), encoding="utf-8")
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "daemon.log"

    @property
    def db_path(self) -> Path:
        return Path(self.config["database"]["url"].removeprefix("sqlite:///"))

    def env(self) -> dict:
        env = dict(os.environ)
        env.pop("SAKSPOST_CONFIG", None)
        env["PYTHONPATH"] = str(ROOT)
        return env

    def start(self, wait_port: bool = True):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "--config", str(self.config_path), "run"],
            cwd=self.workdir, env=self.env(), stdout=self._log, stderr=subprocess.STDOUT,
        )
        if wait_port and self.config.get("receiver", {}).get("enabled", True):
            wait_until(self._port_open, 15, what=f"sakspost on port {self.port}\n{self.log()}")
        return self

    def _port_open(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def cli(self, *args, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "daemon", "--config", str(self.config_path), *args],
            cwd=self.workdir, env=self.env(), input=input, capture_output=True, timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"sakspost {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout.decode(errors='replace')}\n{result.stderr.decode(errors='replace')}")
        return result

    def json(self, *args):
        return json.loads(self.cli(*args, "--json").stdout)

    def stats(self) -> dict:
        return self.json("stats")

    def cases(self, *args) -> list[dict]:
        return self.json("cases", "list", *args)

    def case(self, case_id: str) -> dict:
        return self.json("cases", "show", case_id)

    def send(self, raw: bytes, to=("brukerstotte@sykehus.example",), mail_from="kari@sykehus.example"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            return client.sendmail(mail_from, list(to), raw)

    def wait_cases(self, count: int, timeout: float = 15.0, **filters) -> list[dict]:
        def enough():
            found = [c for c in self.cases() if all(c.get(k) == v for k, v in filters.items())]
            return found if len(found) >= count else None
        return wait_until(enough, timeout, interval=0.2, what=f"{count} case(s) {filters}")


@pytest.fixture
def sakspost(tmp_path):
    """A factory: sakspost(config_dict) -> a started daemon; all are stopped after the test."""
    started: list[Sakspost] = []

    def make(config: dict | None = None, start: bool = True) -> Sakspost:
        workdir = tmp_path / f"d{len(started)}"
        workdir.mkdir()
        daemon = Sakspost(workdir, config or {})
        started.append(daemon)
        return daemon.start() if start else daemon

    yield make
    for d in started:
        d.stop()


def relay_config(relay: Relay) -> dict:
    return {"relay": {"host": "127.0.0.1", "port": relay.port, "starttls": False}}


# -- PostgreSQL ------------------------------------------------------------------------------

PG = "host=127.0.0.1 port=5432 dbname=test user=postgres"


def _new_pg_database():
    import uuid

    import psycopg

    name = f"sakspost_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database():
    """The URL of a new, empty database of its own on the PostgreSQL at 127.0.0.1:5432, dropped after."""
    yield from _new_pg_database()


@pytest.fixture
def pg_database_2():
    """Another one, beside `pg_database`."""
    yield from _new_pg_database()


# -- mail -----------------------------------------------------------------------------------

def incident_mail(subject="Feil i dokumentdeling: XCA-gateway svarer ikke", body=None,
                  sender="kari.nordmann@sykehus.example", to="brukerstotte@sykehus.example",
                  message_id=None, in_reply_to=None, headers=None, attachments=()) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Kari Nordmann <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id or make_msgid(domain="sykehus.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    border = b""  # written on top as our border writes it: the stdlib may fold before the id
    for k, v in (headers or {}).items():
        if k.lower() == "authentication-results":
            border += f"{k}: {v}\r\n".encode()
        else:
            msg[k] = v
    msg.set_content(body or "Hei,\n\nOppslag i pasientjournal via XCA-gatewayen feiler siden 08:15.\n\n"
                            "Alvorlighetsgrad: C\nSted: XCA-gateway\nTidspunkt: 25.11.2026 kl. 08:15\n"
                            "Kontakt: Kari Nordmann, 55 55 55 55\n\nHilsen Kari\n")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return border + msg.as_bytes(policy=SMTP)


# -- documents ------------------------------------------------------------------------------

def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF written by hand: Helvetica, WinAnsiEncoding, one text line per entry."""

    def literal(text: str) -> bytes:
        raw = text.encode("cp1252")
        return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")

    content = (
        b"BT /F1 11 Tf 14 TL 72 760 Td\n"
        + b"".join(b"(" + literal(line) + b") Tj T*\n" for line in lines)
        + b"ET\n"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
    ]
    return pdf_file(objects)


def pdf_file(objects: list[bytes]) -> bytes:
    """A PDF of OBJECTS (numbered from 1, the first the catalog), with its cross-reference table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# -- proof of a sender (issue 13) ------------------------------------------------------------

TRUSTED_AUTHSERV = "mx.sykehus.example"  # the border MTA's authserv-id in the tests' configurations
SECURITY = {"security": {"trusted_authserv_id": TRUSTED_AUTHSERV}}


def authenticated(sender: str, authserv: str = TRUSTED_AUTHSERV, result: str = "dmarc=pass") -> dict:
    """The Authentication-Results header our border MTA adds to a mail from SENDER whose DMARC
    check passed (RESULT as OpenDMARC writes it), as headers for `incident_mail`."""
    domain = sender.rpartition("@")[2]
    return {"Authentication-Results": f"{authserv}; {result} header.from={domain}"}
