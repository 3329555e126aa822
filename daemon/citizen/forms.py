"""Read a citizen's form from a mail or a scan: its type, its fields and what it lacks.

:func:`read_form` puts together form detection (:mod:`.detect`), field reading
(:mod:`.fields`) and the completeness rules (:mod:`.completeness`) for a mail with attachments:
the text of text/plain and PDF attachments (:func:`pdf_text`) is read like the body. The names
of those modules are re-exported here, the citizen workflow's one entry to form reading.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field

from .completeness import PERIOD_OR_INSTITUTION, missing_fields
from .detect import FORM_TYPES, detect, detect_form_type
from .fields import FIELD_KEYS, extract_fields

__all__ = [
    "FORM_TYPES",
    "FIELD_KEYS",
    "PERIOD_OR_INSTITUTION",
    "FormReading",
    "detect_form_type",
    "extract_fields",
    "missing_fields",
    "pdf_text",
    "read_form",
]

log = logging.getLogger(__name__)

MAX_PDF_PAGES = 50


def pdf_text(data: bytes, max_pages: int = MAX_PDF_PAGES) -> str:
    """The text of a PDF (pages joined by newlines), or ``""`` if it cannot be read.

    Never raises: broken, encrypted (without an empty user password) or hostile PDFs give
    ``""`` or the text of the pages that could be read. Only the first ``max_pages`` pages are read.
    """
    try:
        from pypdf import PdfReader
    except Exception:  # pragma: no cover - pypdf is a dependency
        log.warning("pypdf is not available; PDF attachments are not read")
        return ""
    if not data:
        return ""
    try:
        reader = PdfReader(io.BytesIO(bytes(data)), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    return ""
            except Exception:
                return ""
        texts = []
        for index, page in enumerate(reader.pages):
            if index >= max_pages:
                break
            try:
                texts.append(page.extract_text() or "")
            except Exception:  # one bad page does not spoil the others
                log.debug("pdf page %d unreadable", index, exc_info=True)
        return "\n".join(t for t in texts if t)
    except Exception:
        log.debug("pdf unreadable", exc_info=True)
        return ""


def _charset(content_type: str) -> str | None:
    m = re.search(r"charset\s*=\s*\"?([\w.:\-]+)", content_type or "", re.I)
    return m.group(1) if m else None


def _decode_text(data: bytes, content_type: str) -> str:
    charsets = [c for c in (_charset(content_type), "utf-8") if c]
    for charset in charsets:
        try:
            return bytes(data).decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return bytes(data).decode("cp1252", errors="replace")


def attachment_text(filename: str, content_type: str, data: bytes) -> str:
    """Text of a text/plain or PDF attachment; ``""`` for anything else."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    name = (filename or "").lower()
    data = data or b""
    if ctype == "application/pdf" or name.endswith(".pdf") or data[:5] == b"%PDF-":
        return pdf_text(data)
    if ctype == "text/plain" or (ctype in ("", "application/octet-stream") and name.endswith(".txt")):
        return _decode_text(data, content_type)
    return ""


@dataclass
class FormReading:
    """What :func:`read_form` found. ``complete`` is true when the form type is known and
    nothing is missing."""

    form_type: str | None
    fields: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    complete: bool = False


def read_form(
    subject: str,
    body: str,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> FormReading:
    """Read a citizen's form from a mail.

    The form type comes from the subject and body heading (:func:`detect_form_type`); if they
    say nothing, the heading of each text/plain or PDF attachment is tried, with specific
    phrases or a labelled heading ("Skjema: Sperring") only. Fields come from the body, then
    from the attachments in order; the first source to give a key wins (so the body wins).
    """
    form_type = detect_form_type(subject, body)
    fields = extract_fields(body or "")
    for filename, content_type, data in attachments or ():
        try:
            text = attachment_text(filename, content_type, data)
        except Exception:
            log.debug("attachment %r unreadable", filename, exc_info=True)
            continue
        if not text:
            continue
        if form_type is None:
            form_type = detect("", text, bare_titles_in_body=False)
        for key, value in extract_fields(text).items():
            fields.setdefault(key, value)
    if "identity_number" in fields:
        fields.pop("identity_number_invalid", None)
    if "address" in fields:
        fields.pop("postal_code", None)
        fields.pop("city", None)
    missing = missing_fields(form_type, fields)
    return FormReading(
        form_type=form_type,
        fields=fields,
        missing=missing,
        complete=form_type is not None and not missing,
    )
