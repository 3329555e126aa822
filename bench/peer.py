"""The daemon under measurement: a real `python -m daemon run` process on a temporary registry.

Its configuration is the embedded default with SQLite in a fresh directory, no relay (outbound
mail goes to a maildir there; EXTRA sections may add one) and the receiver on a free port of
127.0.0.1. What the benchmark
learns about it, it learns from outside: resident memory from /proc, progress from the SQLite
file opened read-only, as an operator would.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGISTRY_ADDRESS = "postmottak@saksregister.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(workdir: Path, port: int = 0, extra: str = "") -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "sakspost.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{workdir}/sakspost.db"\n\n'
        f'[receiver]\nhost = "127.0.0.1"\nport = {port or 2525}\n\n'
        f'[identity]\naddress = "{REGISTRY_ADDRESS}"\nname = "Saksregister"\n\n'
        f'[paths]\nvar_dir = "{workdir}/var"\n\n'
        # the corpus's form gateway sends hundreds of forms an hour, as Helsenorge's does: an operator
        # names it in [limits] exempt_senders, or its forms after the twentieth are held
        # and the load is months of mail in minutes: the caps for every sender together
        # (new_cases_per_hour_total, nhn_forwards_per_hour) would hold most of it for a handler
        '[limits]\nexempt_senders = ["skjema.saksregister.example"]\n'
        'new_cases_per_hour_total = 1000000\nnhn_forwards_per_hour = 1000000\n\n' + extra,
        encoding="utf-8",
    )
    return path


def daemon_env() -> dict:
    env = dict(os.environ)
    env.pop("SAKSPOST_CONFIG", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def sakspost_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "daemon", "--config", str(config), *args]


def process_tree(pid: int) -> list[int]:
    """PID and all its descendants (the daemon runs its pipeline in a child process)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_kb(pid: int, members: list[int] | None = None) -> dict[str, int]:
    """VmRSS and VmHWM (peak) in KiB, summed over PID and its descendants (MEMBERS, if known):
    the daemon's memory is that of all its processes (summing each one's peak over-states the
    peak, never under-states it)."""
    found = {"VmRSS": 0, "VmHWM": 0}
    for member in members or process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    if line.startswith(("VmRSS:", "VmHWM:")):
                        key, value = line.split(":", 1)
                        found[key] += int(value.split()[0])
        except OSError:
            if member == pid:
                raise
    return found


class Registry:
    """The daemon's SQLite file, read-only: how far it has come."""

    def __init__(self, db_path: Path):
        self.db_path = db_path

    def counts(self) -> dict[str, int]:
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            row = db.execute(
                "SELECT"
                " (SELECT count(*) FROM message WHERE direction = 'in'),"
                " (SELECT count(*) FROM message WHERE direction = 'in' AND status IN ('received', 'processing')),"
                " (SELECT count(*) FROM message WHERE direction = 'in' AND status = 'failed'),"
                " (SELECT count(*) FROM \"case\"),"
                " (SELECT count(*) FROM outboxmail),"
                " (SELECT count(*) FROM outboxmail WHERE status = 'pending')"
            ).fetchone()
        finally:
            db.close()
        keys = ("inbound", "waiting", "failed", "cases", "outbox", "outbox_pending")
        return dict(zip(keys, row))

    def wait_processed(self, stored: int, *, timeout: float = 600.0, drained: bool = False,
                       interval: float = 0.02) -> dict[str, int]:
        """Poll until every one of STORED inbound messages is processed or failed (and, with
        DRAINED, every queued outbound mail delivered). Returns the final counts."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.counts()
            if counts["inbound"] >= stored and counts["waiting"] == 0 and \
                    (not drained or counts["outbox_pending"] == 0):
                return counts
            if time.monotonic() > deadline:
                raise TimeoutError(f"registry still busy after {timeout}s: {counts}")
            time.sleep(interval)


class Daemon:
    """One `sakspost run` process in WORKDIR; its memory is sampled while it runs."""

    def __init__(self, workdir: Path, extra: str = ""):
        self.workdir = workdir
        self.port = free_port()
        self.config = write_config(workdir, self.port, extra)
        self.registry = Registry(workdir / "sakspost.db")
        self.proc: subprocess.Popen | None = None
        self.samples_peak_kb = 0
        self._sampling = threading.Event()

    def start(self) -> "Daemon":
        self._log = open(self.workdir / "daemon.log", "ab")
        self.proc = subprocess.Popen(sakspost_command(self.config, "run"), cwd=self.workdir,
                                     env=daemon_env(), stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}; see {self.workdir}/daemon.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("daemon did not open its port in 30 s")
        self._sampling.set()
        threading.Thread(target=self._sample, name="rss", daemon=True).start()
        return self

    def _sample(self) -> None:
        # The process tree is looked up twice a second, not at every sample: scanning /proc every
        # 10 ms took a tenth of a core from the daemon under measurement.
        members, looked = [], 0.0
        while self._sampling.is_set() and self.proc and self.proc.poll() is None:
            try:
                if time.monotonic() - looked > 0.5:
                    members, looked = process_tree(self.proc.pid), time.monotonic()
                self.samples_peak_kb = max(self.samples_peak_kb, rss_kb(self.proc.pid, members)["VmRSS"])
            except (OSError, KeyError):
                return
            time.sleep(0.01)

    def rss(self) -> dict[str, int]:
        return rss_kb(self.proc.pid)

    def reset_peak(self) -> bool:
        """Reset the kernel's peak-RSS mark (VmHWM) and our sampled peak; False if not allowed."""
        self.samples_peak_kb = 0
        try:
            for member in process_tree(self.proc.pid):
                with open(f"/proc/{member}/clear_refs", "w") as f:
                    f.write("5")
            return True
        except OSError:
            return False

    def peak_kb(self) -> int:
        return max(self.rss()["VmHWM"], self.samples_peak_kb)

    def settle(self, seconds: float = 1.0) -> int:
        """Wait until resident memory stops moving; return it (KiB)."""
        last = self.rss()["VmRSS"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(seconds)
            now = self.rss()["VmRSS"]
            if abs(now - last) < 256:
                return now
            last = now
        return last

    def stop(self) -> None:
        self._sampling.clear()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
