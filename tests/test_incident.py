"""The incident workflow end to end: through the receiver and an aiosmtpd relay standing in
for the organisation's relay (NHN's intake, the reporter and the actors all get mail there)."""

from __future__ import annotations

import json
import time

import pytest
from conftest import SECURITY, authenticated, incident_mail as _incident_mail, relay_config, wait_until


def incident_mail(*args, **kwargs):
    """Every mail here comes through our border with its check passed, as NHN's, a reporter's and
    a member's do in production; tests/test_roles.py sends the ones that do not."""
    sender = kwargs.get("sender", "kari.nordmann@sykehus.example")
    kwargs["headers"] = {**authenticated(sender), **(kwargs.get("headers") or {})}
    return _incident_mail(*args, **kwargs)


FNR = "31129956715"
INTAKE = "kundesenter@nhn.example"
HANDLER = "kari.drift@sykehus.example"
REPORTER = "kari.nordmann@sykehus.example"

ACTORS = {
    "identity": {"address": "brukerstotte@sykehus.example", "name": "Brukerstøtte", "actor": "sykehus"},
    "actor": [
        {"id": "sykehus", "name": "Sykehuset Eksempel HF", "kind": "consumer",
         "contact": "brukerstotte@sykehus.example", "handlers": [HANDLER],
         "local_support": "brukerstotte@sykehus.example"},
        {"id": "nhn", "name": "Norsk helsenett", "kind": "nhn", "contact": INTAKE,
         "handlers": ["saksbehandler@nhn.example"]},
        {"id": "helse-vest", "name": "Helse Vest", "kind": "source", "contact": "kontakt@helse-vest.example",
         "handlers": ["ola@helse-vest.example"]},
        {"id": "dips", "name": "Leverandør X", "kind": "vendor", "contact": "support@leverandor.example"},
    ],
    "nhn": {"intake_address": INTAKE, "phone": "24 20 00 00", "sender_domains": ["nhn.example"]},
    **SECURITY,
}

FULL_REPORT = (
    "Hei,\n\nOppslag i pasientjournal via XCA-gatewayen feiler for alle pasienter siden 08:15.\n"
    f"Gjelder blant annet pasient {FNR[:6]} {FNR[6:]}.\n\n"
    "Alvorlighetsgrad: A\nSted: XCA-gateway Helse Vest\nTidspunkt: 25.11.2026 kl. 08:15\n"
    "Kontakt: Kari Nordmann, tlf 55 55 55 55\n\nMed vennlig hilsen\nKari\n"
)


@pytest.fixture
def daemon(sakspost, relay):
    return sakspost({**relay_config(relay), **ACTORS})


def body(mail) -> str:
    return mail["msg"].get_body(("plain",)).get_content()


def mails(relay, purpose_to: str, count: int = 1, timeout: float = 15):
    wait_until(lambda: len(relay.to(purpose_to)) >= count, timeout, what=f"{count} mail(s) to {purpose_to}")
    return relay.to(purpose_to)


def test_severity_a_reaches_nhn_without_the_identity_number(daemon, relay):
    daemon.send(incident_mail(subject=f"XCA-oppslag feiler (pasient {FNR})", body=FULL_REPORT,
                              sender=REPORTER, attachments=[("logg.txt", "text/plain",
                                                             f"08:15 error patient={FNR}\n".encode()),
                                                            ("skjerm.png", "image/png", b"\x89PNG....")]))
    (case,) = daemon.wait_cases(1)
    (forward,) = mails(relay, INTAKE)
    raw = forward["raw"].decode("utf-8", "replace")
    assert FNR not in raw and f"{FNR[:6]} {FNR[6:]}" not in raw
    assert "[fnr fjernet]" in forward["msg"]["Subject"] and f"[{case['id']}]" in forward["msg"]["Subject"]
    text = body(forward)
    assert "Alvorlighetsgrad:   A" in text
    assert "Sykehuset Eksempel HF" in text and "brukerstotte@sykehus.example" in text
    assert "XCA-gateway Helse Vest" in text and "25.11.2026 kl. 08:15" in text
    assert "sikker kanal" in text
    assert "skjerm.png" in text  # an image cannot be checked: withheld and named
    assert forward["msg"]["Auto-Submitted"] is None
    logs = [p for p in forward["msg"].iter_attachments() if p.get_filename() == "logg.txt"]
    assert logs and "[fnr fjernet]" in logs[0].get_content()

    (ack,) = mails(relay, REPORTER)
    assert "NHN" in body(ack) and "24 20 00 00" in body(ack)
    assert FNR not in ack["raw"].decode("utf-8", "replace")
    time.sleep(0.5)
    assert len(relay.to(INTAKE)) == 1, "forwarded once"
    shown = daemon.case(case["id"])
    assert shown["escalated_at"] and [a["actor"] for a in shown["working_group"]] == ["nhn"]


def test_nhn_reply_is_threaded_and_its_reference_shown_in_later_subjects(daemon, relay):
    daemon.send(incident_mail(body=FULL_REPORT, sender=REPORTER))
    (case,) = daemon.wait_cases(1)
    (forward,) = mails(relay, INTAKE)
    # NHN's case system acknowledges automatically, with its reference, in the same thread
    daemon.send(incident_mail(subject="Automatisk svar: Sak CS0012345 opprettet", sender="noreply@nhn.example",
                              body="Saken er registrert hos NHN med saksnummer CS0012345.\nKlassifisering: Kritisk\n",
                              in_reply_to=forward["msg"]["Message-ID"],
                              headers={"Auto-Submitted": "auto-replied"}),
                mail_from="noreply@nhn.example")
    wait_until(lambda: daemon.case(case["id"])["nhn_reference"] == "CS0012345", what="reference recorded")
    shown = daemon.case(case["id"])
    assert shown["nhn_classification"] == "Kritisk" and shown["severity"] == "A"
    # NHN's engineer later mails a log, matched only by their reference
    daemon.send(incident_mail(subject="Logger for CS0012345", sender="saksbehandler@nhn.example",
                              body="Vedlagt logg fra gatewayen.\n",
                              attachments=[("gateway.log", "text/plain", b"12:00 timeout\n")]),
                mail_from="saksbehandler@nhn.example")
    wait_until(lambda: len([m for m in daemon.case(case["id"])["messages"] if m["direction"] == "in"]) == 3,
               what="NHN's mail on the case")
    assert len(daemon.cases()) == 1
    # the log reaches our handlers, with the reference in the subject, and is not sent back to NHN
    # (issue 17: NHN, the only other member, used to get its own log "shared" back)
    shared = wait_until(lambda: [m for m in relay.to(HANDLER) if "gateway.log" in
                                 [p.get_filename() for p in m["msg"].iter_attachments()]], what="the log at home")[0]
    assert "[CS0012345]" in shared["msg"]["Subject"] and f"[{case['id']}]" in shared["msg"]["Subject"]
    time.sleep(0.5)
    assert len(relay.to(INTAKE)) == 1, "NHN gets nothing of its own back"
    # NHN's automatic acknowledgement was not answered
    assert not relay.to("noreply@nhn.example")


def test_case_opened_by_nhn_first_gets_their_reference(daemon, relay):
    daemon.send(incident_mail(subject="Henvendelse INC-778899: feil i dokumentdeling", sender="saksbehandler@nhn.example",
                              body="En lege ringte oss om feil i XCA-oppslag.\nAlvorlighetsgrad: B\n"),
                mail_from="saksbehandler@nhn.example")
    (case,) = daemon.wait_cases(1)
    assert case["nhn_reference"] == "INC-778899" and case["severity"] == "B" and case["state"] == "open"
    (ack,) = mails(relay, "saksbehandler@nhn.example")
    assert "[INC-778899]" in ack["msg"]["Subject"]
    assert not relay.to(INTAKE), "NHN is not told about its own case again"


def test_missing_severity_gets_one_request_and_the_reply_fills_it_in(daemon, relay):
    report = FULL_REPORT.replace("Alvorlighetsgrad: A\n", "")
    daemon.send(incident_mail(body=report, sender=REPORTER, message_id="<r1@sykehus.example>"))
    (case,) = daemon.wait_cases(1, state="awaiting_info")
    (request,) = mails(relay, REPORTER)
    assert "alvorlighetsgrad" in body(request).lower()
    assert f"[{case['id']}]" in request["msg"]["Subject"]
    # a second mail from the reporter that does not answer gets no second request the same day
    daemon.send(incident_mail(subject=f"SV: [{case['id']}] spørsmål", body="Hva mener dere?\n", sender=REPORTER))
    wait_until(lambda: len(daemon.case(case["id"])["messages"]) >= 3, what="second mail on case")
    time.sleep(0.5)
    assert len(relay.to(REPORTER)) == 1
    assert not relay.to(INTAKE)
    # the answer fills it in: B, so the case opens and goes to NHN
    daemon.send(incident_mail(subject="SV: Vi trenger flere opplysninger", sender=REPORTER,
                              body="Alvorlighetsgrad: B\n\n-----Original Message-----\nAlvorlighetsgrad: (A-D)\n",
                              in_reply_to=request["msg"]["Message-ID"]))
    wait_until(lambda: daemon.case(case["id"])["state"] == "open", what="case open")
    assert daemon.case(case["id"])["severity"] == "B"
    (forward,) = mails(relay, INTAKE)
    assert "Alvorlighetsgrad:   B" in body(forward)
    acks = mails(relay, REPORTER, 2)
    assert "NHN" in body(acks[1])


def command(daemon, case_id, text, sender=HANDLER):
    """A handler's command, its sender proven by our border's Authentication-Results."""
    daemon.send(incident_mail(subject=f"SV: [{case_id}] kommando", body=text + "\n\n> sitert tekst\n",
                              sender=sender, headers=authenticated(sender)), mail_from=sender)


def test_handler_changes_the_lead_and_a_stranger_changes_nothing(daemon, relay):
    daemon.send(incident_mail(body=FULL_REPORT.replace("Alvorlighetsgrad: A", "Alvorlighetsgrad: C"), sender=REPORTER))
    (case,) = daemon.wait_cases(1)
    assert case["lead_actor"] == "sykehus"
    command(daemon, case["id"], "#leder helse-vest feilen ligger i regional gateway", sender="ukjent@annet.example")
    # a stranger who writes the case's tag is not linked to it: their mail is a report of its own,
    # and nothing they get back tells them what the case is about
    daemon.wait_cases(2)
    (answer,) = mails(relay, "ukjent@annet.example")
    assert case["subject"] not in str(answer["msg"]["Subject"]) and case["subject"] not in body(answer)
    assert daemon.case(case["id"])["lead_actor"] == "sykehus"

    command(daemon, case["id"], "#leder helse-vest feilen ligger i regional gateway\n#leverandør dips\n#notat internt")
    (confirmation,) = mails(relay, HANDLER)
    shown = daemon.case(case["id"])
    assert shown["lead_actor"] == "helse-vest"
    assert {(a["actor"], a["role"]) for a in shown["working_group"]} == {("sykehus", "member"), ("dips", "vendor")}
    lead_event = next(e for e in shown["audit"] if e["action"] == "lead_changed")
    assert lead_event["detail"]["reason"] == "feilen ligger i regional gateway"
    text = body(confirmation)
    assert "helse-vest" in text and "dips" in text and "internt notat" in text
    # a C case is not forwarded to NHN unless a handler says so
    assert not relay.to(INTAKE)
    command(daemon, case["id"], "#escalate")
    mails(relay, INTAKE)
    # the internal note never reached the reporter
    time.sleep(0.5)
    assert all("internt" not in m["raw"].decode("utf-8", "replace") for m in relay.to(REPORTER))


def test_severity_change_after_escalation_updates_nhn_on_the_same_thread(daemon, relay):
    daemon.send(incident_mail(body=FULL_REPORT, sender=REPORTER))
    (case,) = daemon.wait_cases(1)
    (forward,) = mails(relay, INTAKE)
    command(daemon, case["id"], "#severity B")
    update = mails(relay, INTAKE, 2)[1]
    assert update["msg"]["In-Reply-To"] == forward["msg"]["Message-ID"]
    assert "A → B" in update["msg"]["Subject"]


def test_resolved_then_closed_notifies_reporter_and_every_actor(daemon, relay):
    daemon.send(incident_mail(body=FULL_REPORT, sender=REPORTER))
    (case,) = daemon.wait_cases(1)
    mails(relay, INTAKE)
    command(daemon, case["id"], "#medlem helse-vest\n#leverandør dips")
    mails(relay, HANDLER)
    command(daemon, case["id"], "#løst Sertifikatet på gatewayen er fornyet")
    wait_until(lambda: daemon.case(case["id"])["state"] == "resolved", what="resolved")
    command(daemon, case["id"], "#lukk")
    wait_until(lambda: daemon.case(case["id"])["state"] == "closed", what="closed")
    for address in (REPORTER, INTAKE, "kontakt@helse-vest.example", "support@leverandor.example"):
        closure = wait_until(lambda: [m for m in relay.to(address) if "Lukket" in m["msg"]["Subject"]],
                             what=f"closure notice to {address}")
        assert "Sertifikatet på gatewayen er fornyet" in body(closure[0])
    assert not [m for m in relay.to("brukerstotte@sykehus.example")], "we do not mail ourselves"


def test_export_shows_every_step_in_order(daemon, relay):
    daemon.send(incident_mail(body=FULL_REPORT, sender=REPORTER))
    (case,) = daemon.wait_cases(1)
    (forward,) = mails(relay, INTAKE)
    daemon.send(incident_mail(subject=f"RE: [{case['id']}] CS0099999", sender="saksbehandler@nhn.example",
                              body="Vi ser på saken.\n"), mail_from="saksbehandler@nhn.example")
    wait_until(lambda: daemon.case(case["id"])["nhn_reference"] == "CS0099999", what="reference")
    command(daemon, case["id"], "#løst fikset")
    command(daemon, case["id"], "#lukk")
    wait_until(lambda: daemon.case(case["id"])["state"] == "closed", what="closed")
    data = json.loads(daemon.cli("cases", "export", case["id"], "--format", "json").stdout)
    actions = [e["action"] for e in data["audit"]]
    # issue 17: the handlers hear of the A case and of NHN's answer (which no longer goes back to
    # NHN); who confirmed the closure is recorded; the reporter's closure notice is a mail of its own
    expected = ["opened", "message_received", "state_changed", "escalated_to_nhn", "actor_added", "mail_queued",
                "patient_data_removed", "mail_queued", "mail_queued", "nhn_mail_received", "nhn_reference_recorded",
                "mail_queued", "message_received", "resolution_recorded", "state_changed", "mail_queued",
                "commands_run", "mail_queued", "message_received", "state_changed", "closure_confirmed",
                "mail_queued", "mail_queued", "patient_data_removed", "commands_run", "mail_queued"]
    assert actions == expected, "|".join(actions)
    assert all(e["at"] for e in data["audit"])
    assert FNR not in str(data)
    md = daemon.cli("cases", "export", case["id"]).stdout.decode()
    assert md.startswith(f"# {case['id']}") and "escalated_to_nhn" in md and "CS0099999" in md
    report = json.loads(daemon.cli("report", "escalations", "--json").stdout)
    assert [r["id"] for r in report] == [case["id"]]
    assert report[0]["nhn_reference"] == "CS0099999" and report[0]["nhn_told_at"]
    assert report[0]["minutes_to_nhn_told"] is not None


def test_actors_lists_the_contact_points(daemon):
    out = daemon.cli("actors").stdout.decode()
    assert "helse-vest" in out and "kontakt@helse-vest.example" in out and "(this organisation)" in out
    assert "24 20 00 00" in out


def test_resolved_case_closes_itself_after_the_verification_period(sakspost, relay):
    d = sakspost({**relay_config(relay), **ACTORS, "incident": {"verification_hours": 0.001}})
    d.send(incident_mail(body=FULL_REPORT.replace("Alvorlighetsgrad: A", "Alvorlighetsgrad: C"), sender=REPORTER))
    (case,) = d.wait_cases(1)
    command(d, case["id"], "#løst ny konfigurasjon lagt inn")
    d.wait_cases(1, state="closed", timeout=20)
    closure = wait_until(lambda: [m for m in relay.to(REPORTER) if "Lukket" in m["msg"]["Subject"]],
                         what="closure notice")
    assert "ny konfigurasjon lagt inn" in body(closure[0])
