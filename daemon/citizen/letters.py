"""Letters to citizens, which go by post: the answer, the extension of its deadline, the referral.

Decides which letter a case needs (`default_kind`), what it says and its layout on an A4 page.
The words are Jinja2 templates (`letter_answer.txt`, `letter_extension.txt`,
`letter_referral.txt` in `templates/nb/`), rendered by the same renderer as the mails; fpdf2
lays them out with this organisation as sender (`[citizen].letter_address`), the citizen's name
and postal address where a window envelope shows it, the case number and date, the legal basis
of the form, and, where the answer refuses, the right to complain to the Statsforvalter. The
letter carries what no mail may: the handler's reasons for an extension or a refusal. It never
prints the identity number (the case number finds the case). DejaVu Sans (Debian's
`fonts-dejavu-core`) is used where it is installed; else a core font, whose Latin-1 has æøå.
A letter that was posted is kept on its case (`keep`).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date
from pathlib import Path

from sqlmodel import Session

from ..registry import cases, store
from ..registry.models import Case, CitizenForm
from .deadlines import NotAllowed, nb_date, title
from .forms import pdf_text

KINDS = ("answer", "extension", "referral")

#: The law a citizen's form is answered under, as the letter names it.
LEGAL_BASIS = {
    "copy_of_record": "pasient- og brukerrettighetsloven § 5-1 og personvernforordningen artikkel 15",
    "access_log": "pasientjournalloven § 18 og personvernforordningen artikkel 15",
    "blocking": "pasientjournalloven § 17 og helsepersonelloven § 25",
    "correction": "pasient- og brukerrettighetsloven § 5-2, helsepersonelloven §§ 42–44 og "
                  "personvernforordningen artikkel 16",
    "lookup_question": "pasientjournalloven § 18 og personvernforordningen artikkel 15",
}
EXTENSION_BASIS = "personvernforordningen artikkel 12 nr. 3"
GENERAL_BASIS = "personvernforordningen artikkel 12"

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
MARGIN_MM = 25
WINDOW_TOP_MM = 50  # where a C5 window envelope shows the recipient
SHORT_LINE = 50  # a paragraph of lines all shorter than this keeps its line breaks


def default_kind(case: Case, form: CitizenForm) -> str:
    """The letter a case needs now: the referral of a blocking request the source has not
    confirmed, the extension while one is pending, else the answer."""
    if form.answered_on or form.refused:
        return "answer"
    if form.extension_months:
        return "extension"
    if case.form_type == "blocking" and form.source_confirmed_at is None:
        return "referral"
    return "answer"


def _address_lines(address: str) -> list[str]:
    return [part.strip() for part in address.replace("\n", ",").split(",") if part.strip()]


def context(config, case: Case, form: CitizenForm, kind: str, *, text: str, today_: date) -> dict:
    """What the letter templates are given. NotAllowed without the citizen's postal address."""
    if kind not in KINDS:
        raise NotAllowed(f"ukjent brevtype {kind!r} ({', '.join(KINDS)})")
    if kind == "extension" and not form.extension_months:
        raise NotAllowed("fristen er ikke forlenget; et brev om forlengelse passer ikke")
    address = _address_lines(form.address)
    if not address:
        raise NotAllowed("skjemaet mangler innbyggerens postadresse; fyll den inn med "
                         "sakspost forms complete ID --field address=...")
    sender = [line.strip() for line in config.citizen.letter_address.splitlines() if line.strip()]
    return {
        "case": case, "kind": kind, "title": title(case.form_type), "text": text.strip(),
        "name": form.name or "", "address": address, "sender": sender or [config.identity.name],
        "date": nb_date(today_), "received": nb_date(case.received_at), "deadline": nb_date(case.deadline),
        "legal_basis": EXTENSION_BASIS if kind == "extension" else LEGAL_BASIS.get(case.form_type, GENERAL_BASIS),
        "refused": bool(form.refused), "reason": form.refusal_reason,
        "statsforvalter_notice": bool(form.statsforvalter_notice),
        "extension_months": form.extension_months, "extension_reason": form.extension_reason,
        "confirmation": form.source_confirmation, "period": form.period, "institution": form.institution,
        "guidance_phone": config.citizen.guidance_phone, "form_type": case.form_type,
    }


def render(rt, case: Case, form: CitizenForm, kind: str, *, text: str = "", today_: date) -> tuple[str, str, dict]:
    """(heading, body, context) of the letter KIND for CASE."""
    values = context(rt.config, case, form, kind, text=text, today_=today_)
    if kind == "answer" and values["refused"] and not (values["reason"] and values["statsforvalter_notice"]):
        raise NotAllowed("et avslag krever en begrunnelse (#avslag BEGRUNNELSE) og at brevet opplyser om "
                         "klageretten (#klagerett) før brevet kan skrives")
    heading, body, _ = rt.renderer.render(f"letter_{kind}", values)
    return heading, body, values


def _fonts(pdf) -> str:
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    if regular.is_file() and bold.is_file():
        pdf.add_font("letter", "", str(regular))
        pdf.add_font("letter", "B", str(bold))
        return "letter"
    return "helvetica"


def pdf(heading: str, body: str, values: dict) -> bytes:
    """The letter laid out on A4 pages, as PDF bytes."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # it logs each font subset at INFO

    case_id = values["case"].id

    class Letter(FPDF):
        def footer(self) -> None:
            self.set_y(-15)
            self.set_font(family, "", 8)
            self.cell(0, 5, f"Saksnummer {case_id} · side {self.page_no()}/{{nb}}", align="C")

    doc = Letter(format="A4", unit="mm")
    family = _fonts(doc)
    latin = family == "helvetica"

    def clean(text: str) -> str:  # a section sign stays with its number; the core fonts have Latin-1 only
        text = text.replace("§ ", "§\u00a0")
        if not latin:
            return text
        text = text.replace("–", "-").replace("·", "-").replace("«", '"').replace("»", '"')
        return text.encode("latin-1", "replace").decode("latin-1")
    doc.set_title(clean(heading))
    doc.set_creator("sakspost")
    doc.set_margins(MARGIN_MM, 20, 20)
    doc.set_auto_page_break(True, margin=22)
    doc.add_page()
    line = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}
    doc.set_font(family, "B", 11)
    doc.cell(0, 5, clean(values["sender"][0]), **line)
    doc.set_font(family, "", 9)
    for text in values["sender"][1:]:
        doc.cell(0, 4.5, clean(text), **line)
    doc.set_xy(MARGIN_MM, WINDOW_TOP_MM)
    doc.set_font(family, "", 11)
    for text in [values["name"], *values["address"]]:
        if text:
            doc.cell(90, 5.5, clean(text), **line)
    doc.set_font(family, "", 9)
    for i, (label, value) in enumerate((("Vår referanse", case_id), ("Henvendelsen mottatt", values["received"]),
                                        ("Dato", values["date"]))):
        doc.set_xy(125, WINDOW_TOP_MM + i * 5)
        doc.cell(0, 5, clean(f"{label}: {value}"))
    doc.set_xy(MARGIN_MM, WINDOW_TOP_MM + 40)
    doc.set_font(family, "B", 13)
    doc.multi_cell(0, 6.5, clean(heading), **line)
    doc.ln(4)
    doc.set_font(family, "", 11)
    for paragraph in body.strip().split("\n\n"):
        doc.multi_cell(0, 5.5, clean(_flow(paragraph)), align="L", **line)
        doc.ln(3)
    return bytes(doc.output())


def _flow(paragraph: str) -> str:
    """A paragraph's lines joined to flow, unless it is a block of short lines (a greeting)."""
    lines = [line.strip() for line in paragraph.strip().splitlines()]
    if all(len(line) < SHORT_LINE for line in lines):
        return "\n".join(lines)
    return " ".join(" ".join(lines).split())


def write(rt, case: Case, form: CitizenForm, kind: str | None, *, text: str = "", today_: date) -> tuple[str, bytes]:
    """(the kind written, PDF bytes) of the letter for CASE; KIND None: `default_kind`."""
    kind = kind or default_kind(case, form)
    heading, body, values = render(rt, case, form, kind, text=text, today_=today_)
    return kind, pdf(heading, body, values)


def keep(session: Session, case: Case, data: bytes, filename: str, *, who: str) -> None:
    """Keep the letter that was posted (a PDF) on CASE, with its text, in its audit trail."""
    if not data.startswith(b"%PDF-"):
        raise NotAllowed(f"{filename}: ikke en PDF")
    identity = b"letter:" + case.id.encode() + b"\0" + hashlib.sha256(data).digest()
    if store.find_document(session, identity) is not None:
        raise NotAllowed(f"{filename}: dette brevet er allerede lagt på saken")
    message = store.record_document(session, data, identity=identity, source="letter",
                                    subject=f"Brev per post: {title(case.form_type)}", text=pdf_text(data),
                                    filename=filename, content_type="application/pdf")
    message.direction, message.classification = "out", "letter"
    cases.attach_message(session, case, message, who=who, action="letter_kept", detail={"file": filename})
