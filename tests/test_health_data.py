"""The rules that find patient data in text (daemon.pii.health, .disguises, .disclosure), one by one.
The end-to-end checks through the daemon are in test_patient_data.py."""

from __future__ import annotations

import pytest

from daemon import pii
from daemon.pii import disclosure
from daemon.pii.health import find_health_data

FNR = "31129956715"


def found(text: str, **kw) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start:f.end]) for f in find_health_data(text, **kw)]


@pytest.mark.parametrize("text,expected", [
    ("Pasient Ola Nordmann (f. 01.01.1980) har HIV-infeksjon.",
     [("name", "Ola Nordmann"), ("birth_date", "01.01.1980"), ("diagnosis", "HIV-infeksjon")]),
    ("pasienten Kari Berg, født 1. januar 1970", [("name", "Kari Berg"), ("birth_date", "1. januar 1970")]),
    ("Navn: Per Hansen\nFødselsdato: 1980-01-01\nDiagnose: diabetes type 2\nICD-10: E11.9",
     [("name", "Per Hansen"), ("birth_date", "1980-01-01"), ("diagnosis", "diabetes type 2"),
      ("diagnosis_code", "E11.9")]),
    ('ERROR patient="Lise Berg" dob=1990-05-17 dx=F32.1 service=xca',
     [("name", "Lise Berg"), ("birth_date", "1990-05-17"), ("diagnosis", "F32.1")]),
    ("Ola Nordmann har brystkreft", [("name", "Ola Nordmann"), ("diagnosis", "brystkreft")]),
    ("Kodet som P76 (ICPC-2) og F32.1", [("diagnosis_code", "P76"), ("diagnosis_code", "F32.1")]),
    ("Liv Dahl (01.01.80) ringte", [("name", "Liv Dahl"), ("birth_date", "01.01.80")]),
])
def test_patient_data_is_found(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize("text", [
    "Oppslag i pasientjournal via XCA-gatewayen feiler siden 08:15.",
    "Tidspunkt: 25.11.2026 kl. 08:15\nSted: XCA-gateway Helse Vest\nKontakt: Kari Nordmann, tlf 55 55 55 55",
    "Driftsforstyrrelse og strømsvikt i systemet A10, rom B12, versjon 2.1.3.",
    "Periode: 01.04.2016 - 04.05.2024",
    "Pasienten fikk ikke hentet journalen. Diagnose: ukjent",
])
def test_the_fault_itself_is_not_patient_data(text):
    assert found(text) == []


def test_the_reporters_own_name_is_kept_and_a_patients_name_is_found_everywhere():
    d = disclosure.Disclosure(keep=["Kari Nordmann", "Kari Nordmann, tlf 55 55 55 55"])
    d.learn("Pasient: Ola Nordmann", "Ola Nordmann mangler i listen")
    assert d.scrub("Feil for Ola Nordmann, meldt av Kari Nordmann", "subject") == (
        "Feil for [pasientopplysning fjernet], meldt av Kari Nordmann")
    assert d.counts == {"name": 1} and d.where == {"subject": {"name": 1}}


@pytest.mark.parametrize("counts,sentence", [
    ({}, ""),
    ({"fnr": 2, "diagnosis": 1}, "2 fødselsnumre og 1 diagnose er fjernet; originalen finnes i saken hos oss."),
    ({"fnr": 1}, "1 fødselsnummer er fjernet; originalen finnes i saken hos oss."),
    ({"name": 2, "birth_date": 1, "diagnosis_code": 3},
     "2 pasientnavn, 1 fødselsdato og 3 diagnosekoder er fjernet; originalen finnes i saken hos oss."),
])
def test_the_footer_says_what_was_removed(counts, sentence):
    from collections import Counter
    assert disclosure.summary(Counter(counts)) == sentence


@pytest.mark.parametrize("text", [
    "311299 567 15", "31.12.99 56715", "311299/56715", "311299  56715", "311299\t56715", "311299\u201356715",
    "311299\u202f56715", "3112 9956 715", "３１１２９９５６７１５", "³¹¹²⁹⁹⁵⁶⁷¹⁵",
    "".join(f"&#{ord(c)};" for c in FNR), "".join(f"&#x{ord(c):x};" for c in FNR),
    "".join(f"\\u{ord(c):04x}" for c in FNR), "".join(f"\\x{ord(c):02x}" for c in FNR), "311299&nbsp;56715",
    "311299=\r\n56715", "=33=31=31=32=39=39=35=36=37=31=35", "%33%31%31%32%39%39%35%36%37%31%35",
    "MzExMjk5NTY3MTU=", "311299\u00ad56715",
])
def test_an_identity_number_is_found_in_every_disguise(text):
    redacted = pii.redact_identity_numbers(f"fnr {text} slutt")
    assert redacted == "fnr [fnr fjernet] slutt"


def test_a_message_id_header_loses_its_number():
    assert pii.redact_identity_numbers("<31129956715.abc@sykehus.example> <x@y>") == (
        "<[fnr fjernet].abc@sykehus.example> <x@y>")


def test_numbers_that_are_not_identity_numbers_stay():
    text = "Tlf 55 55 55 55, ordre 12345678901, kl 08:15 den 25.11.2026, sak SAK-2026-000042"
    assert pii.redact_identity_numbers(text) == text


def test_every_character_with_a_digit_value_is_folded():
    import sys
    import unicodedata

    from daemon.pii.disguises import fold_digits
    digits = [chr(i) for i in range(0x80, sys.maxunicode + 1) if unicodedata.digit(chr(i), None) is not None]
    assert fold_digits("".join(digits)) == "".join(str(unicodedata.digit(c)) for c in digits)


def test_a_kept_name_keeps_only_its_own_words():
    text = "Pasient: Ola, meldt av Nikolai Berg (Pasient: Nikolai Berg er ikke pasient)"
    assert found(text, keep=["nikolai.berg@sykehus.example"]) == [("name", "Ola")]


def test_attachments_go_scrubbed_or_are_withheld():
    from types import SimpleNamespace as Att

    from pdfs import make_pdf
    d = disclosure.Disclosure(keep=["Kari Nordmann"])
    shared = d.attachments([
        Att(filename="gateway.log", content_type="application/octet-stream",
            data="08:15 oppslag feilet, pasient=Ola Nordmann, Tromsø\n".encode("cp1252")),
        Att(filename="ren.pdf", content_type="application/pdf", data=make_pdf()),
        Att(filename="journal.pdf", content_type="application/pdf",
            data=make_pdf(text_on={1: "Pasient Ola Nordmann har diabetes"})),
    ])
    assert [(s.filename, s.content_type) for s in shared] == [("gateway.log", "text/plain"),
                                                              ("ren.pdf", "application/pdf")]
    assert shared[0].data.decode() == "08:15 oppslag feilet, pasient=[pasientopplysning fjernet], Tromsø\n"
    assert d.withheld == ["journal.pdf"]
    assert d.audit_detail("nhn_forward")["withheld"] == [{"attachment": "journal.pdf", "reason": "holds patient data"}]
