"""Bounded work, off the hot path (issue 15): what costs time or memory in one message (an
attachment that takes long to read, a header built to be slow to parse, deep nesting) is bounded
and done where it cannot stop receiving, and the message itself still goes through."""

from __future__ import annotations

import smtplib
import sqlite3
import threading
import time
import zlib
from pathlib import Path

from conftest import Relay, incident_mail, pdf_file, relay_config, wait_until
from test_incident import ACTORS, INTAKE


def pdf_bomb(pages: int = 50, text_bytes: int = 8_000_000) -> bytes:
    """A small PDF whose PAGES share one content stream that inflates to TEXT_BYTES of text
    operators: a reader that extracts the text of every page works for minutes."""
    line = b"BT /F1 12 Tf 72 712 Td (Feil i XCA) Tj ET\n"
    content = zlib.compress(line * (text_bytes // len(line)), 9)
    kids = b" ".join(b"%d 0 R" % (5 + n) for n in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
    ] + [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
         b"/Contents 4 0 R >>"] * pages
    return pdf_file(objects)


def _reading_a_pdf() -> bool:
    """Is a PDF being read (the daemon's reader process, `python -m daemon.attachments`)?"""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"daemon.attachments" in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


def _seconds_to_250(port: int, raw: bytes, sender: str) -> float:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        started = time.monotonic()
        client.sendmail(sender, ["brukerstotte@sykehus.example"], raw)
        return time.monotonic() - started


A_REPORT = ("Hei,\n\nOppslag i pasientjournal via XCA-gatewayen feiler siden 08:15. Rapport vedlagt.\n\n"
            "Alvorlighetsgrad: A\nSted: XCA-gateway Helse Vest\nTidspunkt: 25.11.2026 kl. 08:15\n"
            "Kontakt: Kari Nordmann, tlf 55 55 55 55\n")


def test_a_pdf_bomb_stops_nobody_and_its_report_still_goes_to_nhn(sakspost, relay: Relay):
    bomb = pdf_bomb()
    assert len(bomb) < 64_000
    d = sakspost({**relay_config(relay), **ACTORS})
    # a severity A report: its attachment is read for patient data before it goes to NHN
    d.send(incident_mail(subject="Rapport med tung PDF", message_id="<bomb@sykehus.example>", body=A_REPORT,
                         attachments=[("rapport.pdf", "application/pdf", bomb)]))
    wait_until(_reading_a_pdf, 30, what="the daemon reading the PDF")
    waited = _seconds_to_250(d.port, incident_mail(subject="Samtidig melding", message_id="<beside@sykehus.example>",
                                                   sender="per@sykehus.example"), "per@sykehus.example")
    assert waited < 2, f"a sender waited {waited:.1f} s for its 250 while a PDF was read"
    cases = {c["subject"]: c for c in d.wait_cases(2, timeout=60)}
    assert set(cases) == {"Rapport med tung PDF", "Samtidig melding"}
    forward = wait_until(lambda: relay.to(INTAKE), 60, what="the forward to NHN")[0]
    assert "rapport.pdf" in forward["msg"].get_body(("plain",)).get_content()  # named, withheld
    assert not any(part.get_filename() == "rapport.pdf" for part in forward["msg"].iter_attachments())


HEAD = (b"From: Kari Nordmann <kari.nordmann@sykehus.example>\r\nTo: brukerstotte@sykehus.example\r\n"
        b"Date: Wed, 02 Dec 2026 10:00:00 +0100\r\n")


def _comma_mail(commas: int) -> bytes:
    """A To: header of COMMAS commas, folded into lines of 990 (a line of SMTP holds 1000)."""
    folded = b"\r\n ".join(b"," * 990 for _ in range(commas // 990))
    return (HEAD.replace(b"To: brukerstotte@sykehus.example", b"To: brukerstotte@sykehus.example" + folded)
            + b"Subject: Komma-bombe\r\nMessage-ID: <commas-%d@sykehus.example>\r\n\r\n" % commas
            + b"Oppslag i XCA feiler.\r\n")


def test_a_header_of_97000_commas_stops_nobody_and_is_read(sakspost):
    d = sakspost()
    for commas in (97_000, 397_000):
        sending = threading.Thread(target=d.send, args=(_comma_mail(commas),))
        sending.start()
        waited = _seconds_to_250(d.port, incident_mail(subject=f"Ved siden av {commas}", sender="per@sykehus.example",
                                                       message_id=f"<beside-{commas}@sykehus.example>"),
                                 "per@sykehus.example")
        sending.join(60)
        assert waited < 2, f"a sender waited {waited:.1f} s for its 250 beside {commas} commas"
    subjects = [c["subject"] for c in d.wait_cases(4, timeout=10)]  # read in bounded time
    assert subjects.count("Komma-bombe") == 2
    assert "Ved siden av 97000" in subjects and "Ved siden av 397000" in subjects


def test_mime_nested_1000_deep_is_classified_from_its_headers(sakspost):
    body = b"Content-Type: text/plain\r\n\r\nOppslag i XCA feiler.\r\n"
    for level in range(1000):
        body = (b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (level, level) + body
                + b"\r\n--b%d--\r\n" % level)
    d = sakspost()
    d.send(HEAD + b"Subject: Dypt nestet\r\nMessage-ID: <deep@sykehus.example>\r\nMIME-Version: 1.0\r\n" + body)
    (case,) = d.wait_cases(1)
    assert case["subject"] == "Dypt nestet"
    assert d.stats()["messages"].get("failed", 0) == 0


def test_garbage_8bit_in_from_neither_fails_the_mail_nor_retries_a_reply(sakspost):
    d = sakspost()
    d.send(b"From: Kj\xe6re \xff\xfe <k\xe5re\xff@sykehus.example>\r\nTo: brukerstotte@sykehus.example\r\n"
           b"Subject: Feil i XCA\r\nMessage-ID: <garbage-from@sykehus.example>\r\n\r\n"
           b"Oppslag i XCA feiler siden 08:15.\r\n")
    (case,) = d.wait_cases(1)
    time.sleep(2)  # the sender's next rounds
    db = sqlite3.connect(d.db_path)
    assert db.execute("select count(*) from outboxmail where attempts > 1").fetchone() == (0,)
    assert db.execute("select count(*) from message where direction = 'in' and status = 'failed'").fetchone() == (0,)
    assert "Traceback" not in d.log()
