"""Read a citizen's form from a mail or a scan: its type, its fields and what it lacks.

:func:`read_form` puts together form detection (:mod:`.detect`), field reading
(:mod:`.fields`) and the completeness rules (:mod:`.completeness`) for a mail with attachments:
the text of text and PDF attachments (read by `daemon/attachments.py`, as for every
workflow) is read like the body. The names
of those modules are re-exported here, the citizen workflow's one entry to form reading.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .. import attachments
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

def pdf_text(data: bytes) -> str:
    """The text of a PDF, or ``""`` if it cannot be read: read as every attachment is
    (`daemon/attachments.py`: all of it, in a child process under limits)."""
    return attachments.pdf_text(bytes(data or b"")).text if data else ""


def attachment_text(filename: str, content_type: str, data: bytes) -> str:
    """The text of a text or PDF attachment (`daemon/attachments.py`); ``""`` for anything else."""
    got = attachments.extract(filename or "", content_type or "", data or b"")
    return got.text if got.kind in ("text", "pdf") else ""


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
