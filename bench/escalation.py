"""Escalation latency: how long from a severity A report arriving to NHN's forward being
accepted by the relay, while other mail arrives at a steady rate.

The daemon runs with a relay (an aiosmtpd server in this process that notes when each forward
to NHN's intake arrives) and `[nhn] intake_address`; the corpus is sent at RATE messages a
second by the load clients while REPORTS A reports, each from its own sender and with its own
marker in the subject, are sent one at a time over their own connection, spread over the run.
A report's latency runs from just before its SMTP conversation starts to the relay's receipt of
the forward that carries its marker.
"""

from __future__ import annotations

import re
import smtplib
import threading
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from aiosmtpd.controller import Controller

from . import load
from .peer import REGISTRY_ADDRESS, Daemon, free_port

INTAKE = "kundesenter@nhn.example"
_MARKER = re.compile(rb"ESC-(\d{4})")


class Intake:
    """The relay: takes every mail; notes when a forward to NHN's intake arrives, by marker."""

    def __init__(self):
        self.arrived: dict[int, float] = {}

    async def handle_DATA(self, server, session, envelope):
        if INTAKE in [r.lower() for r in envelope.rcpt_tos]:
            found = _MARKER.search(envelope.original_content or envelope.content)
            if found:
                self.arrived.setdefault(int(found.group(1)), time.perf_counter())
        return "250 OK"


def a_report(number: int) -> tuple[str, bytes]:
    sender = f"lege{number}@sykehus.example"
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Lege {number} <{sender}>"
    msg["To"] = REGISTRY_ADDRESS
    msg["Subject"] = f"XCA-oppslag nede ESC-{number:04d}"
    msg["Message-ID"] = f"<esc-{number}@sykehus.example>"
    msg.set_content("Oppslag i pasientjournal via XCA feiler for alle pasienter.\n\nAlvorlighetsgrad: A\n"
                    "Sted: XCA-gateway\nTidspunkt: i dag kl. 08:15\nKontakt: Lege, 55 55 55 55\n")
    return sender, msg.as_bytes()


def measure(mails: list[load.Mail], workdir: Path, rate: float, *, reports: int = 40, clients: int = 4) -> dict:
    intake = Intake()
    relay = Controller(intake, hostname="127.0.0.1", port=free_port())
    relay.start()
    extra = (f'[relay]\nhost = "127.0.0.1"\nport = {relay.port}\nstarttls = false\n\n'
             f'[nhn]\nintake_address = "{INTAKE}"\n')
    daemon = Daemon(workdir, extra=extra).start()
    sent: dict[int, float] = {}
    try:
        background = threading.Thread(target=load.send, args=(daemon.port, mails),
                                      kwargs={"clients": clients, "rate": rate}, name="steady")
        background.start()
        spacing = len(mails) / rate / (reports + 2)
        time.sleep(spacing)
        for number in range(reports):
            sender, raw = a_report(number)
            sent[number] = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", daemon.port, timeout=60) as smtp:
                smtp.sendmail(sender, [REGISTRY_ADDRESS], raw)
            time.sleep(spacing)
        background.join()
        deadline = time.monotonic() + 60
        while len(intake.arrived) < reports and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        daemon.stop()
        relay.stop()
    latencies = sorted(intake.arrived[n] - sent[n] for n in sent if n in intake.arrived)
    result = load.Result(latencies_ms=[s * 1000 for s in latencies])
    return {"escalation_reports": reports, "escalation_missing": reports - len(latencies), "rate": rate,
            "escalation_p50_s": result.percentile(50) / 1000, "escalation_p99_s": result.percentile(99) / 1000}
