"""The working group (issue 17), one seed step at a time, with six actors (NHN, Helse Sør-Øst,
which we are, Helse Nord, Helse Vest, a vendor, a municipality), the daemon as a real process and
an aiosmtpd relay that every party's mail reaches.

Every party is told once, nobody gets their own words back, a case NHN opened is not opened
again, a fix is confirmed by those who saw the fault, and an operator can run a case from the
command line where no actor is configured.
"""

from __future__ import annotations

import getpass
import time
import pytest
from conftest import (SECURITY, Relay, authenticated, incident_mail as _incident_mail, module_daemon,
                      relay_config, wait_until)


def incident_mail(*args, **kwargs):
    """Every mail here comes through our border with its check passed, as NHN's, a reporter's and
    a member's do in production; tests/test_roles.py sends the ones that do not."""
    sender = kwargs.get("sender", "kari.nordmann@sykehus.example")
    kwargs["headers"] = {**authenticated(sender), **(kwargs.get("headers") or {})}
    return _incident_mail(*args, **kwargs)


OURS = "brukerstotte@helse-sorost.example"
HANDLER = "kari.drift@helse-sorost.example"
REPORTER = "ola.sykepleier@helse-sorost.example"
WORKER = "per.lege@helse-sorost.example"
INTAKE = "kundesenter@nhn.example"
NHN_AGENT = "saksbehandler@nhn.example"
NORD = "kontakt@helse-nord.example"
VEST = "kontakt@helse-vest.example"
VENDOR = "support@leverandor.example"
KOMMUNE = "legevakt@kommune.example"
FNR = "31129956715"

SIX_ACTORS = {
    "identity": {"address": OURS, "name": "Brukerstøtte Helse Sør-Øst", "actor": "helse-sor-ost"},
    "actor": [
        {"id": "helse-sor-ost", "name": "Helse Sør-Øst", "kind": "consumer", "contact": OURS,
         "handlers": [HANDLER]},
        {"id": "nhn", "name": "Norsk helsenett", "kind": "nhn", "contact": INTAKE, "handlers": [NHN_AGENT]},
        {"id": "helse-nord", "name": "Helse Nord", "kind": "source", "contact": NORD},
        {"id": "helse-vest", "name": "Helse Vest", "kind": "source", "contact": VEST},
        {"id": "dips", "name": "Journalleverandøren AS", "kind": "vendor", "contact": VENDOR},
        {"id": "kommune", "name": "Eksempel kommune", "kind": "consumer", "contact": KOMMUNE},
    ],
    "nhn": {"intake_address": INTAKE, "phone": "24 20 00 00", "sender_domains": ["nhn.example"]},
    **SECURITY,
}


def report_body(severity: str, extra: str = "") -> str:
    return (f"Hei,\n\nOppslag i pasientjournal via XCA feiler siden 08:15.{extra}\n\n"
            f"Alvorlighetsgrad: {severity}\nSted: XCA-gateway\nTidspunkt: 02.12.2026 kl. 08:15\n"
            "Kontakt: Ola Sykepleier, 55 55 55 55\n")


@pytest.fixture(scope="module")
def relay(module_relay):
    return module_relay


@pytest.fixture(scope="module")
def daemon(relay, tmp_path_factory):
    yield from module_daemon(tmp_path_factory, "group", {**relay_config(relay), **SIX_ACTORS})


def body(mail) -> str:
    return mail["msg"].get_body(("plain",)).get_content()


def subject(mail) -> str:
    return str(mail["msg"]["Subject"])


def about(relay, address: str, case_id: str) -> list[dict]:
    return [m for m in relay.to(address) if case_id in subject(m)]


def wait_mail(relay, address: str, case_id: str, words: str, timeout: float = 15) -> dict:
    """The first mail to ADDRESS about CASE_ID whose subject or text has WORDS."""
    return wait_until(lambda: next((m for m in about(relay, address, case_id)
                                    if words in subject(m) or words in body(m)), None),
                      timeout, what=f"mail to {address} about {case_id} with {words!r}")


def report(daemon, subject_: str, severity: str, sender: str = REPORTER, extra: str = "") -> dict:
    daemon.send(incident_mail(subject=subject_, body=report_body(severity, extra), sender=sender), mail_from=sender)
    return wait_until(lambda: next((c for c in daemon.cases() if c["subject"] == subject_), None), 15,
                      interval=0.2, what=f"case {subject_!r}")


def command(daemon, case_id: str, text: str) -> None:
    daemon.send(incident_mail(subject=f"SV: [{case_id}] kommando", body=text + "\n",
                              sender=HANDLER, headers=authenticated(HANDLER)), mail_from=HANDLER)


def reply(daemon, to_mail: dict, sender: str, text: str, subject_: str | None = None, attachments=()) -> None:
    """SENDER answers TO_MAIL (one of ours) in its thread."""
    daemon.send(incident_mail(subject=subject_ or f"SV: {subject(to_mail)}", body=text, sender=sender,
                              in_reply_to=to_mail["msg"]["Message-ID"], attachments=attachments),
                mail_from=sender)


def events(daemon, case_id: str, action: str) -> list[dict]:
    return [e for e in daemon.case(case_id)["audit"] if e["action"] == action]


# -- 1. one case per fault across organisations ------------------------------------------------

def test_a_workers_mail_quoting_nhns_reference_joins_the_case_nhn_opened(daemon, relay):
    # a health worker phoned NHN; NHN's mail opens the case here with their reference
    daemon.send(incident_mail(subject="Henvendelse CS-0050001: XCA-oppslag feiler", sender=NHN_AGENT,
                              body="En lege ringte om feil i XCA-oppslag mot Helse Vest.\nAlvorlighetsgrad: B\n"),
                mail_from=NHN_AGENT)
    case = wait_until(lambda: next((c for c in daemon.cases() if c["nhn_reference"] == "CS-0050001"), None),
                      what="the case NHN opened")
    thanks = wait_mail(relay, NHN_AGENT, case["id"], "Mottatt")
    assert "ring" not in body(thanks).lower(), "NHN is never told to call itself"
    assert "CS-0050001" in body(thanks) and case["id"] in body(thanks)

    # the worker's own mail, quoting NHN's reference in its text, joins that case
    daemon.send(incident_mail(subject="XCA feiler for oss også", sender=WORKER,
                              body=report_body("B", " NHN har gitt oss referanse CS-0050001.")), mail_from=WORKER)
    wait_until(lambda: events(daemon, case["id"], "report_joined"), what="the report joined")
    assert not [c for c in daemon.cases() if c["subject"] == "XCA feiler for oss også"], "no second case"
    ack = wait_mail(relay, WORKER, case["id"], "Mottatt")
    assert "allerede kjent" in body(ack) and "CS-0050001" in body(ack)
    told = wait_mail(relay, HANDLER, case["id"], "samme feil")
    assert "XCA feiler" in body(told)
    time.sleep(1.0)
    assert not relay.to(INTAKE), "no forward at all: NHN opened the case"
    # a stranger who names the reference does not join the case: their mail is a case of its own
    daemon.send(incident_mail(subject="Om CS-0050001", sender="ukjent@annet.example", body=report_body("C")),
                mail_from="ukjent@annet.example")
    stranger = wait_until(lambda: next((c for c in daemon.cases() if c["subject"] == "Om CS-0050001"), None),
                          what="the stranger's own case")
    assert stranger["id"] != case["id"] and len(events(daemon, case["id"], "report_joined")) == 1

    # a case we forwarded: NHN's reference, quoted by a second worker, joins it; one forward in all
    first = report(daemon, "Kjernejournal svarer ikke", "A")
    forward = wait_mail(relay, INTAKE, first["id"], "Alvorlighetsgrad A")
    reply(daemon, forward, NHN_AGENT, "Registrert hos NHN som CS-0050002.\n")
    wait_until(lambda: daemon.case(first["id"])["nhn_reference"] == "CS-0050002", what="NHN's reference")
    daemon.send(incident_mail(subject="Ref CS-0050002 kjernejournal", sender=WORKER, body=report_body("A")),
                mail_from=WORKER)
    wait_until(lambda: events(daemon, first["id"], "report_joined"), what="the second report joined")
    time.sleep(1.0)
    assert len([m for m in relay.to(INTAKE) if "Alvorlighetsgrad A" in subject(m)]) == 1, "one forward in all"


# -- 2. handlers are told ----------------------------------------------------------------------

def test_a_new_a_case_reaches_the_handlers_within_seconds(daemon, relay):
    started = time.monotonic()
    case = report(daemon, "Akuttmottaket får ikke hentet journal", "A")
    told = wait_mail(relay, HANDLER, case["id"], "alvorlighetsgrad A", timeout=10)
    assert time.monotonic() - started < 10
    assert told["msg"]["Reply-To"] and "+" in told["msg"]["Reply-To"], "answering it with #commands acts on the case"
    text = body(told)
    assert text.startswith("Hei,") and "Ola" not in text.splitlines()[0]
    assert "åpen" in text and "Helse Sør-Øst" in text, "bokmål state, the lead's display name"
    # a C case waits for the day's digest ([notify] minor_cases defaults to "digest")
    minor = report(daemon, "Skrivefeil i feilmelding", "C")
    time.sleep(1.0)
    assert not about(relay, HANDLER, minor["id"])


def test_a_bounce_of_our_mail_reaches_the_handlers_once(daemon, relay):
    case = report(daemon, "Bounce-test: e-resept", "C")
    ack = wait_mail(relay, REPORTER, case["id"], "Mottatt")
    for n in range(2):
        daemon.send(incident_mail(subject="Undelivered Mail Returned to Sender", sender="mailer-daemon@mx.example",
                                  body="Mailbox full.\n", in_reply_to=ack["msg"]["Message-ID"]), mail_from="<>")
    told = wait_mail(relay, HANDLER, case["id"], "i retur")
    assert "Undelivered Mail" in body(told)
    wait_until(lambda: len(events(daemon, case["id"], "automatic_mail_received")) == 2, what="both bounces")
    time.sleep(0.5)
    assert len([m for m in about(relay, HANDLER, case["id"]) if "i retur" in subject(m)]) == 1


def test_minor_cases_told_at_once_when_so_configured(sakspost, relay):
    d = sakspost({**relay_config(relay), **SIX_ACTORS, "notify": {"minor_cases": "immediate"}})
    d.send(incident_mail(subject="Kosmetisk feil i visning", sender=REPORTER, body=report_body("D")),
           mail_from=REPORTER)
    wait_until(lambda: [m for m in relay.to(HANDLER) if "Ny sak med alvorlighetsgrad D: Kosmetisk" in subject(m)],
               what="the D case told at once")


# -- 3. a fix is confirmed by those who saw the fault -----------------------------------------

def test_the_reporters_still_broken_during_verification_keeps_the_case_open(daemon, relay):
    case = report(daemon, "Legemiddellisten mangler", "C")
    command(daemon, case["id"], "#løst ny sertifikatkjede lagt inn")
    resolved = wait_mail(relay, REPORTER, case["id"], "Feilen er rettet")
    assert daemon.case(case["id"])["state"] == "resolved"
    reply(daemon, resolved, REPORTER, "Feilen er der fortsatt!\n")
    wait_until(lambda: daemon.case(case["id"])["state"] == "open", what="the case reopened")
    held = wait_mail(relay, HANDLER, case["id"], "gjenåpnet")
    assert "Feilen er der fortsatt!" in body(held)
    assert events(daemon, case["id"], "verification_held")[0]["who"] == REPORTER
    # the clock's closing job closes only resolved cases: this one stays open until a handler closes it
    command(daemon, case["id"], "#lukk")
    wait_until(lambda: daemon.case(case["id"])["state"] == "closed", what="closed by the handler")
    (confirmed,) = events(daemon, case["id"], "closure_confirmed")
    assert confirmed["detail"]["confirmed_by"] == HANDLER
    closure = wait_mail(relay, REPORTER, case["id"], "Lukket")
    assert body(closure).startswith("Hei Kari Nordmann,"), "the reporter is greeted by name"


# -- 4. parties briefed --------------------------------------------------------------------------

def test_a_new_vendors_briefing_carries_the_history(daemon, relay):
    case = report(daemon, "Dokumentliste tom fra Helse Vest", "A", extra=f" Gjelder pasient {FNR}.")
    forward = wait_mail(relay, INTAKE, case["id"], "Alvorlighetsgrad A")
    reply(daemon, forward, NHN_AGENT, "Saken er registrert som CS-0050003.\nKlassifisering: Kritisk\n")
    wait_until(lambda: daemon.case(case["id"])["nhn_classification"] == "Kritisk", what="NHN's classification")
    command(daemon, case["id"], "#status Vi feilsøker gatewayen\n#medlem helse-vest\n#leverandør dips")
    briefing = wait_mail(relay, VENDOR, case["id"], "lagt til")
    text = body(briefing)
    for expected in ("CS-0050003", "Kritisk", "Helse Sør-Øst", "Alvorlighetsgrad:    A", "meldt til NHNs kundesenter",
                     "statusmelding: Vi feilsøker gatewayen", "Helse Vest lagt til som medlem", "som leverandør"):
        assert expected in text, expected
    assert FNR not in briefing["raw"].decode("utf-8", "replace")
    assert wait_mail(relay, VEST, case["id"], "lagt til")
    # the agreed channel goes to the whole group, not only to the handler who set it
    command(daemon, case["id"], "#kanal Teams-møte kl. 13")
    for address in (INTAKE, VEST, VENDOR):
        assert "Avtalt kanal" in subject(wait_mail(relay, address, case["id"], "Teams-møte kl. 13"))


# -- 5. nobody gets their own words back --------------------------------------------------------

def test_nhns_answer_reaches_our_handlers_and_the_other_members_not_nhn(daemon, relay):
    case = report(daemon, "Timeout mot Helse Nord", "B")
    forward = wait_mail(relay, INTAKE, case["id"], "Alvorlighetsgrad B")
    command(daemon, case["id"], "#medlem helse-nord\n#medlem kommune\n#leverandør dips")
    wait_mail(relay, VENDOR, case["id"], "lagt til")
    before_nhn = len(about(relay, INTAKE, case["id"])) + len(about(relay, NHN_AGENT, case["id"]))
    reply(daemon, forward, NHN_AGENT, "Feilen er funnet i den nasjonale gatewayen. Logg vedlagt.\n",
          attachments=[("gateway.log", "text/plain", b"12:00 timeout mot helse-nord\n")])
    for address in (HANDLER, NORD, KOMMUNE, VENDOR):
        got = wait_mail(relay, address, case["id"], "nasjonale gatewayen")
        assert "Svar fra NHN" in subject(got)
    at_home = wait_mail(relay, HANDLER, case["id"], "nasjonale gatewayen")
    assert [p.get_filename() for p in at_home["msg"].iter_attachments()] == ["gateway.log"]

    # the vendor's "ingen feil hos oss" goes on to NHN and the others, not back to the vendor
    briefing = about(relay, VENDOR, case["id"])[0]
    reply(daemon, briefing, VENDOR, "Ingen feil hos oss.\n")
    for address in (HANDLER, NORD, KOMMUNE, INTAKE):
        assert "Journalleverandøren AS" in subject(wait_mail(relay, address, case["id"], "Ingen feil hos oss"))

    # the reporter's later detail reaches NHN on the forward's thread
    ack = wait_mail(relay, REPORTER, case["id"], "Mottatt")
    reply(daemon, ack, REPORTER, "Gjelder alle pasienter fra UNN.\n")
    detail = wait_mail(relay, INTAKE, case["id"], "Gjelder alle pasienter fra UNN")
    assert detail["msg"]["In-Reply-To"] == forward["msg"]["Message-ID"]
    time.sleep(1.0)
    nhn_got = about(relay, INTAKE, case["id"]) + about(relay, NHN_AGENT, case["id"])
    assert not [m for m in nhn_got if "nasjonale gatewayen" in body(m)], "NHN's words never go back to NHN"
    assert not [m for m in about(relay, VENDOR, case["id"]) if "Ingen feil hos oss" in body(m)]
    assert len(nhn_got) == before_nhn + 2  # the vendor's answer and the reporter's detail


# -- 6. an operator without mail rights ------------------------------------------------------------

def test_an_operator_closes_a_case_from_the_cli_on_the_embedded_default(sakspost, relay):
    d = sakspost(relay_config(relay))  # no actors, no [nhn], no [security]: nobody may command by mail
    d.send(incident_mail(subject="Skriver henger", sender=REPORTER, body=report_body("C")), mail_from=REPORTER)
    (case,) = d.wait_cases(1)
    out = d.cli("cases", "command", case["id"], "#løst skriverkø tømt", "#notat ringte melderen").stdout.decode()
    assert "OK" in out and "FEIL" not in out
    assert d.case(case["id"])["state"] == "resolved"
    d.cli("cases", "command", case["id"], "#lukk")
    shown = d.case(case["id"])
    assert shown["state"] == "closed"
    runs = [e for e in shown["audit"] if e["action"] == "commands_run"]
    assert {e["who"] for e in runs} == {f"cli:{getpass.getuser()}"}
    assert [e for e in shown["audit"] if e["action"] == "closure_confirmed"][0]["detail"]["confirmed_by"] == \
        f"cli:{getpass.getuser()}"
    closure = wait_until(lambda: [m for m in relay.to(REPORTER) if "Lukket: Skriver henger" in subject(m)],
                         what="closure notice")
    assert "skriverkø tømt" in body(closure[0])
    # an unknown command is refused with a clear reason and a failing exit code
    refused = d.cli("cases", "command", case["id"], "#finnes-ikke", check=False)
    assert refused.returncode == 1 and "ukjent kommando" in refused.stdout.decode()

    # an A report with nowhere to escalate: logged at error level, counted, and the reporter told to phone NHN
    d.send(incident_mail(subject="Akutt: ingen journaler", sender=REPORTER, body=report_body("A")), mail_from=REPORTER)
    urgent = wait_until(lambda: next((c for c in d.cases() if c["subject"] == "Akutt: ingen journaler"), None),
                        what="the A case")
    ack = wait_until(lambda: [m for m in relay.to(REPORTER) if "Mottatt: Akutt: ingen" in subject(m)], what="ack")[0]
    assert "Ring NHNs kundesenter" in body(ack)
    assert d.stats()["cases"]["escalation_impossible"] == 1
    assert "ERROR" in d.log() and f"case {urgent['id']}" in d.log()


def test_check_config_warns_when_support_has_no_nhn_intake(sakspost):
    d = sakspost({"address": [{"email": OURS, "role": "support"}]}, start=False)
    result = d.cli("check-config")
    out = result.stdout.decode() + result.stderr.decode()
    assert "warning:" in out and "[nhn].intake_address" in out
    quiet = sakspost({"address": [{"email": OURS, "role": "support"}], "nhn": {"intake_address": INTAKE}},
                     start=False)
    quiet_result = quiet.cli("check-config")
    assert "warning:" not in quiet_result.stdout.decode() + quiet_result.stderr.decode()


# -- reading a case ---------------------------------------------------------------------------------

def test_cases_show_list_and_attachments_read_a_case(daemon, relay, tmp_path):
    daemon.send(incident_mail(subject="Vedlegg feiler", sender=REPORTER, body=report_body("C", f" Pasient {FNR}."),
                              attachments=[("feil.txt", "text/plain", b"08:15 feil\n")]), mail_from=REPORTER)
    case = wait_until(lambda: next((c for c in daemon.cases() if c["subject"] == "Vedlegg feiler"), None),
                      what="the case")
    command(daemon, case["id"], "#kanal telefonmøte\n#medlem helse-nord")
    wait_until(lambda: daemon.case(case["id"])["channel"] == "telefonmøte", what="channel")
    shown = daemon.cli("cases", "show", case["id"]).stdout.decode()
    for expected in ("åpen", "Helse Sør-Øst", "telefonmøte", "Helse Nord (helse-nord, medlem)", "tidslinje:",
                     "Oppslag i pasientjournal via XCA feiler"):
        assert expected in shown, expected
    assert FNR not in shown
    assert FNR in daemon.cli("cases", "show", case["id"], "--full").stdout.decode()

    listed = daemon.cli("cases", "list", "--lead", "helse-sor-ost", "--severity", "C").stdout.decode()
    assert case["id"] in listed and "siste aktivitet" in listed and "NHN-ref" in listed
    assert case["id"] not in daemon.cli("cases", "list", "--severity", "A").stdout.decode()
    assert case["id"] not in daemon.cli("cases", "list", "--closed-since", "2026-01-01").stdout.decode()

    listing = daemon.cli("cases", "attachments", case["id"]).stdout.decode()
    assert "feil.txt" in listing
    daemon.cli("cases", "attachments", case["id"], "--save", str(tmp_path / "ut"))
    (saved,) = (tmp_path / "ut").iterdir()
    assert saved.name.endswith("feil.txt") and saved.read_bytes() == b"08:15 feil\n"


# -- wording ----------------------------------------------------------------------------------------

def test_english_templates_for_an_organisation_that_writes_english(sakspost, relay):
    config = {**relay_config(relay), **SIX_ACTORS,
              "identity": {**SIX_ACTORS["identity"], "language": "en"}}
    d = sakspost(config)
    d.send(incident_mail(subject="Gateway down abroad", sender=REPORTER, body=report_body("A")), mail_from=REPORTER)
    (case,) = d.wait_cases(1)
    ack = wait_until(lambda: [m for m in relay.to(REPORTER) if "Received: Gateway down abroad" in subject(m)],
                     what="the English acknowledgement")[0]
    assert ack["msg"]["Content-Language"] == "en"
    assert body(ack).startswith("Hello Kari Nordmann,") and "customer centre" in body(ack)
    told = wait_until(lambda: [m for m in relay.to(HANDLER) if "Gateway down abroad" in subject(m)
                               and "Severity:" in body(m)], what="the handlers told in English")[0]
    assert "Status:       open" in body(told) and "Led by:       Helse Sør-Øst" in body(told)
    command(d, case["id"], "#vendor dips\n#resolved new certificate chain")
    done = wait_until(lambda: [m for m in relay.to(HANDLER) if "Done: " in subject(m)], what="confirmation")[0]
    assert "The case is now resolved" in body(done)
    briefing = wait_until(lambda: [m for m in relay.to(VENDOR) if "You have been added" in subject(m)],
                          what="the English briefing")[0]
    for expected in ("as a vendor", "the case is open", "reported to NHN's customer centre",
                     "Journalleverandøren AS added as vendor"):
        assert expected in body(briefing), expected


class RefusingIntake(Relay):
    """A relay whose far end refuses NHN's intake for good."""

    async def handle_DATA(self, server, session, envelope):
        if INTAKE in [r.lower() for r in envelope.rcpt_tos]:
            return "550 5.1.1 no such mailbox"
        return await super().handle_DATA(server, session, envelope)


def test_a_forward_the_relay_refuses_is_told_to_the_handlers(sakspost):
    refusing = RefusingIntake().start()
    try:
        d = sakspost({**relay_config(refusing), **SIX_ACTORS})
        d.send(incident_mail(subject="Akutt: forward som ikke kommer fram", sender=REPORTER, body=report_body("A")),
               mail_from=REPORTER)
        (case,) = d.wait_cases(1)
        told = wait_until(lambda: [m for m in refusing.to(HANDLER) if "kom ikke fram" in subject(m)], 30,
                          what="the handlers told of the refused forward")
        assert "nhn_forward" in body(told[0]) and "550" in body(told[0])
        assert "ERROR" in d.log() and "failed for good" in d.log()
        assert len(events(d, case["id"], "escalation_failed")) == 1  # what keeps the next round from telling again
    finally:
        refusing.stop()
