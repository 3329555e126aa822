"""Issue 18: the seed's forms as they are written, the answering organisation in charge, nothing
health-related by mail. Through the receiver and the command line, with an aiosmtpd relay for
every party's mail (the citizen, the owning source's case address and handlers, this
organisation's handlers, the escalation address). The deadline clock is injected (`--today`)."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from conftest import incident_mail, relay_config, wait_until
from test_citizen import (CONFIG, FNR, FORMS, LOCAL_HANDLER, LOG, OWNER_HANDLER, audit, command, everything, form_body,
                          mails, send_form, text_of)

from daemon.pii import contains_identity_number

OWNER_CONTACT = "innsyn@helse-vest.example"  # Helse Vest's case address: its own routine reads it
ESCALATION = "personvern@sykehus.example"
CITIZEN = "ola@example.no"
TEXT = "Jeg lurer på hvem som har lest journalen min etter innleggelsen i mars."


@pytest.fixture
def daemon(sakspost, relay):
    return sakspost({**relay_config(relay), **CONFIG,
                     "citizen": {**CONFIG["citizen"], "escalation_address": ESCALATION}})


SEED_TITLES = {
    "copy_of_record": "Forespørsel om kopi av pasientjournal",
    "access_log": "Forespørsel om tilgangslogg",
    "blocking": "Forespørsel om sperring av pasientjournal",
    "correction": "Forespørsel om endring i pasientjournal",
    "lookup_question": "Spørsmål om oppslag i pasientjournal",
}


def no_form_content(mail) -> None:
    """Nothing of what the citizen wrote, and no identity number, in MAIL."""
    seen = everything(mail)
    assert not contains_identity_number(seen)
    for echo in ("Ola Nordmann", "Storgata", "Haukeland", TEXT, CITIZEN, "55 55 55 55"):
        assert echo not in seen, echo


def test_the_five_seed_titles_in_subjects_headings_and_the_request_form(daemon, relay):
    ways = []  # (form type, subject, the body's first lines)
    for form_type, seed in SEED_TITLES.items():
        ways.append((form_type, seed, "Hei,"))  # the title as the subject ...
        ways.append((form_type, "Skjema fra innbygger", seed))  # ... as the body's heading ...
        ways.append((form_type, seed.replace("ø", "o").replace("å", "a").upper(), "Hei,"))  # ... folded ...
        ways.append((form_type, seed.removeprefix("Forespørsel om ").capitalize(), "Hei,"))  # ... without its lead-in
    # Helsenorge's request form: the title in a labelled line below the form's own heading
    ways.append(("access_log", "Ny anmodning fra Helsenorge",
                 "Anmodningsskjema\nAvsender: helsenorge.no\nMottaker: Helse Vest RHF\nDato: 01.12.2026\n"
                 "Referanse: HN-12345\nInnsendt av: innbygger\nType anmodning: Forespørsel om tilgangslogg\n"))
    for i, (_, subject, heading) in enumerate(ways):
        send_form(daemon, subject, form_body(heading, name=f"Innbygger {i}", text=f"Henvendelse nummer {i}."),
                  sender=f"innbygger{i}@example.no")
    found = daemon.wait_cases(len(ways), timeout=40)
    by_name = {c["reporter"]: c["form_type"] for c in found}
    for i, (form_type, subject, _) in enumerate(ways):
        assert by_name[f"innbygger{i}@example.no"] == form_type, subject


def test_a_mail_whose_type_cannot_be_told_is_unknown_until_a_handler_sets_it(daemon, relay):
    send_form(daemon, "Hei", "Jeg vil vite mer om journalen.\n\nNavn: Ola Nordmann\nAdresse: Storgata 1, 5003 Bergen\n")
    (case,) = daemon.wait_cases(1)
    assert case["form_type"] == "unknown" and "needs_completion" in case["flags"]
    (told,) = mails(relay, LOCAL_HANDLER)  # this organisation's handlers are told
    assert f"[{case['id']}]" in told["msg"]["Subject"] and "#skjema" in text_of(told)
    no_form_content(told)
    command(daemon, case["id"], "#skjema tilgangslogg", sender=LOCAL_HANDLER)
    wait_until(lambda: daemon.case(case["id"])["form_type"] == "access_log", what="type set")
    assert "OK" in text_of(mails(relay, LOCAL_HANDLER, 2)[1])
    assert daemon.case(case["id"])["subject"] == "Innsyn i tilgangslogg"
    (log_notice,) = mails(relay, LOG)  # now an access-log request: the log follow-up routine hears of it
    assert f"[{case['id']}]" in log_notice["msg"]["Subject"]
    # moved to another source: the new owner is told as at intake
    command(daemon, case["id"], "#eier helse-nord institusjonen er UNN", sender=LOCAL_HANDLER)
    (moved,) = mails(relay, "post@helse-nord.example")
    assert moved["msg"]["Subject"] == f"[{case['id']}] Ny innbyggerhenvendelse: Innsyn i tilgangslogg"
    no_form_content(moved)


def test_an_extension_reason_with_a_diagnosis_never_reaches_the_citizen(daemon, relay):
    send_form(daemon, SEED_TITLES["copy_of_record"], form_body(SEED_TITLES["copy_of_record"], text=TEXT))
    (case,) = daemon.wait_cases(1)
    mails(relay, CITIZEN)
    reason = "Vi må hente psykiatrijournalen din og HIV-oppfølgingen fra tre helseforetak"
    command(daemon, case["id"], f"#forleng 2 {reason}")
    notice = mails(relay, CITIZEN, 2)[1]
    text = text_of(notice)
    for word in ("psykiatri", "HIV", "helseforetak", reason):
        assert word not in everything(notice), word
    assert "artikkel 12 nr. 3" in text and "2 måneder" in text and "brev i posten" in text
    assert date.fromisoformat(daemon.case(case["id"])["deadline"]).strftime("%d.%m.%Y") in text
    assert daemon.case(case["id"])["form"]["extension_reason"] == reason  # it stays on the case
    confirmation = mails(relay, OWNER_HANDLER)[0]
    assert "uten begrunnelsen" in text_of(confirmation)


def test_the_owner_is_told_at_intake_without_the_form(daemon, relay):
    send_form(daemon, SEED_TITLES["access_log"], form_body(SEED_TITLES["access_log"], text=TEXT))
    (case,) = daemon.wait_cases(1)
    assert case["owner_actor"] == "helse-vest"
    (notice,) = mails(relay, OWNER_CONTACT)
    text = text_of(notice)
    assert notice["msg"]["Subject"] == f"[{case['id']}] Ny innbyggerhenvendelse: Innsyn i tilgangslogg"
    assert case["id"] in text and "Innsyn i tilgangslogg" in text
    assert date.fromisoformat(case["deadline"]).strftime("%d.%m.%Y") in text
    assert "Sykehuset Eksempel HF" in text and "sikker kanal" in text  # where to read it
    assert "#besvart-per-post" in text and "sakspost cases show" not in text
    no_form_content(notice)
    time.sleep(0.5)
    assert not relay.to(LOCAL_HANDLER), "a known form routed elsewhere does not trouble our handlers"


def test_reminders_and_the_overdue_notice_reach_the_owner_and_escalate(daemon, relay):
    send_form(daemon, SEED_TITLES["correction"], form_body(SEED_TITLES["correction"], text=TEXT))
    (case,) = daemon.wait_cases(1)
    mails(relay, OWNER_CONTACT)  # the intake notice
    deadline = date.fromisoformat(case["deadline"])

    def remind(day: date) -> list:
        return daemon.json("reminders", "send", "--today", day.isoformat())

    assert remind(deadline - timedelta(days=7)) == [{"id": case["id"], "days_before": 7}]
    reminder = mails(relay, OWNER_CONTACT, 2)[1]
    assert reminder["msg"]["Subject"] == f"[{case['id']}] Frist om 7 dager: Endring eller retting"
    text = text_of(reminder)
    assert "#besvart-per-post ÅÅÅÅ-MM-DD" in text and "#forleng" in text and "sakspost cases show" not in text
    no_form_content(reminder)
    assert relay.to(OWNER_HANDLER), "the owner's handlers by name too"
    assert not relay.to(ESCALATION)
    assert remind(deadline) == [{"id": case["id"], "days_before": 0}]
    assert not relay.to(ESCALATION), "not before the deadline has passed"
    assert remind(deadline + timedelta(days=1)) == [{"id": case["id"], "days_before": -1}]
    overdue = mails(relay, OWNER_CONTACT, 4)[3]
    assert overdue["msg"]["Subject"] == f"[{case['id']}] Fristen er passert: Endring eller retting"
    assert ESCALATION in overdue["rcpt_tos"] and ESCALATION in overdue["msg"]["Cc"]
    assert "meldt videre" in text_of(overdue)
    no_form_content(overdue)
    assert remind(deadline + timedelta(days=5)) == [], "escalated once"
    assert "deadline_escalated" in audit(daemon, case["id"])


def test_the_citizens_new_message_and_an_actors_answer_tell_the_owner_and_show(daemon, relay):
    send_form(daemon, SEED_TITLES["lookup_question"], form_body(SEED_TITLES["lookup_question"], text=TEXT))
    (case,) = daemon.wait_cases(1)
    (receipt,) = mails(relay, CITIZEN)
    mails(relay, OWNER_CONTACT)
    later = f"Jeg har flyttet til Tromsø. Fødselsnummeret mitt er {FNR}."
    send_form(daemon, "SV: " + receipt["msg"]["Subject"], later + "\n", in_reply_to=receipt["msg"]["Message-ID"])
    told = mails(relay, OWNER_CONTACT, 2)[1]
    assert told["msg"]["Subject"] == f"[{case['id']}] Ny melding fra innbyggeren: Spørsmål om oppslag"
    assert "Tromsø" not in everything(told)
    no_form_content(told)
    command(daemon, case["id"], "#spør helse-nord Slo dere opp i journalen i april?")
    (question,) = mails(relay, "post@helse-nord.example")
    daemon.send(incident_mail(subject="SV: " + question["msg"]["Subject"], sender="post@helse-nord.example",
                              body="Ja, legevakten slo opp 3. april.\n", in_reply_to=question["msg"]["Message-ID"]),
                mail_from="post@helse-nord.example")
    answered = mails(relay, OWNER_CONTACT, 3)[2]
    assert answered["msg"]["Subject"] == f"[{case['id']}] Svar fra Helse Nord RHF: Spørsmål om oppslag"
    assert "legevakten" not in everything(answered)
    shown = daemon.cli("cases", "show", case["id"]).stdout.decode()
    assert "Jeg har flyttet til Tromsø" in shown and "Ja, legevakten slo opp 3. april." in shown
    assert FNR not in shown and "311299*****" in shown
    assert FNR in daemon.cli("cases", "show", case["id"], "--show-pii").stdout.decode()
    time.sleep(0.5)
    assert len(relay.to(CITIZEN)) == 1, "the citizen's mail is never answered"
    assert FORMS not in [r for m in relay.messages for r in m["rcpt_tos"]]


def test_the_escalation_address_is_checked(sakspost):
    d = sakspost({**CONFIG, "citizen": {**CONFIG["citizen"], "escalation_address": "personvern"}}, start=False)
    out = d.cli("check-config", check=False)
    assert out.returncode == 2 and b"[citizen].escalation_address" in out.stderr
