"""Trust (issue 13), tried as an attacker would: every mail here goes through the real receiver,
and what the daemon sends comes out at a real relay.

A command changes a case only when the mail proves its sender; nothing a sender writes reaches
a header we write unchecked; an automatic answer goes to one address, the sender's own; a
stranger who names a case learns nothing; a responder that strips our threading settles.
"""

from __future__ import annotations

import smtplib
import threading
import time
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import pytest
from conftest import (Relay, Sakspost, SECURITY, TRUSTED_AUTHSERV, authenticated, incident_mail,
                      relay_config, wait_until)

HANDLER = "kari.drift@sykehus.example"
OTHER_HANDLER = "ola.drift@sykehus.example"
REPORTER = "kari.nordmann@sykehus.example"
INTAKE = "kundesenter@nhn.example"
OURS = "brukerstotte@sykehus.example"
SUBJECT = "Legemiddelliste for pasient feiler i kjernejournal"

ACTORS = {
    "identity": {"address": OURS, "name": "Brukerstøtte", "actor": "sykehus"},
    "actor": [
        {"id": "sykehus", "name": "Sykehuset Eksempel HF", "kind": "consumer", "contact": OURS,
         "handlers": [HANDLER, OTHER_HANDLER]},
        {"id": "nhn", "name": "Norsk helsenett", "kind": "nhn", "contact": INTAKE},
    ],
    "nhn": {"intake_address": INTAKE, "phone": "24 20 00 00", "sender_domains": ["nhn.example"]},
    "limits": {"exempt_senders": ["overvaking.example"]},
    **SECURITY,
}


@pytest.fixture(scope="module")
def relay():
    r = Relay().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def daemon(relay, tmp_path_factory):
    d = Sakspost(tmp_path_factory.mktemp("trust"), {**relay_config(relay), **ACTORS}).start()
    yield d
    d.stop()


def report(daemon, subject: str, sender: str = REPORTER, severity: str = "C") -> dict:
    """A new report; returns its case once it is open."""
    body = ("Hei,\n\nLegemiddellisten vises ikke for noen pasienter siden 08:15.\n\n"
            f"Alvorlighetsgrad: {severity}\nSted: Kjernejournal\nTidspunkt: 25.11.2026 kl. 08:15\n"
            "Kontakt: Kari Nordmann, 55 55 55 55\n")
    daemon.send(incident_mail(subject=subject, body=body, sender=sender), mail_from=sender)
    return wait_until(lambda: next((c for c in daemon.cases() if c["subject"] == subject), None),
                      15, interval=0.2, what=f"case {subject!r}")


def events(daemon, case_id: str, action: str) -> list[dict]:
    return [e for e in daemon.case(case_id)["audit"] if e["action"] == action]


def send_exact(daemon, raw: bytes, mail_from: str, to=(OURS,)) -> None:
    """RAW sent byte for byte (smtplib would turn a bare CR into a line break): MAIL, RCPT, DATA,
    the dot-stuffed bytes, the final dot."""
    with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
        client.ehlo()
        assert client.mail(mail_from)[0] == 250
        for rcpt in to:
            assert client.rcpt(rcpt)[0] == 250
        assert client.putcmd("data") is None and client.getreply()[0] == 354
        stuffed = b"\r\n".join((b"." + line if line.startswith(b".") else line) for line in raw.split(b"\r\n"))
        client.send(stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        assert client.getreply()[0] == 250


def header_lines(raw: bytes) -> list[str]:
    """The names of the header fields of RAW's top-level header block, as a reader splits it."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    return [line.split(":", 1)[0] for line in head.split("\r\n") if line and line[0] not in " \t"]


# -- 1. commands need proof --------------------------------------------------------------------

FORGERIES = {
    "no Authentication-Results": [],
    "an untrusted authserv-id": [f"evil.example; dmarc=pass header.from=sykehus.example"],
    "a trusted id further down than our border's": [
        f"{TRUSTED_AUTHSERV}; dmarc=fail header.from=sykehus.example",
        f"{TRUSTED_AUTHSERV}; dmarc=pass header.from=sykehus.example"],
    "a trusted id placed below an untrusted one": [
        "evil.example; dmarc=pass header.from=sykehus.example",
        f"{TRUSTED_AUTHSERV}; dmarc=fail header.from=sykehus.example"],
    "dkim for another domain": [f"{TRUSTED_AUTHSERV}; dkim=pass header.d=evil.example; dmarc=fail"],
    "dmarc for another domain": [f"{TRUSTED_AUTHSERV}; dmarc=pass header.from=evil.example"],
}


@pytest.mark.parametrize("how", FORGERIES)
def test_a_forged_command_changes_nothing_and_alerts_the_real_handler(daemon, relay, how):
    case = report(daemon, f"{SUBJECT} ({how})")
    msg = EmailMessage()
    msg["From"] = f"Kari Drift <{HANDLER}>"
    msg["To"] = OURS
    msg["Subject"] = f"SV: [{case['id']}] {case['subject']}"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="evil.example")
    for value in FORGERIES[how]:
        msg["Authentication-Results"] = value
    msg.set_content("#lukk\n#alvorlighetsgrad A\n")
    alerts = len(relay.to(HANDLER))
    daemon.send(msg.as_bytes(policy=policy.SMTP), mail_from="attacker@evil.example")

    (refused,) = wait_until(lambda: events(daemon, case["id"], "command_refused"), what="refusal recorded")
    assert refused["detail"]["commands"] == ["#lukk", "#alvorlighetsgrad A"]
    assert refused["detail"]["claimed_handler"] == HANDLER
    shown = daemon.case(case["id"])
    assert (shown["state"], shown["severity"]) != ("closed", "A") and shown["severity"] == "C"
    assert shown["state"] != "closed" and not shown["escalated_at"]
    # the handler is alerted at most once an hour, however many forgeries (the first of this module's)
    alert = wait_until(lambda: [m for m in relay.to(HANDLER) if "ikke utført" in str(m["msg"]["Subject"])],
                       what="the handler alerted")[0]
    assert len([m for m in relay.to(HANDLER)[alerts:] if "ikke utført" in str(m["msg"]["Subject"])]) <= 1
    assert alert["rcpt_tos"] == [HANDLER], "the alert goes to the handler's configured address only"
    assert not relay.to("attacker@evil.example")


@pytest.mark.parametrize("result", ["dmarc=pass", "dkim=pass header.d=sykehus.example"])
def test_a_command_proven_by_our_border_is_obeyed(daemon, relay, result):
    case = report(daemon, f"{SUBJECT} (bevist: {result})")
    headers = {"Authentication-Results": f"{TRUSTED_AUTHSERV}; {result}" + (
        " header.from=sykehus.example" if result.startswith("dmarc") else "")}
    daemon.send(incident_mail(subject=f"SV: [{case['id']}] x", body="#alvorlighetsgrad D\n", sender=HANDLER,
                              headers=headers), mail_from=HANDLER)
    wait_until(lambda: daemon.case(case["id"])["severity"] == "D", what="severity changed")
    (run,) = events(daemon, case["id"], "commands_run")
    assert TRUSTED_AUTHSERV in run["detail"]["proven_by"]


def test_the_command_address_proves_a_handler_whose_server_does_not_sign(daemon, relay):
    # Ola, whom no forgery has alerted yet this hour (an alert goes to one handler once an hour)
    owner, intruder = OTHER_HANDLER, HANDLER
    case = report(daemon, f"{SUBJECT} (kommandoadresse)")
    before = len(relay.to(owner))
    # without any proof: refused, and the handler is told, with the command address to reply to
    daemon.send(incident_mail(subject=f"SV: [{case['id']}] x", body="#alvorlighetsgrad D\n", sender=owner),
                mail_from=owner)
    alert = wait_until(lambda: [m for m in relay.to(owner)[before:] if "ikke utført" in str(m["msg"]["Subject"])],
                       what="alert")[0]["msg"]
    command_address = alert["Reply-To"].addresses[0].addr_spec
    assert command_address.startswith("brukerstotte+") and command_address.endswith("@sykehus.example")
    assert daemon.case(case["id"])["severity"] == "C"
    # another handler who got hold of it cannot use it: the address is Ola's alone
    daemon.send(incident_mail(subject="kommando", body="#alvorlighetsgrad B\n", sender=intruder,
                              to=command_address), to=[command_address], mail_from=intruder)
    # the handler's reply to it is obeyed, even with a new subject and no threading
    daemon.send(incident_mail(subject="kommando", body="#alvorlighetsgrad D\n", sender=owner,
                              to=command_address), to=[command_address], mail_from=owner)
    wait_until(lambda: daemon.case(case["id"])["severity"] == "D", what="severity changed by the command address")
    (run,) = events(daemon, case["id"], "commands_run")
    assert run["who"] == owner and "command address" in run["detail"]["proven_by"]
    assert intruder not in [e["who"] for e in daemon.case(case["id"])["audit"]], "Ola's address is his alone"


def test_a_display_name_that_decodes_to_a_line_break_is_not_the_handler(daemon, relay):
    case = report(daemon, f"{SUBJECT} (visningsnavn)")
    forged = (f"From: =?utf-8?q?Kari=0D=0Ax:_{HANDLER}?= <attacker@evil.example>\r\n"
              f"To: {OURS}\r\nSubject: SV: [{case['id']}] x\r\nDate: {formatdate()}\r\n"
              f"Message-ID: <forged1@evil.example>\r\n"
              f"Authentication-Results: {TRUSTED_AUTHSERV}; dmarc=pass header.from=evil.example\r\n"
              "\r\n#lukk\r\n").encode()
    daemon.send(forged, mail_from="attacker@evil.example")
    # not the handler, and not a participant: a report of its own, answered to its own address
    answer = wait_until(lambda: relay.to("attacker@evil.example"), what="the attacker's acknowledgement")[0]
    assert answer["rcpt_tos"] == ["attacker@evil.example"]
    assert case["subject"] not in answer["raw"].decode("utf-8", "replace")
    assert daemon.case(case["id"])["state"] != "closed"
    assert not events(daemon, case["id"], "message_received")[1:], "nothing attached to the case"


# -- 2. no sender-controlled byte in our headers ----------------------------------------------

def test_a_display_name_with_an_encoded_line_break_sends_nothing_to_a_third_party(daemon, relay):
    raw = (f"From: =?utf-8?q?Kari=0D=0ABcc:_evil02@evil.example?= <kari.bcc@sykehus.example>\r\n"
           f"To: {OURS}\r\nSubject: Feil i journal (bcc)\r\nDate: {formatdate()}\r\n"
           "Message-ID: <bcc1@sykehus.example>\r\n\r\nOppslag feiler.\r\n").encode()
    daemon.send(raw, mail_from="kari.bcc@sykehus.example")
    ack = wait_until(lambda: relay.to("kari.bcc@sykehus.example"), what="acknowledgement")[0]
    assert ack["rcpt_tos"] == ["kari.bcc@sykehus.example"]
    assert "Bcc" not in header_lines(ack["raw"])
    time.sleep(0.5)
    assert not relay.to("evil02@evil.example")


@pytest.mark.parametrize("tail", [b"\rBcc : evil@evil.example", b"\rSome text"])
def test_a_bare_cr_in_a_message_id_never_reaches_our_headers(daemon, relay, tail):
    sender = f"cr{len(tail)}@sykehus.example"
    raw = (f"From: Kari <{sender}>\r\nTo: {OURS}\r\nSubject: Feil med CR\r\n".encode()
           + b"Message-ID: <h" + tail + b">\r\n" + f"Date: {formatdate()}\r\n\r\nOppslag feiler.\r\n".encode())
    send_exact(daemon, raw, sender)
    ack = wait_until(lambda: relay.to(sender), what="acknowledgement")[0]
    names = header_lines(ack["raw"])
    assert "Bcc" not in names and "Some text>" not in names and "Some text" not in names
    assert "Auto-Submitted" in names, "the header block was not ended early"
    assert ack["msg"]["Auto-Submitted"] == "auto-replied"
    for name in ("In-Reply-To", "References"):
        assert b"evil" not in ack["raw"] and "\r" not in str(ack["msg"].get(name, ""))
    assert ack["rcpt_tos"] == [sender]


def test_reply_to_in_another_domain_gets_no_mail(daemon, relay):
    daemon.send(incident_mail(subject="Feil (svar-til)", sender="kari.rt@sykehus.example",
                              headers={"Reply-To": "victim@annet.example"}), mail_from="kari.rt@sykehus.example")
    ack = wait_until(lambda: relay.to("kari.rt@sykehus.example"), what="acknowledgement")[0]
    assert ack["rcpt_tos"] == ["kari.rt@sykehus.example"]
    # a Reply-To in the sender's own domain is where the answer goes, to that one address
    daemon.send(incident_mail(subject="Feil (svar-til samme domene)", sender="kari.rt2@sykehus.example",
                              headers={"Reply-To": "kari.privat@sykehus.example"}),
                mail_from="kari.rt2@sykehus.example")
    ack = wait_until(lambda: relay.to("kari.privat@sykehus.example"), what="acknowledgement")[0]
    assert ack["rcpt_tos"] == ["kari.privat@sykehus.example"]
    time.sleep(0.5)
    assert not relay.to("victim@annet.example")


def test_an_attachment_named_to_inject_a_header_does_not_stop_a_severity_a_report(daemon, relay):
    sender = "kari.vedlegg@sykehus.example"
    boundary = "=_b0undary"
    raw = (f"From: Kari <{sender}>\r\nTo: {OURS}\r\nSubject: XCA nede (vedlegg)\r\nDate: {formatdate()}\r\n"
           f"Message-ID: <att1@sykehus.example>\r\nMIME-Version: 1.0\r\n"
           f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
           f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "XCA-gatewayen svarer ikke.\r\nAlvorlighetsgrad: A\r\nSted: XCA-gateway\r\n"
           "Tidspunkt: 25.11.2026 kl. 08:15\r\nKontakt: Kari, 55 55 55 55\r\n"
           f"--{boundary}\r\nContent-Type: text/plain\r\n"
           "Content-Disposition: attachment; filename*=utf-8''logg%0D%0ABcc%3A%20x.txt\r\n\r\n"
           f"08:15 feil\r\n--{boundary}--\r\n").encode()
    daemon.send(raw, mail_from=sender)
    ack = wait_until(lambda: relay.to(sender), what="acknowledgement")[0]
    forward = wait_until(lambda: [m for m in relay.to(INTAKE) if "vedlegg" in str(m["msg"]["Subject"])],
                         what="the forward to NHN")[0]
    assert "Bcc" not in header_lines(forward["raw"]) and forward["rcpt_tos"] == [INTAKE]
    (log,) = [p for p in forward["msg"].iter_attachments()]
    assert log.get_filename() and "\r" not in log.get_filename() and "\n" not in log.get_filename()
    assert log.get_content().strip() == "08:15 feil"
    assert "NHN" in ack["msg"].get_body(("plain",)).get_content()


# -- 4. outsiders learn nothing ---------------------------------------------------------------

def test_an_outsider_who_names_a_case_learns_nothing_of_it(daemon, relay):
    case = report(daemon, f"{SUBJECT} (innsyn)")
    outsider = "nysgjerrig@annet.example"
    daemon.send(incident_mail(subject=f"[{case['id']}] #status x", body="#status x\n", sender=outsider,
                              headers=authenticated(outsider)), mail_from=outsider)
    answer = wait_until(lambda: relay.to(outsider), what="an answer to the outsider")[0]
    raw = answer["raw"].decode("utf-8", "replace")
    assert case["subject"] not in raw and "Legemiddelliste" not in raw
    assert not events(daemon, case["id"], "status_sent") and len(events(daemon, case["id"], "message_received")) == 1
    mine = [c for c in daemon.cases() if c["reporter"] == outsider]
    assert len(mine) == 1 and mine[0]["id"] != case["id"], "the outsider's mail is a report of its own"


def test_the_reporter_still_joins_the_case_by_its_tag(daemon, relay):
    case = report(daemon, f"{SUBJECT} (oppfølging)")
    daemon.send(incident_mail(subject=f"SV: [{case['id']}] mer", body="Det gjelder også Bergen.\n",
                              sender=REPORTER), mail_from=REPORTER)
    wait_until(lambda: len(events(daemon, case["id"], "message_received")) == 2, what="the reply on the case")


# -- 5. caps -----------------------------------------------------------------------------------

class Responder:
    """An auto-responder at RELAY: every mail from the daemon to ADDRESS is answered with a new
    mail to the daemon that drops our tag and threading and is not marked automatic."""

    def __init__(self, relay, daemon, address: str):
        self.relay, self.daemon, self.address = relay, daemon, address
        self.answered = 0
        self.stop = threading.Event()

    def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        self.send("Hei")  # the first mail
        while not self.stop.is_set() and time.monotonic() < deadline:
            got = len(self.relay.to(self.address))
            if got > self.answered:
                self.answered = got
                self.send("Takk for din henvendelse")
            time.sleep(0.05)

    def send(self, subject: str) -> None:
        msg = incident_mail(subject=f"{subject} {self.answered}", sender=self.address,
                            body="Vi har mottatt din e-post og svarer så snart vi kan.\n")
        self.daemon.send(msg, mail_from=self.address)


def test_a_responder_that_strips_threading_settles_within_a_few_mails(daemon, relay):
    responder = Responder(relay, daemon, "svar@autosvar.example")
    worker = threading.Thread(target=responder.run, args=(60,))
    worker.start()

    def quiet() -> bool:  # nothing new to the responder for 3 s
        count = len(relay.to(responder.address))
        time.sleep(3)
        return count == len(relay.to(responder.address)) and count > 0
    try:
        wait_until(quiet, 60, interval=0, what="the loop to settle")
    finally:
        responder.stop.set()
        worker.join()
    assert len(relay.to(responder.address)) == 10, "auto_mails_per_hour (10) mails, then no more"
    theirs = [c for c in daemon.cases() if c["reporter"] == responder.address]
    assert len(theirs) <= 11
    held = [e for c in theirs for e in events(daemon, c["id"], "mail_held")]
    assert held and held[0]["detail"]["to"] == [responder.address]


def test_a_flood_from_one_sender_opens_twenty_cases_and_one_held_case(daemon, relay):
    sender = "flom@masse.example"
    before = len(relay.to(HANDLER))
    for i in range(25):
        daemon.send(incident_mail(subject=f"Flom {i}", sender=sender, message_id=f"<flom{i}@masse.example>"),
                    mail_from=sender)
    wait_until(lambda: daemon.stats()["messages"]["by_status"].get("received", 0) == 0
               and sum(1 for c in daemon.cases() if c["reporter"] == sender) == 21, what="the flood applied")
    theirs = [c for c in daemon.cases() if c["reporter"] == sender]
    held = [c for c in theirs if "held" in c["flags"]]
    assert len(theirs) == 21 and len(held) == 1
    assert len(events(daemon, held[0]["id"], "message_held")) == 5
    told = wait_until(lambda: [m for m in relay.to(HANDLER)[before:] if "holdes tilbake" in str(m["msg"]["Subject"])],
                      what="the handlers told")
    time.sleep(0.5)
    assert len([m for m in relay.to(HANDLER)[before:] if "holdes tilbake" in str(m["msg"]["Subject"])]) == 1
    assert sender in told[0]["msg"].get_body(("plain",)).get_content()
    assert len(relay.to(sender)) == 10


def test_exempt_senders_are_not_capped(daemon, relay):
    sender = "alarm@overvaking.example"
    for i in range(12):
        daemon.send(incident_mail(subject=f"Overvåking {i}", sender=sender, message_id=f"<ov{i}@overvaking.example>"),
                    mail_from=sender)
    wait_until(lambda: len(relay.to(sender)) == 12, 30, what="twelve acknowledgements")
