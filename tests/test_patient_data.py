"""Issue 14: the minimum necessary leaves the organisation, and what we say we removed is true.

Every disguise of an identity number is planted in a real severity-A report sent through the
receiver; nothing that reaches the relay (any header, any part, any attachment, decoded) may hold
a valid number. Reports with patient names, birth dates, diagnoses and codes (in prose, in
`Label: value` lines, in a log attachment, in the subject) reach NHN and the working group
without them, with the fault's description, time, place and the reporter's contact intact.
"""

from __future__ import annotations

import base64
import codecs
import html
import io
import json
import re
import unicodedata
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote

import pytest
from conftest import Relay, Sakspost, incident_mail, relay_config, wait_until
from pdfs import make_pdf
from test_incident import ACTORS, INTAKE, REPORTER, command

NUMBERS = ("31129956715", "71129956709", "31429956679", "02013299903")
FNR = NUMBERS[0]
GROUP = "kontakt@helse-vest.example"
REPORT = ("Hei,\n\nOppslag i pasientjournal via XCA-gatewayen feiler siden 08:15.\n{extra}\n\n"
          "Alvorlighetsgrad: A\nSted: XCA-gateway Helse Vest\nTidspunkt: 25.11.2026 kl. 08:15\n"
          "Kontakt: Kari Nordmann, tlf 55 55 55 55\n\nMed vennlig hilsen\nKari\n")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    relay = Relay().start()
    # one reporter sends every report here, each of severity A: more than [limits] lets one address
    # have in an hour, and more forwards to NHN than the global cap lets through before holding them
    limits = {"limits": {"auto_mails_per_hour": 1000, "new_cases_per_hour": 1000, "nhn_forwards_per_hour": 1000}}
    daemon = Sakspost(tmp_path_factory.mktemp("patient-data"), {**relay_config(relay), **ACTORS, **limits}).start()
    yield daemon, relay
    daemon.stop()
    relay.stop()


# -- reading what reached the relay, independently of daemon.pii ------------------------------

def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    reader = PdfReader(io.BytesIO(data))
    fields = [str(f.get("/V")) for f in (reader.get_fields() or {}).values()]
    annots = [str(a.get_object().get("/Contents")) for p in reader.pages for a in (p.get("/Annots") or [])]
    return "\n".join([*(p.extract_text() for p in reader.pages), str(reader.metadata), *fields, *annots])


def _texts(raw: bytes) -> list[str]:
    """The mail as every reader could see it: raw, each header decoded, each part decoded."""
    msg = message_from_bytes(raw, policy=policy.default)
    texts = [raw.decode("latin-1")]
    for part in msg.walk():
        texts += [f"{k}: {v}" for k, v in part.items()]
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_content_type() == "application/pdf":
            texts.append(_pdf_text(payload))
        for codec in ("utf-8", "utf-16", "utf-32", "cp1252"):
            try:
                texts.append(payload.decode(codec))
            except UnicodeDecodeError:
                pass
    return texts


def _digits(text: str) -> str:
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), html.unescape(unquote(text)))
    return "".join(c for c in unicodedata.normalize("NFKC", text) if c.isdigit())


def _base64_blobs(text: str) -> list[str]:
    out = []
    for blob in re.findall(r"[A-Za-z0-9+/]{12,}={0,2}", text):
        try:
            out.append(base64.b64decode(blob + "=" * (-len(blob) % 4)).decode("latin-1"))
        except ValueError:
            pass
    return out


def leaked_numbers(raw: bytes) -> list[str]:
    texts = _texts(raw)
    texts += [blob for text in texts[1:] for blob in _base64_blobs(text)]
    return sorted({n for text in texts for n in NUMBERS if n in _digits(text)})


def readable(mail) -> str:
    """Subject, text and every text attachment of a mail, decoded, as one string."""
    msg = mail["msg"]
    parts = [str(msg["Subject"])]
    for part in msg.walk():
        if not part.is_multipart() and part.get_content_maintype() in ("text", "application"):
            payload = part.get_payload(decode=True) or b""
            parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


def case_mails(relay, case_id: str) -> list[dict]:
    return [m for m in relay.messages if m["msg"]["X-Sakspost-Case"] == case_id]


def send_report(daemon, relay, tag: str, **mail) -> tuple[str, dict]:
    """Send a severity-A report whose subject holds TAG; (case id, the forward to NHN)."""
    mail.setdefault("body", REPORT.format(extra=""))
    mail["subject"] = f"XCA-feil {tag} {mail.get('subject', '')}".strip()
    daemon.send(incident_mail(sender=REPORTER, **mail) if "raw" not in mail else mail["raw"])
    forward = wait_until(lambda: [m for m in relay.to(INTAKE) if tag in str(m["msg"]["Subject"])],
                         timeout=30, what=f"the forward of {tag}")[0]
    case_id = forward["msg"]["X-Sakspost-Case"]
    wait_until(lambda: [m for m in relay.to(REPORTER) if m["msg"]["X-Sakspost-Case"] == case_id],
               timeout=30, what=f"the acknowledgement of {tag}")
    return case_id, forward


# -- every disguise of an identity number -------------------------------------------------------

def _qp_body(text: str) -> bytes:
    msg = incident_mail(subject="XCA-feil qp-body", sender=REPORTER, body=REPORT.format(extra="x"))
    mail = message_from_bytes(msg, policy=policy.default)
    part = mail.get_body(("plain",))
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(REPORT.format(extra=text).replace("=", "=3D").replace("=3D3", "=3").replace("\n", "\r\n"))
    return mail.as_bytes(policy=policy.SMTP)


def _base64_body(text: str) -> bytes:
    mail = message_from_bytes(incident_mail(subject="XCA-feil b64", sender=REPORTER), policy=policy.default)
    mail.get_body(("plain",)).set_content(REPORT.format(extra=text), cte="base64")
    return mail.as_bytes(policy=policy.SMTP)


def _forwarded_mail() -> bytes:
    inner = EmailMessage()
    inner["From"], inner["Subject"], inner["Date"] = "lege@sykehus.example", "Journal", formatdate()
    inner.set_content(f"Gjelder {FNR}\n", cte="quoted-printable")
    inner.add_attachment(f"fnr;{FNR}\n".encode("utf-16"), maintype="text", subtype="csv", filename="l.csv")
    return inner.as_bytes()


def _spaced(number: str, pattern: str) -> str:
    """NUMBER laid out as PATTERN, where each 'N' is the next digit."""
    digits = iter(number)
    return "".join(next(digits) if c == "N" else c for c in pattern)


FULLWIDTH = FNR.translate({ord(str(d)): 0xFF10 + d for d in range(10)})
ATTACH = lambda name, ctype, data: {"attachments": [(name, ctype, data)]}  # noqa: E731
DISGUISES = {
    "plain": {"body": REPORT.format(extra=f"Pasient {FNR}")},
    "ddmmyy-nnn-nn": {"body": REPORT.format(extra=_spaced(FNR, "NNNNNN NNN NN"))},
    "dd.mm.yy-nnnnn": {"body": REPORT.format(extra=_spaced(FNR, "NN.NN.NN NNNNN"))},
    "slash": {"body": REPORT.format(extra=_spaced(FNR, "NNNNNN/NNNNN"))},
    "two-spaces": {"body": REPORT.format(extra=_spaced(FNR, "NNNNNN  NNNNN"))},
    "tab": {"body": REPORT.format(extra=_spaced(FNR, "NNNNNN\tNNNNN"))},
    "en-dash": {"body": REPORT.format(extra=_spaced(FNR, "NNNNNN\u2013NNNNN"))},
    "narrow-nbsp": {"body": REPORT.format(extra=_spaced(FNR, "NNNNNN\u202fNNNNN"))},
    "nnnn-nnnn-nnn": {"body": REPORT.format(extra=_spaced(FNR, "NNNN NNNN NNN"))},
    "zero-width": {"body": REPORT.format(extra=_spaced(FNR, "NNNNNN\u200bNNNNN"))},
    "d-number-dots": {"body": REPORT.format(extra=_spaced(NUMBERS[1], "N.N.N.N.N.N.N.N.N.N.N"))},
    "h-number-dash": {"body": REPORT.format(extra=_spaced(NUMBERS[2], "NNN-NNN-NNN-NN"))},
    "2032-rule": {"body": REPORT.format(extra=f"fnr:{NUMBERS[3]}")},
    "full-width": {"body": REPORT.format(extra=f"fnr {FULLWIDTH}")},
    "full-width-subject": {"subject": f"pasient {FULLWIDTH}"},
    "subject": {"subject": f"pasient {_spaced(FNR, 'NNNNNN NNNNN')}"},
    "html-decimal": {"body": REPORT.format(extra="fnr " + "".join(f"&#{ord(c)};" for c in FNR))},
    "xml-hex-attachment": ATTACH("svar.xml", "application/xml",
                                 ("<p>" + "".join(f"&#x{ord(c):x};" for c in FNR) + "</p>").encode()),
    "html-attachment": ATTACH("side.html", "text/html", ("<td>" + "".join(f"&#{ord(c)};" for c in FNR)
                                                          + "</td>").encode()),
    "json-escape": ATTACH("svar.json", "application/json",
                          json.dumps({"fnr": FNR}).replace(FNR, "".join(f"\\u{ord(c):04x}" for c in FNR)).encode()),
    "json-escape-in-body": {"body": REPORT.format(extra="".join(f"\\u{ord(c):04x}" for c in FNR))},
    "url-escape": {"body": REPORT.format(extra="https://x.example/?p=" + "".join(f"%{ord(c):02X}" for c in FNR))},
    "utf-16-bom": ATTACH("logg.txt", "text/plain", f"fnr {FNR}\n".encode("utf-16")),
    "utf-16-no-bom": ATTACH("logg.txt", "text/plain", f"fnr {FNR} oppslag\n".encode("utf-16-le")),
    "utf-32-bom": ATTACH("logg.txt", "text/plain", f"fnr {FNR}\n".encode("utf-32")),
    "utf-32-be-no-bom": ATTACH("logg.txt", "text/plain", f"fnr {FNR} oppslag\n".encode("utf-32-be")),
    "utf-8-bom": ATTACH("logg.txt", "text/plain", codecs.BOM_UTF8 + f"fnr {FNR}\n".encode()),
    "cp1252": ATTACH("logg.txt", "text/plain", f"Tromsø – fnr {FNR}\n".encode("cp1252")),
    "log-octet-stream": ATTACH("gateway.log", "application/octet-stream", f"08:15 patient={FNR}\n".encode()),
    "csv": ATTACH("liste.csv", "text/csv", f"navn;fnr\nx;{_spaced(FNR, 'NNNNNN-NNNNN')}\n".encode()),
    "base64-inside-text": ATTACH("dump.txt", "text/plain", b"token=MzExMjk5NTY3MTU=\n"),
    "pdf-page-51": ATTACH("rapport.pdf", "application/pdf", make_pdf(pages=55, text_on={51: f"fnr {FNR}"})),
    "pdf-title": ATTACH("rapport.pdf", "application/pdf", make_pdf(title=f"Journal {FNR}")),
    "pdf-form-field": ATTACH("skjema.pdf", "application/pdf", make_pdf(field=("fnr", FNR))),
    "pdf-annotation": ATTACH("rapport.pdf", "application/pdf", make_pdf(annotation=f"fnr {FNR}")),
    "forwarded-mail": ATTACH("videresendt.eml", "message/rfc822", _forwarded_mail()),
    "filename": ATTACH(f"logg-{FNR}.txt", "text/plain", b"ingen persondata\n"),
    "qp-body": {"raw": _qp_body("fnr =33=31=31=32=39=39=35=36=37=31=35 og 311299=\n56715 og 3112=\n99 56715")},
    "base64-body": {"raw": _base64_body(f"fnr {FNR}")},
    "message-id": {"message_id": f"<{FNR}.1@sykehus.example>"},
}


@pytest.mark.parametrize("disguise", DISGUISES.values(), ids=DISGUISES.keys())
def test_no_identity_number_reaches_the_relay_in_any_disguise(stack, disguise, request):
    daemon, relay = stack
    tag = request.node.callspec.id
    mail = dict(disguise)
    if "raw" in mail:
        mail["raw"] = re.sub(rb"Subject: [^\r\n]*", f"Subject: XCA-feil {tag}".encode(), mail["raw"], count=1)
    case_id, forward = send_report(daemon, relay, tag, **mail)
    sent = case_mails(relay, case_id)
    assert len(sent) >= 2
    for message in sent:
        assert leaked_numbers(message["raw"]) == [], (tag, message["msg"]["Subject"])
    assert "Kari Nordmann, tlf 55 55 55 55" in readable(forward)


def test_a_cp1252_attachment_keeps_its_characters(stack):
    daemon, relay = stack
    text = "08:15 Oppslag fra Tromsø – «Ålesund» feilet\n"
    _, forward = send_report(daemon, relay, "cp1252-chars", attachments=[("logg.txt", "text/plain",
                                                                           text.encode("cp1252"))])
    (log,) = [p for p in forward["msg"].iter_attachments() if p.get_filename() == "logg.txt"]
    assert log.get_content() == text


def test_an_unreadable_attachment_is_withheld_and_named(stack):
    daemon, relay = stack
    _, forward = send_report(daemon, relay, "withheld", attachments=[
        ("skadet.pdf", "application/pdf", b"%PDF-1.4\nikke en pdf"), ("bilde.png", "image/png", b"\x89PNG....")])
    assert [p.get_filename() for p in forward["msg"].iter_attachments()] == []
    text = forward["msg"].get_body(("plain",)).get_content()
    assert "skadet.pdf" in text and "bilde.png" in text and "sikker kanal" in text


# -- health data beyond identity numbers ---------------------------------------------------------

HEALTH_BODY = REPORT.format(extra=(
    "Det gjelder pasient Ola Nordmann (f. 01.01.1980), som har HIV-infeksjon (ICD-10 B24).\n"
    "Navn: Per Hansen\nFødselsdato: 02.03.1975\nDiagnose: diabetes type 2\nICD-10: E11.9"))
HEALTH_LOG = ("2026-11-25 08:15:01 ERROR xca lookup failed patient=\"Lise Berg\" dob=1990-05-17 dx=F32.1\n"
              "2026-11-25 08:15:02 INFO retry scheduled\n")
PATIENT_DATA = ["Ola Nordmann", "01.01.1980", "HIV", "B24", "Per Hansen", "02.03.1975", "diabetes", "E11.9",
                "Lise Berg", "1990-05-17", "F32.1", "Siri Dahl", "1965", "depresjon", "Ola"]


def test_patient_data_reaches_neither_nhn_nor_the_working_group(stack):
    daemon, relay = stack
    case_id, forward = send_report(daemon, relay, "helse", subject="for Siri Dahl f. 1965 med depresjon",
                                   body=HEALTH_BODY, attachments=[("gateway.log", "text/plain", HEALTH_LOG.encode())])
    command(daemon, case_id, "#medlem helse-vest")
    wait_until(lambda: daemon.case(case_id)["working_group"] and len(daemon.case(case_id)["working_group"]) >= 2,
               what="helse-vest in the group")
    command(daemon, case_id, "#status Pasient Ola Nordmann får fortsatt ikke hentet journal; vi feilsøker")
    wait_until(lambda: relay.to(GROUP), timeout=20, what="the status to the working group")
    command(daemon, case_id, "#lukk")
    wait_until(lambda: [m for m in relay.to(GROUP) if "Lukket" in str(m["msg"]["Subject"])], timeout=20,
               what="the closure notice to the working group")
    outside = [m for m in case_mails(relay, case_id) if {INTAKE, GROUP} & set(m["rcpt_tos"])]
    assert len(outside) >= 3
    for mail in outside:
        text = readable(mail)
        found = [p for p in PATIENT_DATA if re.search(rf"(?<!\w){re.escape(p)}(?!\w)", text)]
        assert found == [], (mail["msg"]["Subject"], found)
        assert "[pasientopplysning fjernet]" in text
    forward_text = readable(forward)
    for kept in ("Oppslag i pasientjournal via XCA-gatewayen feiler siden 08:15", "25.11.2026 kl. 08:15",
                 "XCA-gateway Helse Vest", "Kari Nordmann, tlf 55 55 55 55", "xca lookup failed", "INFO retry"):
        assert kept in forward_text, kept
    assert "er fjernet; originalen finnes i saken hos oss" in forward_text

    audit = json.loads(daemon.cli("cases", "export", case_id, "--format", "json").stdout)["audit"]
    removals = [e for e in audit if e["action"] == "patient_data_removed"]
    assert removals and all(not [p for p in PATIENT_DATA if p in json.dumps(e, ensure_ascii=False)] for e in removals)
    detail = removals[0]["detail"]
    detail = json.loads(detail) if isinstance(detail, str) else detail
    assert detail["purpose"] == "nhn_forward" and detail["removed"]["name"] >= 3
    assert any(w.startswith("vedlegg") for w in detail["where"])
    assert "Ola Nordmann" in daemon.cli("cases", "show", case_id).stdout.decode()  # the original stays here


def test_the_footer_counts_what_was_removed_and_nothing_else(stack):
    daemon, relay = stack
    _, forward = send_report(daemon, relay, "telling", body=REPORT.format(
        extra=f"Gjelder fnr {NUMBERS[0]} og {NUMBERS[1]}, den ene med HIV."))
    text = forward["msg"].get_body(("plain",)).get_content()
    assert "2 fødselsnumre og 1 diagnose er fjernet; originalen finnes i saken hos oss" in text
    _, clean = send_report(daemon, relay, "ren")
    text = clean["msg"].get_body(("plain",)).get_content()
    assert "fjernet" not in text and "Sensitive opplysninger" not in text
