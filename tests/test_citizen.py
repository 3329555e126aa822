"""Citizens' forms end to end: through the receiver, the command line and an aiosmtpd relay
standing in for the organisation's relay (citizens, the sources' handlers, other actors and the
log follow-up routine all get their mail there). The deadline clock is injected (`--today`)."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest
from conftest import SECURITY, authenticated, incident_mail, minimal_pdf, relay_config, wait_until

from daemon import config as config_mod
from daemon.citizen.deadlines import add_months, due_reminder, today
from daemon.pii import contains_identity_number

FNR = "31129956715"
FNR_2 = "02013299903"
DNR = "71129956709"
FORMS = "innsyn@sykehus.example"
OURS = "brukerstotte@sykehus.example"
OWNER_HANDLER = "ola@helse-vest.example"
LOCAL_HANDLER = "kari.drift@sykehus.example"
LOG = "logg@helse-vest.example"

CONFIG = {
    "identity": {"address": OURS, "name": "Brukerstøtte", "actor": "sykehus"},
    "address": [{"email": OURS, "role": "support"}, {"email": FORMS, "role": "citizen_forms"}],
    "actor": [
        {"id": "sykehus", "name": "Sykehuset Eksempel HF", "kind": "consumer", "contact": OURS,
         "handlers": [LOCAL_HANDLER]},
        {"id": "helse-vest", "name": "Helse Vest RHF", "kind": "source", "contact": "innsyn@helse-vest.example",
         "handlers": [OWNER_HANDLER]},
        {"id": "helse-nord", "name": "Helse Nord RHF", "kind": "source", "contact": "post@helse-nord.example",
         "handlers": ["per@helse-nord.example"]},
        {"id": "helse-sor-ost", "name": "Helse Sør-Øst RHF", "kind": "source",
         "contact": "post@helse-sor-ost.example", "handlers": ["siri@helse-sor-ost.example"]},
    ],
    "citizen": {"default_owner": "helse-sor-ost", "log_followup_address": LOG,
                "route": [{"match": "Haukeland", "owner": "helse-vest"},
                          {"match": "Helse Nord", "owner": "helse-nord"}]},
    **SECURITY,
}


def form_body(title: str, *, fnr: str = FNR, name: str = "Ola Nordmann", institution: str = "Haukeland",
              text: str = "Jeg lurer på hvem som har lest journalen min etter innleggelsen i mars.",
              extra: str = "") -> str:
    return (f"{title}\n\nNavn: {name}\nFødselsnummer: {fnr}\nAdresse: Storgata 1, 5003 Bergen\n"
            f"Telefon: 55 55 55 55\nE-post: ola@example.no\nInstitusjon: {institution}\n"
            f"Periode: mars 2026\n{extra}Beskrivelse: {text}\n")


@pytest.fixture
def daemon(sakspost, relay):
    return sakspost({**relay_config(relay), **CONFIG})


def send_form(daemon, subject: str, body: str, sender: str = "ola@example.no", **kwargs):
    daemon.send(incident_mail(subject=subject, body=body, sender=sender, to=FORMS, **kwargs),
                to=(FORMS,), mail_from=sender)


def text_of(mail) -> str:
    return mail["msg"].get_body(("plain",)).get_content()


def everything(mail) -> str:
    """Subject, decoded text and raw bytes of a mail: what must never carry a number or the form."""
    return "\n".join([str(mail["msg"]["Subject"]), text_of(mail), mail["raw"].decode("utf-8", "replace")])


def mails(relay, address: str, count: int = 1, timeout: float = 15):
    wait_until(lambda: len(relay.to(address)) >= count, timeout, what=f"{count} mail(s) to {address}")
    return relay.to(address)


def command(daemon, case_id: str, text: str, sender: str = OWNER_HANDLER):
    """A handler's command, its sender proven by our border's Authentication-Results."""
    daemon.send(incident_mail(subject=f"SV: [{case_id}] Frist", body=text + "\n\n> sitert tekst\n", sender=sender,
                              headers=authenticated(sender)), mail_from=sender)


def audit(daemon, case_id: str) -> list[str]:
    return [e["action"] for e in daemon.case(case_id)["audit"]]


# -- the five forms --------------------------------------------------------------------------

FIVE = {
    "copy_of_record": ("Kopi av pasientjournal", "Jeg ber om kopi av hele journalen min fra 2025."),
    "access_log": ("Innsyn i tilgangslogg", "Hvem har sett journalen min etter innleggelsen i mars?"),
    "blocking": ("Sperring av journal", "Jeg vil ikke at fastlegen skal se notatene fra psykiatrien."),
    "correction": ("Endring eller retting av journal", "Diagnosen fra 12. mars er feil og må rettes."),
    "lookup_question": ("Spørsmål om oppslag", "Hvorfor slo Ålesund sjukehus opp i journalen min 3. april?"),
}


def test_each_form_becomes_a_case_with_type_fields_owner_and_deadline(daemon, relay):
    for i, (form_type, (subject, text)) in enumerate(FIVE.items()):
        institution = ["Haukeland universitetssjukehus", "Helse Nord, UNN Tromsø", "", "Haukeland", "Haukeland"][i]
        send_form(daemon, subject, form_body(subject, text=text, institution=institution,
                                             name=f"Innbygger {i}"), sender=f"innbygger{i}@example.no")
    found = daemon.wait_cases(5, kind="citizen_form")
    by_type = {c["form_type"]: c for c in found}
    assert set(by_type) == set(FIVE)
    day = today()
    for form_type, case in by_type.items():
        assert case["state"] == "open" and case["answering_actor"] == "sykehus"
        assert case["received_at"] == day.isoformat()
        assert case["deadline"] == add_months(day, 1).isoformat()
        assert FNR not in json.dumps(case)
    assert by_type["copy_of_record"]["owner_actor"] == "helse-vest"
    assert by_type["access_log"]["owner_actor"] == "helse-nord"
    assert by_type["blocking"]["owner_actor"] == "helse-sor-ost"  # nothing to route by: the default
    assert by_type["blocking"]["flags"] == ["unrouted"]
    assert by_type["correction"]["flags"] == []

    shown = daemon.case(by_type["lookup_question"]["id"])
    fields = shown["form"]["fields"]
    assert fields["name"] == "Innbygger 4" and fields["identity_number"] == "311299*****"
    assert fields["address"] == "Storgata 1, 5003 Bergen" and fields["phone"] == "55 55 55 55"
    assert fields["email"] == "ola@example.no" and fields["institution"] == "Haukeland"
    assert fields["period"] == "mars 2026" and fields["free_text"] == FIVE["lookup_question"][1]
    assert shown["form"]["channel"] == "email" and shown["form"]["missing"] == []
    revealed = daemon.json("cases", "show", shown["id"], "--show-pii")
    assert revealed["form"]["fields"]["identity_number"] == FNR
    listed = daemon.cli("cases", "list").stdout.decode() + daemon.cli("cases", "show", shown["id"]).stdout.decode()
    assert FNR not in listed and "311299*****" in listed


def test_receipts_carry_the_case_number_and_deadline_and_nothing_the_citizen_wrote(daemon, relay):
    for i, (form_type, (subject, text)) in enumerate(FIVE.items()):
        send_form(daemon, f"{subject} ({FNR})", form_body(subject, text=text), sender=f"innbygger{i}@example.no")
    cases = {c["form_type"]: c for c in daemon.wait_cases(5)}
    for i, form_type in enumerate(FIVE):
        (receipt,) = mails(relay, f"innbygger{i}@example.no")
        case = cases[form_type]
        text = text_of(receipt)
        assert receipt["msg"]["Subject"] == f"[{case['id']}] Kvittering for henvendelse"
        assert case["id"] in text and date.fromisoformat(case["deadline"]).strftime("%d.%m.%Y") in text
        assert "per post" in text
        assert not contains_identity_number(everything(receipt))
        for echo in (FIVE[form_type][1], "Ola Nordmann", "Storgata", "Haukeland", FIVE[form_type][0]):
            assert echo not in everything(receipt), (form_type, echo)
        if form_type == "blocking":
            assert "Veiledning Helsenorge" in text and "23 32 70 00" in text
        else:
            assert "Veiledning Helsenorge" not in text
    assert "referred_to_guidance" in audit(daemon, cases["blocking"]["id"])
    # the log follow-up routine hears of access-log and lookup questions, without the form
    notices = mails(relay, LOG, 2)
    time.sleep(0.5)
    assert len(relay.to(LOG)) == 2
    assert {n["msg"]["Subject"].split("] ", 1)[0] + "]" for n in notices} == \
        {f"[{cases['access_log']['id']}]", f"[{cases['lookup_question']['id']}]"}
    for notice in notices:
        assert not contains_identity_number(everything(notice))
        assert FIVE["access_log"][1] not in everything(notice) and FIVE["lookup_question"][1] not in everything(notice)


def test_form_in_a_pdf_attachment_and_a_form_from_helsenorge_no_reply(daemon, relay):
    pdf = minimal_pdf(["Innsyn i tilgangslogg", "Navn: Kari Nordmann", f"Fødselsnummer: {DNR}",
                       "Adresse: Fjellveien 2, 9008 Tromsø", "Institusjon: Helse Nord"])
    send_form(daemon, "Skjema fra innbygger", "Se vedlagt skjema.\n", sender="kari@example.no",
              attachments=[("skjema.pdf", "application/pdf", pdf)])
    (case,) = daemon.wait_cases(1)
    assert case["form_type"] == "access_log" and case["owner_actor"] == "helse-nord"
    shown = daemon.json("cases", "show", case["id"], "--show-pii")
    assert shown["form"]["fields"]["identity_number"] == DNR
    mails(relay, "kari@example.no")
    # helsenorge.no's system sends a form automatically: the receipt goes to the form's E-post
    send_form(daemon, "Kopi av pasientjournal", form_body("Kopi av pasientjournal", fnr=FNR_2).replace(
        "ola@example.no", "per@example.no"), sender="noreply@helsenorge.example",
        headers={"Auto-Submitted": "auto-generated"})
    daemon.wait_cases(2)
    (receipt,) = mails(relay, "per@example.no")
    assert "Kvittering" in receipt["msg"]["Subject"]
    assert not relay.to("noreply@helsenorge.example")
    # an out-of-office mail to the forms address is no form and is never answered
    send_form(daemon, "Automatisk svar: Fravær", "Jeg er borte til mandag.\n", sender="borte@example.no",
              headers={"Auto-Submitted": "auto-replied"})
    wait_until(lambda: daemon.stats()["messages"]["by_status"].get("processed") == 3, what="3 processed")
    assert len(daemon.cases()) == 2 and not relay.to("borte@example.no")


def test_unreadable_form_is_kept_for_manual_completion(daemon, relay):
    send_form(daemon, "Hei", "Jeg vil ha papirene mine.\n", sender="anne@example.no",
              attachments=[("bilde.png", "image/png", b"\x89PNG....")])
    (case,) = daemon.wait_cases(1)
    assert case["form_type"] == "unknown" and "needs_completion" in case["flags"]
    assert case["deadline"] == add_months(today(), 1).isoformat()
    shown = daemon.case(case["id"])
    assert set(shown["form"]["missing"]) >= {"name", "identity_number", "address"}
    assert shown["messages"][0]["text"].startswith("Jeg vil ha papirene mine")
    (receipt,) = mails(relay, "anne@example.no")
    assert "papirene" not in everything(receipt)
    out = daemon.cli("forms", "complete", case["id"], "--type", "copy_of_record", "--field", "name=Anne Hansen",
                     "--field", f"Fødselsnummer={FNR}", "--field", "address=Vei 3, 0150 Oslo").stdout.decode()
    assert "complete" in out
    done = daemon.case(case["id"])
    assert done["form_type"] == "copy_of_record" and done["flags"] == ["unrouted"]
    assert done["subject"] == "Kopi av pasientjournal"


def test_the_same_form_twice_within_a_day_is_linked_not_opened_twice(daemon, relay):
    subject, text = FIVE["correction"]
    send_form(daemon, subject, form_body(subject, text=text), message_id="<first@example.no>")
    (case,) = daemon.wait_cases(1)
    mails(relay, "ola@example.no")
    send_form(daemon, "SV: " + subject, form_body(subject, text=text), message_id="<second@example.no>")
    wait_until(lambda: "duplicate_received" in audit(daemon, case["id"]), what="duplicate linked")
    assert len(daemon.cases()) == 1
    assert len([m for m in daemon.case(case["id"])["messages"] if m["direction"] == "in"]) == 2
    # another text is another form
    send_form(daemon, subject, form_body(subject, text="Allergien mot penicillin mangler."))
    daemon.wait_cases(2)
    time.sleep(0.5)
    assert len(relay.to("ola@example.no")) == 2, "no second receipt for the duplicate"


# -- paper, deadlines and reminders ------------------------------------------------------------

def register_paper(daemon, *args) -> dict:
    return json.loads(daemon.cli("forms", "register", *args, "--json").stdout)


def test_paper_form_is_registered_as_the_same_kind_of_case(daemon, relay, tmp_path):
    scan = tmp_path / "skjema.pdf"
    scan.write_bytes(minimal_pdf(["Spørsmål om oppslag", "Navn: Per Hansen", "Adresse: Havnegata 1, 8006 Bodø",
                                  "Institusjon: Helse Nord"]))
    received = today() - timedelta(days=3)
    case = register_paper(daemon, "--type", "lookup_question", "--received", received.isoformat(),
                          "--scan", str(scan), "--field", f"identity_number={FNR}",
                          "--field", "free_text=Hvem slo opp i journalen min 3. mai?")
    assert case["kind"] == "citizen_form" and case["form_type"] == "lookup_question" and not case["linked"]
    assert case["received_at"] == received.isoformat() and case["deadline"] == add_months(received, 1).isoformat()
    assert case["owner_actor"] == "helse-nord" and case["flags"] == []
    shown = daemon.json("cases", "show", case["id"], "--show-pii")
    assert shown["form"]["channel"] == "post" and shown["form"]["fields"]["name"] == "Per Hansen"
    assert shown["form"]["fields"]["identity_number"] == FNR
    assert [m["direction"] for m in shown["messages"]] == ["in", "out", "out"]  # scan, log and owner notices
    (notice,) = mails(relay, LOG)
    assert not contains_identity_number(everything(notice)) and "3. mai" not in everything(notice)
    time.sleep(0.5)
    assert sorted(m["rcpt_tos"] for m in relay.messages) == [[LOG], ["post@helse-nord.example"]], \
        "no receipt: the citizen wrote on paper (the log routine and the owner are told)"
    again = daemon.cli("forms", "register", "--type", "lookup_question", "--received", received.isoformat(),
                       "--scan", str(scan), "--field", f"identity_number={FNR}",
                       "--field", "free_text=Hvem slo opp i journalen min 3. mai?", check=False)
    assert again.returncode == 1 and b"already registered" in again.stderr
    bad = daemon.cli("forms", "register", "--type", "blocking", "--received", received.isoformat(),
                     "--field", "identity_number=12345678901", check=False)
    assert bad.returncode == 2 and b"not a valid identity number" in bad.stderr


def test_reminders_go_to_the_owners_handlers_7_and_2_days_before_and_on_the_day(daemon, relay):
    received = today() - timedelta(days=2)
    case = register_paper(daemon, "--type", "copy_of_record", "--received", received.isoformat(),
                          "--field", "name=Per Hansen", "--field", f"identity_number={FNR}",
                          "--field", "address=Havnegata 1, 5003 Bergen", "--field", "institution=Haukeland",
                          "--field", "free_text=Hele journalen fra 2024.")
    deadline = date.fromisoformat(case["deadline"])

    def remind(day: date) -> list:
        return daemon.json("reminders", "send", "--today", day.isoformat())

    assert remind(deadline - timedelta(days=8)) == []
    assert remind(deadline - timedelta(days=7)) == [{"id": case["id"], "days_before": 7}]
    assert remind(deadline - timedelta(days=7)) == [], "each reminder goes once"
    assert remind(deadline - timedelta(days=3)) == []
    assert remind(deadline - timedelta(days=2)) == [{"id": case["id"], "days_before": 2}]
    assert remind(deadline) == [{"id": case["id"], "days_before": 0}]
    assert remind(deadline + timedelta(days=5)) == []
    reminders = mails(relay, OWNER_HANDLER, 3)
    subjects = [r["msg"]["Subject"] for r in reminders]
    assert subjects == [f"[{case['id']}] Frist om 7 dager: Kopi av pasientjournal",
                        f"[{case['id']}] Frist om 2 dager: Kopi av pasientjournal",
                        f"[{case['id']}] Fristen går ut i dag: Kopi av pasientjournal"]
    for r in reminders:
        assert not contains_identity_number(everything(r)) and "Hele journalen" not in everything(r)
        assert deadline.strftime("%d.%m.%Y") in text_of(r)
    assert not relay.to(LOCAL_HANDLER), "reminders go to the owner's handlers"

    def listed(*args) -> list[str]:
        return [c["id"] for c in daemon.cases(*args)]
    assert listed("--overdue", "--today", (deadline + timedelta(days=1)).isoformat()) == [case["id"]]
    assert listed("--overdue", "--today", deadline.isoformat()) == []
    assert listed("--due-within", "7", "--today", (deadline - timedelta(days=7)).isoformat()) == [case["id"]]
    assert listed("--due-within", "6", "--today", (deadline - timedelta(days=7)).isoformat()) == []


def test_a_late_job_sends_only_the_nearest_reminder():
    config = config_mod.parse({})
    deadline = date(2027, 3, 31)
    assert due_reminder(config, deadline, date(2027, 3, 23), set()) is None
    assert due_reminder(config, deadline, date(2027, 3, 30), set()) == (2, ["2027-03-31:2", "2027-03-31:7"])
    assert due_reminder(config, deadline, date(2027, 4, 3), {"2027-03-31:2", "2027-03-31:7"}) == \
        (0, ["2027-03-31:0"])
    assert due_reminder(config, deadline, date(2027, 4, 3), {"2027-03-31:0"}) is None


def test_calendar_months_clamp_to_the_end_of_a_shorter_month():
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


def test_deadline_months_are_configurable_per_type(sakspost):
    d = sakspost({**CONFIG, "citizen": {**CONFIG["citizen"], "deadline_months": {"access_log": 2}}}, start=False)
    received = date(2025, 10, 31)
    case = register_paper(d, "--type", "access_log", "--received", received.isoformat())
    assert case["deadline"] == "2025-12-31" and "needs_completion" in case["flags"]
    other = register_paper(d, "--type", "blocking", "--received", received.isoformat())
    assert other["deadline"] == "2025-11-30"


def test_extension_needs_a_reason_before_the_deadline_and_tells_the_citizen(daemon, relay):
    subject, text = FIVE["copy_of_record"]
    send_form(daemon, subject, form_body(subject, text=text))
    (case,) = daemon.wait_cases(1)
    mails(relay, "ola@example.no")
    original = date.fromisoformat(case["deadline"])
    command(daemon, case["id"], "#forleng 2 Journalen ligger hos tre helseforetak som må svare")
    wait_until(lambda: daemon.case(case["id"])["deadline"] == add_months(original, 2).isoformat(), what="extended")
    notice = mails(relay, "ola@example.no", 2)[1]
    assert "Fristen for svar er forlenget" in notice["msg"]["Subject"]
    assert add_months(original, 2).strftime("%d.%m.%Y") in text_of(notice)
    assert "tre helseforetak" not in everything(notice) and text not in everything(notice)  # issue 18
    assert "artikkel 12 nr. 3" in text_of(notice) and "brev i posten" in text_of(notice)
    command(daemon, case["id"], "#forleng 1 enda mer tid")
    confirmation = mails(relay, OWNER_HANDLER, 2)[1]
    assert "inntil 2 måneder" in text_of(confirmation)
    # after the deadline has passed it is too late
    late = register_paper(daemon, "--type", "correction", "--received", (today() - timedelta(days=40)).isoformat())
    refused = daemon.cli("cases", "extend", late["id"], "--reason", "mye å gjøre", check=False)
    assert refused.returncode == 1 and "passert" in refused.stderr.decode()


# -- blocking, answers, questions ---------------------------------------------------------------

def test_besvart_per_post_closes_the_case_and_mails_the_citizen_nothing(daemon, relay):
    subject, text = FIVE["access_log"]
    send_form(daemon, subject, form_body(subject, text=text))
    (case,) = daemon.wait_cases(1)
    mails(relay, "ola@example.no")
    command(daemon, case["id"], f"#besvart-per-post {today().isoformat()}")
    wait_until(lambda: daemon.case(case["id"])["state"] == "closed", what="closed")
    shown = daemon.case(case["id"])
    assert shown["form"]["answered_on"] == today().isoformat() and shown["form"]["answered_by"] == "post"
    (confirmation,) = mails(relay, OWNER_HANDLER)
    assert "lukket" in text_of(confirmation) and not contains_identity_number(everything(confirmation))
    time.sleep(0.5)
    assert len(relay.to("ola@example.no")) == 1, "only the receipt ever went to the citizen"


def test_a_refused_correction_cannot_close_without_reason_and_complaint_notice(daemon, relay):
    subject, text = FIVE["correction"]
    send_form(daemon, subject, form_body(subject, text=text))
    (case,) = daemon.wait_cases(1)
    no_reason = daemon.cli("cases", "answer", case["id"], "--by", "post", "--refused", check=False)
    assert no_reason.returncode == 1 and "begrunnelse" in no_reason.stderr.decode()
    no_notice = daemon.cli("cases", "answer", case["id"], "--by", "post", "--refused", "--reason",
                           "Opplysningene er riktige", check=False)
    assert no_notice.returncode == 1 and "Statsforvalteren" in no_notice.stderr.decode()
    assert daemon.case(case["id"])["state"] == "open"
    assert daemon.case(case["id"])["form"]["refused"] is False, "a refused step records nothing"
    # by mail: the refusal is recorded, but closing waits for the complaint notice
    command(daemon, case["id"], "#avslag Behandler mener diagnosen er riktig\n#besvart-per-post")
    wait_until(lambda: daemon.case(case["id"])["form"]["refused"], what="refusal recorded")
    (confirmation,) = mails(relay, OWNER_HANDLER)
    assert "FEIL #besvart-per-post" in text_of(confirmation) and "Statsforvalteren" in text_of(confirmation)
    assert daemon.case(case["id"])["state"] == "open"
    command(daemon, case["id"], "#klagerett\n#besvart-per-post")
    wait_until(lambda: daemon.case(case["id"])["state"] == "closed", what="closed")
    form = daemon.case(case["id"])["form"]
    assert form["refusal_reason"] == "Behandler mener diagnosen er riktig" and form["statsforvalter_notice"]


def test_refusal_through_the_command_line(daemon):
    late = register_paper(daemon, "--type", "correction", "--received", (today() - timedelta(days=3)).isoformat())
    out = daemon.cli("cases", "answer", late["id"], "--by", "post", "--date", today().isoformat(), "--refused",
                     "--reason", "Opplysningene er riktige", "--statsforvalter-notice")
    assert b"closed" in out.stdout
    assert daemon.case(late["id"])["state"] == "closed"


def test_blocking_stays_open_until_the_source_confirms(daemon, relay):
    subject, text = FIVE["blocking"]
    send_form(daemon, subject, form_body(subject, text=text))
    (case,) = daemon.wait_cases(1)
    assert case["owner_actor"] == "helse-vest"
    command(daemon, case["id"], "#besvart-per-post", sender=LOCAL_HANDLER)
    (refused,) = mails(relay, LOCAL_HANDLER)
    assert "ikke bekreftet" in text_of(refused) and daemon.case(case["id"])["state"] == "open"
    command(daemon, case["id"], "#bekreftet personverninnstillingene var nok", sender=LOCAL_HANDLER)
    assert "bare saksbehandlere hos kilden" in text_of(mails(relay, LOCAL_HANDLER, 2)[1])
    command(daemon, case["id"], "#bekreftet kilden har sperret dokumentene fra psykiatrien")
    wait_until(lambda: daemon.case(case["id"])["form"]["source_confirmed_at"], what="confirmed")
    command(daemon, case["id"], "#besvart-per-post", sender=LOCAL_HANDLER)
    wait_until(lambda: daemon.case(case["id"])["state"] == "closed", what="closed")


def test_question_to_another_actor_and_its_answer_land_on_the_case(daemon, relay):
    subject, text = FIVE["lookup_question"]
    send_form(daemon, subject, form_body(subject, text=text))
    (case,) = daemon.wait_cases(1)
    command(daemon, case["id"], f"#spør helse-nord Slo dere opp i journalen? Gjelder {FNR}.")
    (question,) = mails(relay, "post@helse-nord.example")
    assert f"[{case['id']}]" in question["msg"]["Subject"] and "Slo dere opp i journalen?" in text_of(question)
    assert not contains_identity_number(everything(question)) and text not in everything(question)
    assert question["msg"]["Auto-Submitted"] is None
    # their answer, threaded by our Message-ID, lands on the case and is no command
    daemon.send(incident_mail(subject="SV: Spørsmål om innbyggerhenvendelse", sender="post@helse-nord.example",
                              body="#ja, vi slo opp 3. april ved innleggelse.\n",
                              in_reply_to=question["msg"]["Message-ID"]), mail_from="post@helse-nord.example")
    wait_until(lambda: "actor_answer_received" in audit(daemon, case["id"]), what="answer on the case")
    time.sleep(0.5)
    assert len(relay.to("post@helse-nord.example")) == 1, "no refusal or confirmation to the answering actor"
    # quoting the citizen's own text to another actor is refused
    command(daemon, case["id"], f"#spør helse-nord {text}")
    confirmation = mails(relay, OWNER_HANDLER, 2)[1]
    assert "FEIL" in text_of(confirmation) and "innbyggerens egen tekst" in text_of(confirmation)
    assert len(relay.to("post@helse-nord.example")) == 1


def test_citizen_reply_is_kept_and_never_answered(daemon, relay):
    subject, text = FIVE["copy_of_record"]
    send_form(daemon, subject, form_body(subject, text=text))
    (case,) = daemon.wait_cases(1)
    (receipt,) = mails(relay, "ola@example.no")
    send_form(daemon, "SV: " + receipt["msg"]["Subject"], "#lukk\nJeg har flyttet.\n",
              in_reply_to=receipt["msg"]["Message-ID"])
    wait_until(lambda: "command_refused" in audit(daemon, case["id"]), what="reply recorded")
    time.sleep(0.5)
    assert len(daemon.cases()) == 1 and len(relay.to("ola@example.no")) == 1
    assert daemon.case(case["id"])["state"] == "open"


def test_identity_numbers_never_reach_the_log(daemon, relay):
    subject, text = FIVE["access_log"]
    send_form(daemon, f"{subject} {FNR}", form_body(subject, text=text))
    daemon.wait_cases(1)
    mails(relay, "ola@example.no")
    assert FNR not in daemon.log()


def test_routing_configuration_is_checked(sakspost):
    d = sakspost({**CONFIG, "citizen": {"route": [{"match": "Haukeland", "owner": "helse-midt"}]}}, start=False)
    out = d.cli("check-config", check=False)
    assert out.returncode == 2 and b"[citizen].route[0].owner" in out.stderr
