"""PDFs made for the tests with fpdf2 and pypdf: pages of text, a title, a form field, an annotation."""

from __future__ import annotations

import io


def make_pdf(pages: int = 1, text_on: dict[int, str] | None = None, title: str | None = None,
             field: tuple[str, str] | None = None, annotation: str | None = None) -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.set_font("helvetica", size=11)
    for number in range(1, pages + 1):
        doc.add_page()
        doc.cell(text=(text_on or {}).get(number, f"Side {number}: oppslag mot XCA-gateway, ingen feil"))
    if title:
        doc.set_title(title)
    data = bytes(doc.output())
    if field is None and annotation is None:
        return data
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, NumberObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    page = writer.pages[0]
    if annotation is not None:
        from pypdf.annotations import FreeText
        writer.add_annotation(page_number=0, annotation=FreeText(text=annotation, rect=(50, 550, 300, 600)))
    if field is not None:
        name, value = field
        widget = DictionaryObject({
            NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/FT"): NameObject("/Tx"), NameObject("/T"): TextStringObject(name),
            NameObject("/V"): TextStringObject(value), NameObject("/F"): NumberObject(4),
            NameObject("/Rect"): ArrayObject([FloatObject(50), FloatObject(700), FloatObject(250), FloatObject(720)]),
        })
        ref = writer._add_object(widget)
        annots = page.get("/Annots")
        if annots is None:
            page[NameObject("/Annots")] = ArrayObject([ref])
        else:
            annots.get_object().append(ref)
        writer._root_object[NameObject("/AcroForm")] = DictionaryObject({NameObject("/Fields"): ArrayObject([ref])})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
