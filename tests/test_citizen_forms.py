"""Tests for daemon.citizen.forms. Identity numbers are the documented synthetic examples."""

import io

import pytest
from pypdf import PdfReader

from conftest import minimal_pdf

from daemon.citizen import forms
from daemon.citizen.forms import detect_form_type, extract_fields, missing_fields, pdf_text, read_form

FNR = "31129956715"
DNR = "71129956709"
HNR = "31429956679"


# --- detection -------------------------------------------------------------------------------

SUBJECTS = {
    "copy_of_record": [
        "Kopi av pasientjournal",
        "Innsyn i pasientjournal",
        "Be om kopi av journal",
        "SV: Kopi av journal",
        "Jeg ønsker kopi av journalen min",
    ],
    "access_log": [
        "Tilgangslogg",
        "Innsyn i logg",
        "Innsyn i tilgangslogg",
        "Hvem har sett journalen min?",
        "Logg over oppslag",
    ],
    "blocking": [
        "Sperring",
        "Sperre tilgang",
        "Sperring av journal",
        "Sperre dokumentdeling",
        "Reservasjon mot deling",
        "[Helsenorge] Skjema: Sperring",
    ],
    "correction": [
        "Endring eller retting",
        "Endring/retting",
        "Retting av journal",
        "Retting",
        "Sletting av opplysninger i journalen",
    ],
    "lookup_question": [
        "Spørsmål om oppslag",
        "Spørsmål om innsyn i oppslag",
        "Spørsmål om logg",
        "Fwd: Spørsmål om oppslag i journalen min",
    ],
}


@pytest.mark.parametrize(
    "form_type,subject", [(t, s) for t, subjects in SUBJECTS.items() for s in subjects]
)
def test_detect_by_subject(form_type, subject):
    assert detect_form_type(subject, "Hei,\nse under.\n") == form_type


@pytest.mark.parametrize(
    "form_type,subject",
    [
        ("lookup_question", "Sporsmal om oppslag"),
        ("lookup_question", "Spoersmaal om oppslag"),
        ("lookup_question", "SPORSMAL OM INNSYN I OPPSLAG"),
        ("access_log", "innsyn i tilgangslogg"),
        ("copy_of_record", "KOPI AV PASIENTJOURNAL"),
        ("blocking", "sperring av journal"),
        ("correction", "endring eller retting"),
    ],
)
def test_detect_without_norwegian_letters_and_case(form_type, subject):
    assert detect_form_type(subject, "") == form_type


HEADINGS = {
    "copy_of_record": "Skjema: Kopi av pasientjournal",
    "access_log": "# Innsyn i tilgangslogg",
    "blocking": "**Skjema:** Sperring",
    "correction": "Endring eller retting av journal",
    "lookup_question": "Skjematype: Sporsmal om oppslag",
}


@pytest.mark.parametrize("form_type,heading", HEADINGS.items())
def test_detect_by_heading(form_type, heading):
    body = f"\n\n{heading}\n\nNavn: Kari Nordmann\nFødselsnummer: {FNR}\n"
    assert detect_form_type("Skjema fra Helsenorge", body) == form_type
    assert detect_form_type("", body) == form_type


def test_heading_after_a_few_lines_still_counts():
    body = "Helsenorge\nInnsendt skjema\n\nDato: 01.02.2025\nSkjema: Sperring\nNavn: Kari\n"
    assert detect_form_type("", body) == "blocking"


def test_heading_beyond_first_five_lines_does_not_count():
    body = "a\nb\nc\nd\ne\nSkjema: Sperring\n"
    assert detect_form_type("", body) is None


def test_incident_report_mentioning_tilgangslogg_is_not_a_form():
    body = (
        "Hei,\n\n"
        "Etter oppgraderingen i natt får flere brukere feilmelding ved innlogging i EPJ.\n\n"
        "Vi har sjekket nettverket og sertifikatene uten å finne noe galt.\n\n"
        "I tilgangslogg ser vi at oppslagene registreres, men innsyn i tilgangslogg og "
        "kopi av pasientjournal fra portalen feiler også med samme kode.\n\n"
        "Mvh\nDrift\n"
    )
    assert detect_form_type("Feil ved innlogging i EPJ etter oppgradering", body) is None
    reading = read_form("Feil ved innlogging i EPJ etter oppgradering", body, [])
    assert reading.form_type is None and not reading.complete


@pytest.mark.parametrize(
    "subject",
    [
        "Sperring av brukerkonto",
        "Tilgangslogg viser feil tidspunkt",
        "Retting av feil i integrasjonen",
        "Sperre tilgang til journalsystemet for sluttet ansatt",
        "Endring i journalsystem",
        "Logg",
        "Kvittering",
    ],
)
def test_support_subjects_are_not_forms(subject):
    assert detect_form_type(subject, "Hei, se vedlagt skjermbilde.\n") is None


def test_long_prose_first_line_is_not_a_heading():
    body = (
        "Vi opplever at funksjonen for kopi av pasientjournal i portalen henger i flere "
        "minutter før den gir feilmelding til brukerne våre.\n"
    )
    assert detect_form_type("Treghet", body) is None


# --- fields ----------------------------------------------------------------------------------

FORM_BODY = """Skjema: Endring eller retting

**Navn:** Kari Nordmann
  Fødselsnummer:\t311299 56715
Adresse: Storgata 1
Postnummer: 0155
Poststed: Oslo
Tlf.: +47 22 33 44 55
E-post: kari@example.no
Helseforetak: Oslo universitetssykehus
Tidsrom: 2019–2021
Hva gjelder henvendelsen?: Det står feil diagnose i epikrisen.
Den ble skrevet etter innleggelsen i mars.
Merk: jeg har aldri hatt astma.

Jeg ber om at dette rettes.

Signatur: Kari
"""


def test_extract_fields():
    fields = extract_fields(FORM_BODY)
    assert fields == {
        "name": "Kari Nordmann",
        "identity_number": FNR,
        "address": "Storgata 1, 0155 Oslo",
        "phone": "+47 22 33 44 55",
        "email": "kari@example.no",
        "institution": "Oslo universitetssykehus",
        "period": "2019–2021",
        "free_text": (
            "Det står feil diagnose i epikrisen.\n"
            "Den ble skrevet etter innleggelsen i mars.\n"
            "Merk: jeg har aldri hatt astma.\n"
            "\n"
            "Jeg ber om at dette rettes."
        ),
    }


@pytest.mark.parametrize(
    "label,key,value,expected",
    [
        ("Fullt navn", "name", "Ola Nordmann", "Ola Nordmann"),
        ("Fnr", "identity_number", FNR, FNR),
        ("Personnummer", "identity_number", "311299-56715", FNR),
        ("D-nummer", "identity_number", DNR, DNR),
        ("Fødselsnummer / D-nummer", "identity_number", HNR, HNR),
        ("Fodselsnummer (11 siffer)", "identity_number", FNR, FNR),
        ("Postadresse", "address", "Postboks 12", "Postboks 12"),
        ("Mobil", "phone", "99 88 77 66", "99 88 77 66"),
        ("Telefon", "phone", "22334455", "22334455"),
        ("Epost", "email", "a@example.no", "a@example.no"),
        ("E-mail", "email", "<a@example.no>", "a@example.no"),
        ("Institusjon", "institution", "X", "X"),
        ("Sykehus", "institution", "Haukeland", "Haukeland"),
        ("Behandlingssted", "institution", "Legevakta", "Legevakta"),
        ("Virksomhet", "institution", "Fastlege", "Fastlege"),
        ("Periode", "period", "2020", "2020"),
        ("Tidspunkt", "period", "01.02.2024 kl. 10:30", "01.02.2024 kl. 10:30"),
        ("Beskrivelse", "free_text", "tekst", "tekst"),
        ("Melding", "free_text", "tekst", "tekst"),
        ("Fritekst", "free_text", "tekst", "tekst"),
        ("Begrunnelse", "free_text", "tekst", "tekst"),
        ("Hva gjelder henvendelsen", "free_text", "tekst", "tekst"),
    ],
)
def test_label_variants(label, key, value, expected):
    assert extract_fields(f"{label}: {value}\n")[key] == expected


def test_label_formatting_tolerance():
    text = "  **Navn**: Per\n\t- __Tlf__: 123\n* **E-post:** per@example.no\nFNR.:  " + FNR + "\n"
    fields = extract_fields(text)
    assert fields["name"] == "Per"
    assert fields["phone"] == "123"
    assert fields["email"] == "per@example.no"
    assert fields["identity_number"] == FNR


def test_tab_separated_known_labels():
    fields = extract_fields(f"Navn\tPer Hansen\nFødselsnummer\t{FNR}\n")
    assert fields == {"name": "Per Hansen", "identity_number": FNR}


def test_value_on_next_line_and_multiline_address():
    text = "Navn:\nKari Nordmann\nAdresse:\nStorgata 1\n0155 Oslo\n\nBeskrivelse:\nHei\nigjen\n"
    fields = extract_fields(text)
    assert fields["name"] == "Kari Nordmann"
    assert fields["address"] == "Storgata 1, 0155 Oslo"
    assert fields["free_text"] == "Hei\nigjen"


def test_free_text_ends_at_blank_line_followed_by_any_label():
    text = "Begrunnelse: linje en\nlinje to\n\nUkjent felt: noe\nmer tekst\n"
    assert extract_fields(text)["free_text"] == "linje en\nlinje to"


def test_free_text_ends_at_sign_off():
    text = "Melding: Jeg vil ha kopi.\nTakk.\n\nMed vennlig hilsen\nKari\n"
    assert extract_fields(text)["free_text"] == "Jeg vil ha kopi.\nTakk."


def test_several_free_text_fields_joined():
    text = "Beskrivelse: A\nBegrunnelse: B\n"
    assert extract_fields(text)["free_text"] == "A\n\nB"


def test_invalid_identity_number_kept_apart():
    fields = extract_fields("Fødselsnummer: 31129956716\n")
    assert "identity_number" not in fields
    assert fields["identity_number_invalid"] == "31129956716"


def test_postal_place_without_street():
    fields = extract_fields("Postnummer og sted: 0155 Oslo\n")
    assert "address" not in fields
    assert fields["postal_code"] == "0155" and fields["city"] == "Oslo"


def test_first_and_last_name_and_period_parts():
    fields = extract_fields("Fornavn: Kari\nEtternavn: Nordmann\nFra dato: 2019\nTil dato: 2021\n")
    assert fields["name"] == "Kari Nordmann"
    assert fields["period"] == "2019 – 2021"


def test_times_and_urls_are_not_labels():
    text = "Beskrivelse: Det skjedde\nkl 10:30 i går\nhttps://example.no/x\n"
    assert extract_fields(text)["free_text"] == "Det skjedde\nkl 10:30 i går\nhttps://example.no/x"


def test_first_value_wins():
    assert extract_fields("Navn: A\nNavn: B\n")["name"] == "A"


# --- missing fields --------------------------------------------------------------------------

COMPLETE = {"name": "Kari", "identity_number": FNR, "address": "Storgata 1, 0155 Oslo"}


@pytest.mark.parametrize("form_type", ["copy_of_record", "access_log", "blocking"])
def test_missing_basic_forms(form_type):
    assert missing_fields(form_type, COMPLETE) == []
    assert missing_fields(form_type, {}) == ["name", "identity_number", "address"]
    assert missing_fields(form_type, {"name": "  ", "identity_number_invalid": "123"}) == [
        "name",
        "identity_number",
        "address",
    ]


def test_missing_correction_wants_free_text():
    assert missing_fields("correction", COMPLETE) == ["free_text"]
    assert missing_fields("correction", {**COMPLETE, "free_text": "x"}) == []


def test_missing_lookup_question():
    assert missing_fields("lookup_question", COMPLETE) == ["free_text", "period_or_institution"]
    assert missing_fields("lookup_question", {**COMPLETE, "free_text": "x", "period": "2020"}) == []
    assert missing_fields("lookup_question", {**COMPLETE, "free_text": "x", "institution": "X"}) == []


def test_missing_unknown_type_uses_base_set():
    assert missing_fields(None, {"name": "x"}) == ["identity_number", "address"]


# --- PDF and read_form -----------------------------------------------------------------------

PDF_LINES = [
    "Skjema: Kopi av pasientjournal",
    "Navn: Kari Nordmann",
    "Fødselsnummer: 311299 56715",
    "Adresse: Storgata 1",
    "Postnummer: 0155",
    "Poststed: Oslo",
    "Periode: 2018-2020",
]


def test_minimal_pdf_is_valid_for_pypdf():
    data = minimal_pdf(PDF_LINES)
    reader = PdfReader(io.BytesIO(data), strict=True)
    assert len(reader.pages) == 1
    assert "Fødselsnummer: 311299 56715" in reader.pages[0].extract_text()


def test_pdf_text():
    text = pdf_text(minimal_pdf(PDF_LINES))
    assert text.splitlines()[:2] == ["Skjema: Kopi av pasientjournal", "Navn: Kari Nordmann"]


@pytest.mark.parametrize(
    "data",
    [b"", b"not a pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", minimal_pdf(["x"])[:120], b"\x00" * 1000],
)
def test_broken_pdf_gives_empty_string(data):
    assert pdf_text(data) == ""


def test_read_form_with_pdf_attachment():
    reading = read_form(
        "Skjema fra innbygger",
        "Hei,\n\nSe vedlagt skjema.\n\nTelefon: 99887766\n",
        [
            ("bilde.png", "image/png", b"\x89PNG\r\n"),
            ("skjema.pdf", "application/pdf", minimal_pdf(PDF_LINES)),
        ],
    )
    assert reading.form_type == "copy_of_record"
    assert reading.fields == {
        "phone": "99887766",
        "name": "Kari Nordmann",
        "identity_number": FNR,
        "address": "Storgata 1, 0155 Oslo",
        "period": "2018-2020",
    }
    assert reading.missing == []
    assert reading.complete


def test_read_form_body_wins_and_text_attachment_fills_gaps():
    body = "Skjema: Sperring\nNavn: Fra Body\n"
    attachment = f"Navn: Fra Vedlegg\nFødselsnummer: {DNR}\nAdresse: Vei 2\n0150 Oslo\n".encode("latin-1")
    reading = read_form(
        "",
        body,
        [("skjema.txt", "text/plain; charset=iso-8859-1", attachment), ("broken.pdf", "application/pdf", b"%PDF-")],
    )
    assert reading.form_type == "blocking"
    assert reading.fields["name"] == "Fra Body"
    assert reading.fields["identity_number"] == DNR
    assert reading.fields["address"] == "Vei 2, 0150 Oslo"
    assert reading.complete


def test_read_form_reports_missing():
    reading = read_form("Spørsmål om oppslag", "Navn: Kari\nFødselsnummer: 31129956716\n", [])
    assert reading.form_type == "lookup_question"
    assert reading.fields["identity_number_invalid"] == "31129956716"
    assert reading.missing == ["identity_number", "address", "free_text", "period_or_institution"]
    assert not reading.complete


def test_read_form_bare_title_in_attachment_text_is_not_enough():
    reading = read_form("Logger", "Se vedlegg", [("logg.txt", "text/plain", b"Tilgangslogg\n10:00 ok\n")])
    assert reading.form_type is None


def test_form_types_constant():
    assert set(forms.FORM_TYPES) == set(SUBJECTS)
