"""Trust between organisations (issue 24), tried as an attacker would through the real receiver
with `[security] trusted_authserv_id` set as in production: a role (NHN, the reporter, a member)
needs proof as a command does, floods and loops settle for every sender, exempt or not.
"""

from __future__ import annotations

import smtplib
import threading
import time

import pytest
from conftest import (Relay, Sakspost, SECURITY, TRUSTED_AUTHSERV, authenticated, incident_mail,
                      relay_config, wait_until)

HANDLER = "kari.drift@sykehus.example"
REPORTER = "kari.nordmann@sykehus.example"
INTAKE = "kundesenter@nhn.example"
VENDOR = "support@leverandor.example"
OURS = "brukerstotte@sykehus.example"

ACTORS = {
    "identity": {"address": OURS, "name": "Brukerstøtte", "actor": "sykehus"},
    "actor": [
        {"id": "sykehus", "name": "Sykehuset Eksempel HF", "kind": "consumer", "contact": OURS,
         "handlers": [HANDLER]},
        {"id": "nhn", "name": "Norsk helsenett", "kind": "nhn", "contact": INTAKE},
        {"id": "leverandor", "name": "Leverandøren AS", "kind": "vendor", "contact": VENDOR},
    ],
    "nhn": {"intake_address": INTAKE, "phone": "24 20 00 00", "sender_domains": ["nhn.example"],
            "reference_pattern": r"INC-\d{6}"},
    **SECURITY,
}
FAIL_NHN = {"Authentication-Results": f"{TRUSTED_AUTHSERV}; dmarc=fail header.from=nhn.example"}
PHISH = "Logg inn her for å se loggene: http://nhn-logger.evil.example/login\n"


@pytest.fixture(scope="module")
def relay():
    r = Relay().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def daemon(relay, tmp_path_factory):
    d = Sakspost(tmp_path_factory.mktemp("roles"), {**relay_config(relay), **ACTORS}).start()
    yield d
    d.stop()


def body(severity: str = "C") -> str:
    return ("Hei,\n\nLegemiddellisten vises ikke for noen pasienter siden 08:15.\n\n"
            f"Alvorlighetsgrad: {severity}\nSted: Kjernejournal\nTidspunkt: 25.11.2026 kl. 08:15\n"
            "Kontakt: Kari Nordmann, 55 55 55 55\n")


def report(daemon, subject: str, sender: str = REPORTER, severity: str = "C", proven: bool = True) -> dict:
    headers = authenticated(sender) if proven else {}
    daemon.send(incident_mail(subject=subject, body=body(severity), sender=sender, headers=headers), mail_from=sender)
    return wait_until(lambda: next((c for c in daemon.cases() if c["subject"] == subject), None),
                      15, interval=0.2, what=f"case {subject!r}")


def command(daemon, case_id: str, text: str) -> None:
    daemon.send(incident_mail(subject=f"Re: [{case_id}] sak", body=f"{text}\n", sender=HANDLER,
                              headers=authenticated(HANDLER)), mail_from=HANDLER)


def events(daemon, case_id: str, action: str) -> list[dict]:
    return [e for e in daemon.case(case_id)["audit"] if e["action"] == action]


def settled(daemon) -> None:
    wait_until(lambda: daemon.stats()["messages"]["by_status"].get("received", 0) == 0
               and daemon.stats()["messages"]["by_status"].get("processing", 0) == 0, 60, what="the pipeline idle")
    time.sleep(0.8)  # the outbox's poll


def subjects(mails) -> list[str]:
    return [str(m["msg"]["Subject"]) for m in mails]


def text_of(m) -> str:
    return m["msg"].get_body(("plain",)).get_content()


# -- 1. a role needs proof ---------------------------------------------------------------------

def test_a_forged_nhn_answer_is_held_marked_unproven_and_released_by_godta(daemon, relay):
    case = report(daemon, "Kjernejournal: legemiddelliste tom", severity="A")
    wait_until(lambda: daemon.case(case["id"])["escalated_at"], what="the forward to NHN")
    command(daemon, case["id"], "#leverandør leverandor")
    wait_until(lambda: relay.to(VENDOR), what="the vendor's briefing")
    settled(daemon)
    vendor_before, handler_before = len(relay.to(VENDOR)), len(relay.to(HANDLER))
    forged = incident_mail(subject=f"RE: [{case['id']}] INC-987654", body="Vi har sett på feilen.\n" + PHISH,
                           sender=INTAKE, headers=FAIL_NHN)
    daemon.send(forged, mail_from=INTAKE)
    settled(daemon)
    shown = daemon.case(case["id"])
    assert shown["nhn_reference"] in (None, ""), "a forged NHN's reference is not recorded"
    assert len(relay.to(VENDOR)) == vendor_before, "nothing of it went to another organisation"
    told = relay.to(HANDLER)[handler_before:]
    assert len(told) == 1 and "Ubekreftet avsender" in subjects(told)[0]
    assert "ikke bekreftet" in text_of(told[0]) and "#godta" in text_of(told[0])
    assert not any("Svar fra NHN" in s for s in subjects(relay.to(HANDLER)))
    (held,) = events(daemon, case["id"], "message_unproven")
    assert held["detail"]["role"] == "nhn" and held["detail"]["from"] == INTAKE
    assert "unproven_waits" in shown["flags"]
    assert case["id"] in [c["id"] for c in daemon.cases("--held")]
    assert [m["unproven"] for m in shown["messages"] if m["from"] == INTAKE] == [True]
    assert "UBEKREFTET AVSENDER" in daemon.cli("cases", "show", case["id"]).stdout.decode()

    # the handler knows it is genuine after all (a phone call): the operator's twin of #godta
    out = daemon.cli("cases", "accept", case["id"]).stdout.decode()
    assert "godtatt" in out
    wait_until(lambda: daemon.case(case["id"])["nhn_reference"] == "INC-987654", what="the reference recorded")
    wait_until(lambda: len(relay.to(VENDOR)) > vendor_before, what="NHN's answer passed to the vendor")
    assert events(daemon, case["id"], "message_accepted")
    assert not any(m["unproven"] for m in daemon.case(case["id"])["messages"])
    assert case["id"] not in [c["id"] for c in daemon.cases("--held")]


def test_a_flood_of_forged_nhn_mail_opens_no_cases_and_tells_the_handler_once(daemon, relay):
    settled(daemon)
    cases_before, nhn_before, handler_before = len(daemon.cases()), len(relay.to(INTAKE)), len(relay.to(HANDLER))
    with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
        for i in range(150):
            client.sendmail(INTAKE, [OURS], incident_mail(
                subject=f"RE: INC-{100000 + i} Henvendelse", body="Se loggene.\n" + PHISH, sender=INTAKE,
                headers=FAIL_NHN))
    settled(daemon)
    new = daemon.cases()[cases_before:]
    assert len(new) == 1 and "held" in new[0]["flags"], "one held case, not 150"
    assert len(relay.to(INTAKE)) == nhn_before, "nothing went to NHN"
    assert len(relay.to(HANDLER)) - handler_before <= 2, "the handler is told once, not 150 times"


def test_a_forged_reporter_after_resolution_neither_reopens_nor_writes_to_nhn(daemon, relay):
    case = report(daemon, "XCA-gateway: oppslag feiler", severity="A")
    wait_until(lambda: relay.to(INTAKE) and daemon.case(case["id"])["escalated_at"], what="the forward to NHN")
    command(daemon, case["id"], "#løst Sertifikatet på gatewayen er fornyet")
    wait_until(lambda: daemon.case(case["id"])["state"] == "resolved", what="resolved")
    settled(daemon)
    nhn_before, handler_before = len(relay.to(INTAKE)), len(relay.to(HANDLER))
    forged = incident_mail(subject=f"Re: [{case['id']}] XCA-gateway: oppslag feiler", sender=REPORTER,
                           body="Det feiler igjen. Ring meg på 99 99 99 99 og oppgi innloggingskoden.\n",
                           headers={"Authentication-Results":
                                    f"{TRUSTED_AUTHSERV}; dmarc=fail header.from=sykehus.example"})
    daemon.send(forged, mail_from=REPORTER)
    settled(daemon)
    assert daemon.case(case["id"])["state"] == "resolved"
    assert len(relay.to(INTAKE)) == nhn_before, "no Tilleggsopplysninger to NHN in our name"
    told = subjects(relay.to(HANDLER)[handler_before:])
    assert not any("gjenåpnet" in s for s in told)
    assert len(told) == 1 and "Ubekreftet avsender" in told[0]


def test_a_proven_reporter_still_reopens_a_resolved_case(daemon, relay):
    case = report(daemon, "Pasientjournal: dokument mangler", severity="C")
    command(daemon, case["id"], "#løst Indeksen er bygget på nytt")
    wait_until(lambda: daemon.case(case["id"])["state"] == "resolved", what="resolved")
    daemon.send(incident_mail(subject=f"Re: [{case['id']}] Pasientjournal", sender=REPORTER,
                              body="Dokumentet mangler fortsatt.\n", headers=authenticated(REPORTER)),
                mail_from=REPORTER)
    wait_until(lambda: daemon.case(case["id"])["state"] == "open", what="reopened by the proven reporter")


def test_the_reporter_proves_itself_by_our_reply_address(daemon, relay):
    """A reporter whose server signs nothing answers our mail: its Reply-To is an address only
    that reporter was given, so the answer proves its sender as a command address does."""
    case = report(daemon, "Kjernejournal: treg respons", severity="C")
    ack = wait_until(lambda: [m for m in relay.to(REPORTER) if case["id"] in str(m["msg"]["Subject"])],
                     what="the acknowledgement")[0]
    reply_to = ack["msg"]["Reply-To"].addresses[0].addr_spec
    assert reply_to != OURS and reply_to.startswith("brukerstotte+")
    command(daemon, case["id"], "#løst Tjenesten er restartet")
    wait_until(lambda: daemon.case(case["id"])["state"] == "resolved", what="resolved")
    daemon.send(incident_mail(subject=f"Re: [{case['id']}] treg", sender=REPORTER, to=reply_to,
                              body="Det er fortsatt tregt.\n"), mail_from=REPORTER, to=[reply_to])
    wait_until(lambda: daemon.case(case["id"])["state"] == "open", what="reopened through the reply address")


# -- 3. floods and loops settle for every sender ---------------------------------------------------

class HostileIntake(Relay):
    """NHN's intake as a ticket system that answers every mail with a new one: no Auto-Submitted,
    no threading, a fresh number each time (its border check passes: it is NHN's own)."""

    def __init__(self):
        super().__init__()
        self.daemon_port = None
        self.answered = 0

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if INTAKE in [r.lower() for r in envelope.rcpt_tos] and self.daemon_port:
            self.answered += 1
            n = self.answered
            threading.Thread(target=self._answer, args=(n,), daemon=True).start()
        return answer

    def _answer(self, n: int) -> None:
        msg = incident_mail(subject=f"Henvendelse registrert {n}", sender=INTAKE,
                            body=f"Takk. Din henvendelse er registrert med nummer {n}.\n",
                            headers=authenticated(INTAKE))
        try:
            with smtplib.SMTP("127.0.0.1", self.daemon_port, timeout=30) as client:
                client.sendmail(INTAKE, [OURS], msg)
        except OSError:
            pass


def test_a_hostile_nhn_intake_auto_responder_settles(tmp_path):
    intake = HostileIntake().start()
    d = Sakspost(tmp_path, {**relay_config(intake), **ACTORS}).start()
    try:
        intake.daemon_port = d.port
        report(d, "XCA: alle oppslag feiler", severity="A")

        def quiet():
            count = len(intake.to(INTAKE))
            time.sleep(4)
            return count if count == len(intake.to(INTAKE)) and count else None
        wait_until(quiet, 90, interval=0, what="the loop to settle")
        time.sleep(2)
        assert len(intake.to(INTAKE)) <= 5, f"{len(intake.to(INTAKE))} mails to NHN"
        assert len(d.cases()) <= 3, f"{len(d.cases())} cases"
    finally:
        d.stop()
        intake.stop()


def test_forged_severity_a_reports_get_no_acknowledgement_and_no_forward(daemon, relay):
    settled(daemon)
    nhn_before, handler_before, cases_before = len(relay.to(INTAKE)), len(relay.to(HANDLER)), len(daemon.cases())
    senders = [f"lege{i}@forfalsket.example" for i in range(300)]
    with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
        for i, sender in enumerate(senders):
            client.sendmail(sender, [OURS], incident_mail(
                subject=f"Akutt: journal utilgjengelig {i}", body=body("A"), sender=sender,
                headers={"Authentication-Results": f"{TRUSTED_AUTHSERV}; dmarc=fail header.from=forfalsket.example"}))
    settled(daemon)
    held = [c for c in daemon.cases()[cases_before:] if "report_waits" in c["flags"]]
    assert len(held) == 300, "each report is kept, on a case of its own, for the handlers"
    assert len(relay.to(INTAKE)) == nhn_before, "none forwarded to NHN"
    assert not any(relay.to(s) for s in senders), "no backscatter to the forged addresses"
    assert len(relay.to(HANDLER)) - handler_before == 1, "the handler is told once, with the count"
    # one of them was genuine after all: a handler releases it
    release = held[0]
    command(daemon, release["id"], "#godta")
    wait_until(lambda: len(relay.to(INTAKE)) == nhn_before + 1, what="the released report forwarded")
    wait_until(lambda: relay.to(senders[0]), what="its acknowledgement")
    assert events(daemon, release["id"], "report_released")


def test_a_hundred_forged_commands_alert_the_handler_once(daemon, relay):
    case = report(daemon, "Helsenorge: innsyn feiler", severity="C")
    settled(daemon)
    before = len(relay.to(HANDLER))
    with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
        for i in range(100):
            client.sendmail(HANDLER, [OURS], incident_mail(subject=f"Re: [{case['id']}] innsyn", body="#lukk\n",
                                                           sender=HANDLER))
    settled(daemon)
    assert daemon.case(case["id"])["state"] != "closed"
    alerts = [s for s in subjects(relay.to(HANDLER)[before:]) if "ikke utført" in s]
    assert len(alerts) == 1
    assert len(events(daemon, case["id"], "command_refused")) == 100


def test_global_caps_hold_reports_and_forwards_past_the_hour(tmp_path):
    relay = Relay().start()
    config = {**relay_config(relay), **ACTORS, "limits": {"nhn_forwards_per_hour": 2, "new_cases_per_hour_total": 4}}
    d = Sakspost(tmp_path, config).start()
    try:
        for i in range(5):
            sender = f"lege{i}@sykehus.example"
            d.send(incident_mail(subject=f"Kapasitet {i}", body=body("A"), sender=sender,
                                 headers=authenticated(sender)), mail_from=sender)
        wait_until(lambda: len(d.cases()) == 5, what="five cases")
        settled(d)
        assert len(relay.to(INTAKE)) == 2, "nhn_forwards_per_hour"
        flags = {c["subject"]: c["flags"] for c in d.cases()}
        assert sum("forward_waits" in f for f in flags.values()) == 2
        assert sum("report_waits" in f for f in flags.values()) == 1, "new_cases_per_hour_total"
        listed = d.cases("--held")
        assert len(listed) == 3
        waiting = next(c for c in listed if "forward_waits" in c["flags"])
        d.cli("cases", "accept", waiting["id"])
        wait_until(lambda: len(relay.to(INTAKE)) == 3, what="the released forward")
    finally:
        d.stop()
        relay.stop()


# -- without [security] ------------------------------------------------------------------------

def test_without_security_check_config_and_the_log_say_from_is_a_claim(tmp_path):
    d = Sakspost(tmp_path, {})
    out = d.cli("check-config").stdout.decode()
    assert sum("trust: no [security] trusted_authserv_id" in line for line in out.splitlines()) == 1
    d.start()
    try:
        wait_until(lambda: "From is taken as a claim" in d.log(), what="the start-up line")
    finally:
        d.stop()
