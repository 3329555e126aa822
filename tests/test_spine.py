"""The spine end to end: a real SMTP conversation with the running daemon, an aiosmtpd relay
receiving the acknowledgement, durability and dedupe, the outbox surviving a relay outage."""

from __future__ import annotations

import smtplib
import sqlite3
import time

import pytest
from conftest import Relay, free_port, incident_mail, relay_config, wait_until


def test_report_is_registered_and_acknowledged(sakspost, relay):
    d = sakspost(relay_config(relay))
    raw = incident_mail(message_id="<rapport-1@sykehus.example>")
    d.send(raw)

    (case,) = d.wait_cases(1)
    assert case["id"].startswith("SAK-") and len(case["id"]) == len("SAK-2026-000001")
    assert case["kind"] == "incident"
    assert case["state"] == "open"
    assert case["reporter"] == "kari.nordmann@sykehus.example"
    assert case["subject"] == "Feil i dokumentdeling: XCA-gateway svarer ikke"

    (ack,) = relay.wait_for(1)
    msg = ack["msg"]
    assert ack["rcpt_tos"] == ["kari.nordmann@sykehus.example"]
    assert f"[{case['id']}]" in msg["Subject"]
    assert msg["In-Reply-To"] == "<rapport-1@sykehus.example>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Message-ID"].endswith("@sykehus.example>") and case["id"] in msg["Message-ID"]
    assert msg.get_body(("plain",)).get_content().count(case["id"]) >= 1
    assert msg.get_body(("html",)) is not None

    shown = d.case(case["id"])
    actions = [e["action"] for e in shown["audit"]]
    assert actions[:4] == ["opened", "message_received", "state_changed", "mail_queued"]
    wait_until(lambda: d.case(case["id"])["outbox"][0]["status"] == "sent", 10, what="outbox row sent")


def test_reply_threads_by_tag_and_by_references(sakspost, relay):
    d = sakspost(relay_config(relay))
    d.send(incident_mail(message_id="<first@sykehus.example>"))
    (case,) = d.wait_cases(1)
    (ack,) = relay.wait_for(1)

    # by the tag in the subject
    d.send(incident_mail(subject=f"SV: [{case['id']}] mer info", message_id="<second@sykehus.example>"))
    # by References to our acknowledgement's Message-ID, no tag
    d.send(incident_mail(subject="SV: Mottatt", message_id="<third@sykehus.example>",
                         in_reply_to=ack["msg"]["Message-ID"]))
    wait_until(lambda: len(d.case(case["id"])["messages"]) >= 4, what="replies threaded")
    assert len(d.cases()) == 1
    inbound = [m for m in d.case(case["id"])["messages"] if m["direction"] == "in"]
    assert [m["message_id"] for m in inbound] == ["first@sykehus.example", "second@sykehus.example",
                                                  "third@sykehus.example"]
    # replies are not acknowledged again
    time.sleep(0.5)
    assert len(relay.messages) == 1


def test_forged_token_does_not_thread(sakspost, relay):
    d = sakspost(relay_config(relay))
    d.send(incident_mail(message_id="<a@sykehus.example>"))
    (case,) = d.wait_cases(1)
    forged = f"<{case['id']}.0000000000000000.0123456789abcdef0123@sykehus.example>"
    d.send(incident_mail(subject="Ny feil", message_id="<b@sykehus.example>", in_reply_to=forged))
    assert len(d.wait_cases(2)) == 2


def test_duplicate_delivery_creates_nothing_new(sakspost, relay):
    d = sakspost(relay_config(relay))
    raw = incident_mail(message_id="<dup@sykehus.example>")
    d.send(raw)
    d.wait_cases(1)
    relay.wait_for(1)
    d.send(raw)  # the MTA delivers it again
    d.send(b"Received: from mx2.sykehus.example\r\n" + raw)  # again, through another relay hop
    time.sleep(1.0)
    stats = d.stats()
    assert stats["messages"]["total"] == 1
    assert stats["cases"]["total"] == 1
    assert len(relay.messages) == 1


def test_same_message_to_two_addresses_is_one_message_in_both_roles(sakspost):
    d = sakspost({"address": [{"email": "brukerstotte@sykehus.example", "role": "support"},
                              {"email": "nhn-svar@sykehus.example", "role": "nhn"}]})
    raw = incident_mail(message_id="<both@sykehus.example>")
    d.send(raw, to=("brukerstotte@sykehus.example", "nhn-svar@sykehus.example"))
    d.wait_cases(1)
    db = sqlite3.connect(d.db_path)
    assert db.execute("select count(*), roles from message where direction='in'").fetchone() == (1, "support,nhn")


def test_unknown_recipient_is_refused_with_550(sakspost):
    d = sakspost({"address": [{"email": "brukerstotte@sykehus.example", "role": "support"}]})
    with smtplib.SMTP("127.0.0.1", d.port) as client:
        client.ehlo()
        client.mail("kari@sykehus.example")
        code, _ = client.rcpt("ukjent@sykehus.example")
        assert code == 550
        assert client.rcpt("brukerstotte@sykehus.example")[0] == 250


def test_oversized_message_is_refused_with_552(sakspost):
    d = sakspost()
    big = incident_mail(body="x" * 100 + "\n" + ("y" * 998 + "\n") * (30 * 1024 * 1024 // 999))
    # an ESMTP client declares SIZE and is refused at MAIL FROM
    with pytest.raises(smtplib.SMTPSenderRefused) as refused, smtplib.SMTP("127.0.0.1", d.port) as client:
        client.sendmail("kari@sykehus.example", ["brukerstotte@sykehus.example"], big)
    assert refused.value.smtp_code == 552
    # a plain SMTP client sends it all and is refused after DATA
    with pytest.raises(smtplib.SMTPDataError) as refused, smtplib.SMTP("127.0.0.1", d.port) as client:
        client.helo()
        client.sendmail("kari@sykehus.example", ["brukerstotte@sykehus.example"], big)
    assert refused.value.smtp_code == 552
    assert d.stats()["messages"]["total"] == 0


def test_storage_failure_answers_451_and_leaves_no_rows(sakspost):
    d = sakspost()
    d.send(incident_mail(message_id="<before@sykehus.example>"))
    d.wait_cases(1)
    db = sqlite3.connect(d.db_path)
    db.execute("CREATE TRIGGER fail_raw BEFORE INSERT ON rawmessage BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    db.commit()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        d.send(incident_mail(message_id="<during@sykehus.example>"))
    assert refused.value.smtp_code == 451
    assert db.execute("select count(*) from message where message_id='during@sykehus.example'").fetchone() == (0,)
    db.execute("DROP TRIGGER fail_raw")
    db.commit()
    d.send(incident_mail(message_id="<during@sykehus.example>"))  # the MTA's retry
    assert len(d.wait_cases(2)) == 2


def test_relay_outage_delays_mail_and_delivers_it_once(sakspost):
    port = free_port()
    d = sakspost({"relay": {"host": "127.0.0.1", "port": port, "starttls": False}})
    d.send(incident_mail())
    (case,) = d.wait_cases(1)
    wait_until(lambda: d.case(case["id"])["outbox"][0]["attempts"] >= 2, 15, what="failed attempts")
    row = d.case(case["id"])["outbox"][0]
    assert row["status"] == "pending" and row["last_error"]
    late = Relay(port).start()
    try:
        late.wait_for(1, timeout=15)
        wait_until(lambda: d.case(case["id"])["outbox"][0]["status"] == "sent", 10, what="sent")
        time.sleep(1.0)
        assert len(late.messages) == 1
    finally:
        late.stop()


def test_permanent_refusal_fails_visibly(sakspost):
    class Refusing(Relay):
        async def handle_RCPT(self, server, session, envelope, address, options):
            return "550 5.1.1 no such user"

    relay = Refusing().start()
    try:
        d = sakspost(relay_config(relay))
        d.send(incident_mail())
        (case,) = d.wait_cases(1)
        wait_until(lambda: d.stats()["outbox"]["by_status"].get("failed") == 1, 10, what="failed outbox row")
        assert "550" in d.case(case["id"])["outbox"][0]["last_error"]
    finally:
        relay.stop()


def test_no_mail_answers_automatic_mail_or_our_own(sakspost, relay):
    d = sakspost(relay_config(relay))
    d.send(incident_mail(subject="Automatisk svar: borte", headers={"Auto-Submitted": "auto-replied"}))
    d.send(incident_mail(subject="Nyhetsbrev", headers={"Precedence": "bulk"}))
    d.send(incident_mail(subject="Undelivered Mail Returned to Sender"), mail_from="")
    d.send(incident_mail(subject="Ekko", sender="brukerstotte@sykehus.example"))
    wait_until(lambda: d.stats()["messages"]["by_status"].get("processed") == 4, what="4 processed")
    time.sleep(0.5)
    assert d.stats()["cases"]["total"] == 0
    assert relay.messages == []


def test_lmtp_answers_per_recipient(sakspost):
    d = sakspost({"receiver": {"protocol": "lmtp"},
                  "address": [{"email": "brukerstotte@sykehus.example", "role": "support"},
                              {"email": "innsyn@sykehus.example", "role": "citizen_forms"}]})
    client = smtplib.LMTP("127.0.0.1", d.port)
    try:
        client.ehlo()
        client.mail("kari@sykehus.example")
        assert client.rcpt("brukerstotte@sykehus.example")[0] == 250
        assert client.rcpt("nobody@sykehus.example")[0] == 550
        assert client.rcpt("innsyn@sykehus.example")[0] == 250
        code, _ = client.data(incident_mail())
        assert code == 250
        assert client.getreply()[0] == 250  # the second accepted recipient's own status
    finally:
        client.close()
    d.wait_cases(1)


def test_without_a_relay_outbound_mail_lands_in_the_local_maildir(sakspost):
    d = sakspost()
    assert "outbound mail is written to the maildir" in d.log()
    d.send(incident_mail())
    (case,) = d.wait_cases(1)
    new = d.workdir / "var" / "sent" / "new"
    files = wait_until(lambda: list(new.glob("*")) if new.exists() else None, what="a mail in var/sent/new")
    assert case["id"] in files[0].read_text(encoding="utf-8", errors="replace")
