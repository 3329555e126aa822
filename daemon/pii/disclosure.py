"""What one mail to another organisation may carry, and the true account of what was taken out.

Decides, for a mail to NHN, another actor or a vendor: which words of each text are replaced
(identity numbers by ``[fnr fjernet]``; patient names, birth dates, diagnoses and diagnosis
codes by `MARKER`), which attachments go (text ones scrubbed the same way; PDFs and forwarded
mail only when their whole text is clean) and which are withheld and named, the footer that
says what was removed ("2 fødselsnumre og 1 diagnose er fjernet; originalen finnes i saken hos
oss", nothing when nothing was), and the audit detail (kind, count, where; never the text).

A `Disclosure` is made per mail: `learn` first reads every text, so that a patient's name found
in one place ("Pasient: Ola Nordmann") is removed everywhere (the subject included); `scrub`
then rewrites each text. The reporter's own name and contact are kept (`keep`).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass

from .. import attachments as extraction
from .disguises import DEFAULT_REPLACEMENT, identity_number_spans
from .health import Finding, find_health_data

MARKER = "[pasientopplysning fjernet]"
KINDS = {  # kind: (one, several), in the order the footer names them
    "fnr": ("fødselsnummer", "fødselsnumre"),
    "name": ("pasientnavn", "pasientnavn"),
    "birth_date": ("fødselsdato", "fødselsdatoer"),
    "diagnosis": ("diagnose", "diagnoser"),
    "diagnosis_code": ("diagnosekode", "diagnosekoder"),
}
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Shared:
    """An attachment as it is sent: the renderer reads these three attributes."""

    filename: str
    content_type: str
    data: bytes


def summary(counts: Counter) -> str:
    """The footer's sentence for COUNTS, or "" when nothing was removed."""
    parts = [f"{counts[k]} {KINDS[k][counts[k] != 1]}" for k in KINDS if counts.get(k)]
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " og " + parts[-1]
    return f"{listed} er fjernet; originalen finnes i saken hos oss."


class Disclosure:
    def __init__(self, keep=(), *, health: bool = True):
        self.keep = tuple(k.strip() for k in keep if k and k.strip())
        self.health = health
        self.names: set[str] = set()
        self.counts: Counter = Counter()
        self.where: dict[str, Counter] = {}
        self.withheld: list[str] = []
        self.withheld_reasons: dict[str, str] = {}

    def learn(self, *texts: str) -> None:
        """Read TEXTS for patients' names, so that `scrub` removes them wherever they appear."""
        if self.health:
            for text in texts:
                find_health_data(text or "", keep=self.keep, learned=self.names)

    def findings(self, text: str) -> list[Finding]:
        numbers = [Finding(s, e, "fnr") for s, e, _ in identity_number_spans(text)]
        if not self.health:
            return numbers
        health = [f for f in find_health_data(text, keep=self.keep, known_names=self.names)
                  if not any(f.start < n.end and n.start < f.end for n in numbers)]
        return sorted(numbers + health, key=lambda f: f.start)

    def scrub(self, text: str | None, where: str, *, health: bool = True) -> str:
        """TEXT with what may not leave replaced (identity numbers only unless HEALTH); each
        replacement is counted under WHERE."""
        if not text:
            return text or ""
        found = self.findings(text)
        if not health:
            found = [f for f in found if f.kind == "fnr"]
        if not found:
            return text
        parts, pos = [], 0
        for f in found:
            parts += [text[pos:f.start], DEFAULT_REPLACEMENT if f.kind == "fnr" else MARKER]
            pos = f.end
        parts.append(text[pos:])
        counted = Counter(f.kind for f in found)
        self.counts.update(counted)
        self.where.setdefault(where, Counter()).update(counted)
        return "".join(parts)

    def attachment(self, att, got: extraction.Extracted | None = None) -> Shared | None:
        """ATT as it may be sent, or None (and its name in `withheld`) if it may not go."""
        name = self.scrub(att.filename or "", "vedleggsnavn") or att.content_type or "vedlegg"
        got = got or extraction.extract(att.filename or "", att.content_type or "", att.data)
        if not got.complete:
            return self._withhold(name, got.reason or "not read in full")
        if got.kind == "text":
            text = self.scrub(got.text, f"vedlegg {name}")
            if self._residue(text, att.content_type or "", name):
                return self._withhold(name, "patient data in markup")
            ctype = (att.content_type or "").split(";")[0].strip().lower()
            if not (ctype.startswith("text/") or ctype in extraction.TEXT_TYPES or ctype.endswith(("+json", "+xml"))):
                ctype = "text/plain"  # a log sent as application/octet-stream is sent as what it is
            return Shared(name, ctype, text.encode("utf-8"))
        if self.findings(got.text):  # a PDF or a mail cannot be rewritten: it stays here
            return self._withhold(name, "holds patient data")
        return Shared(name, att.content_type or "application/octet-stream", bytes(att.data))

    def _residue(self, text: str, content_type: str, name: str) -> bool:
        """True if the text of markup (tags dropped, references decoded) still holds patient data."""
        if "html" not in content_type and "xml" not in content_type and not name.lower().endswith(
                (".html", ".htm", ".xml", ".xhtml")):
            return False
        return bool(self.findings(html.unescape(_TAG.sub(" ", text))))

    def _withhold(self, name: str, reason: str) -> None:
        self.withheld.append(name)
        self.withheld_reasons[name] = reason
        return None

    def attachments(self, items) -> list[Shared]:
        """The ITEMS that may be sent, as they are sent; names found in any are removed from all."""
        read = [(att, extraction.extract(att.filename or "", att.content_type or "", att.data)) for att in items]
        self.learn(*(got.text for _, got in read))
        return [shared for shared in (self.attachment(att, got) for att, got in read) if shared is not None]

    @property
    def footer(self) -> str:
        return summary(self.counts)

    def audit_detail(self, purpose: str) -> dict | None:
        """The audit event's detail (kind, count, where; never the text), or None if nothing was removed."""
        if not self.counts and not self.withheld:
            return None
        return {"purpose": purpose, "removed": dict(self.counts),
                "where": {w: dict(c) for w, c in self.where.items()},
                "withheld": [{"attachment": n, "reason": self.withheld_reasons[n]} for n in self.withheld]}


class ScrubbedCase:
    """A case as a template to another organisation sees it: its free-text fields scrubbed when
    the template reads them, once, so that what is counted is what the mail would have said."""

    FIELDS = ("subject", "description", "discovered", "service", "resolution")

    def __init__(self, case, disclosure: Disclosure):
        self._case = case
        self._disclosure = disclosure

    def __getattr__(self, name):
        value = getattr(self._case, name)
        if name in self.FIELDS:
            value = self._disclosure.scrub(value, name)
        elif name == "contact":  # the reporter's own contact: only identity numbers go
            value = self._disclosure.scrub(value, name, health=False)
        else:
            return value
        setattr(self, name, value)
        return value


class Footer:
    """The footer's sentence as the template reaches it, after the text above it was scrubbed."""

    def __init__(self, disclosure: Disclosure):
        self._disclosure = disclosure

    def __bool__(self) -> bool:
        return bool(self._disclosure.counts)

    def __str__(self) -> str:
        return self._disclosure.footer


def prepare(case, *, texts: dict[str, str] | None = None, attachments=()):
    """(the case as it is shown, TEXTS scrubbed, the attachments that go, the Disclosure) for one
    mail about CASE to another organisation. Every text and attachment is read for patients'
    names before any is scrubbed; the reporter's name and contact are kept."""
    disclosure = Disclosure(keep=(case.reporter_name, case.contact, case.reporter))
    texts = texts or {}
    disclosure.learn(*(getattr(case, f, "") or "" for f in ScrubbedCase.FIELDS), *texts.values())
    shared = disclosure.attachments(attachments)
    view = ScrubbedCase(case, disclosure)
    return view, {k: disclosure.scrub(v, k) for k, v in texts.items()}, shared, disclosure
