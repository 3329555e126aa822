"""The text of an attachment (daemon.attachments): every encoding, every part of a PDF, read in
full within bounds or reported as not read."""

from __future__ import annotations

import codecs

import pytest
from pdfs import make_pdf

from daemon import attachments

FNR = "31129956715"
TEXT = f"Logg fra Tromsø: oppslag feilet for {FNR} på Ålesund sykehus\n"


@pytest.mark.parametrize("data", [
    TEXT.encode("utf-8"), codecs.BOM_UTF8 + TEXT.encode("utf-8"), TEXT.encode("utf-16"), TEXT.encode("utf-16-le"),
    TEXT.encode("utf-16-be"), TEXT.encode("utf-32"), TEXT.encode("utf-32-le"), TEXT.encode("utf-32-be"),
    TEXT.encode("cp1252"), TEXT.encode("latin-1"),
], ids=["utf-8", "utf-8-bom", "utf-16-bom", "utf-16-le", "utf-16-be", "utf-32-bom", "utf-32-le", "utf-32-be",
        "cp1252", "latin-1"])
def test_every_encoding_reads_back_every_character(data):
    got = attachments.extract("logg.txt", "text/plain", data)
    assert got.kind == "text" and got.complete
    assert got.text == TEXT and "\ufffd" not in got.text


def test_cp1252_only_characters_are_kept():
    text = "Pasientjournal – «oppslag» feilet … 25 € 'å'"
    assert attachments.decode_text(text.encode("cp1252")) == text


@pytest.mark.parametrize("name,ctype", [("a.log", "application/octet-stream"), ("a.csv", "text/csv"),
                                        ("a.json", "application/json"), ("a.xml", "application/xml"),
                                        ("a.html", "text/html"), ("", "application/octet-stream")])
def test_text_bearing_types_are_text(name, ctype):
    assert attachments.kind_of(name, ctype, TEXT.encode()) == "text"


def test_binaries_are_not_text():
    assert attachments.kind_of("bilde.png", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00") == "binary"
    got = attachments.extract("arkiv.zip", "application/zip", b"PK\x03\x04\x00\x00")
    assert got.kind == "binary" and not got.complete


@pytest.mark.parametrize("where", [
    dict(pages=55, text_on={51: f"Side 51: fnr {FNR}"}),
    dict(title=f"Journal {FNR}"),
    dict(field=("fodselsnummer", FNR)),
    dict(annotation=f"Merknad: {FNR}"),
])
def test_a_pdf_is_read_in_every_part(where):
    got = attachments.extract("rapport.pdf", "application/pdf", make_pdf(**where))
    assert got.kind == "pdf" and got.complete, got.reason
    assert FNR in got.text


def test_a_pdf_not_read_within_the_time_is_incomplete(monkeypatch):
    monkeypatch.setattr(attachments, "PDF_SECONDS", 0.001)
    got = attachments.extract("rapport.pdf", "application/pdf", make_pdf())
    assert got.kind == "pdf" and not got.complete and "not read within" in got.reason


def test_a_broken_pdf_is_incomplete():
    got = attachments.extract("rapport.pdf", "application/pdf", b"%PDF-1.4\nnot really")
    assert got.kind == "pdf" and not got.complete


def test_a_forwarded_mail_is_read_in_every_part():
    from email.message import EmailMessage
    inner = EmailMessage()
    inner["Subject"] = "Videresendt"
    inner.set_content(f"fnr {FNR}\n", cte="quoted-printable")
    inner.add_attachment(TEXT.encode("utf-16"), maintype="text", subtype="plain", filename="l.txt")
    got = attachments.extract("fwd.eml", "message/rfc822", inner.as_bytes())
    assert got.kind == "mail" and got.complete
    assert got.text.count(FNR) == 2
