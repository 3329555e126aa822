"""What an incident report documents, read from the reporter's own words.

Decides which of the required details a report gives: what happened (the description), when
(`Tidspunkt:`, `Når:`, `Oppdaget:`), where (`Sted:`, `Tjeneste:`, `System:`, `Hvor:`), which
actor (`Aktør:`, `Virksomhet:`, else the actor whose addresses share the sender's domain, else
this organisation), severity A–D (`Alvorlighetsgrad: B`, `Severity: B`, `Prioritet: A`, in the
subject or body) and a contact (`Kontakt:`, `Tlf:`, `Telefon:`, `Mobil:`). English labels work
too. Quoted text of earlier mails is ignored, so a reply only fills in what it says itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..pii import find_identity_numbers
from ..pipeline.quoted import own_text

SEVERITIES = ("A", "B", "C", "D")
ESCALATE = ("A", "B")

_SEVERITY = re.compile(
    r"(?:alvorlighetsgrad|alvorlighet|severity|prioritet|priority|prio)\s*[:=]?\s*([A-Da-d])(?![\w-])",
    re.IGNORECASE,
)
_LABELS = {
    "discovered": ("tidspunkt", "når", "naar", "oppdaget", "dato", "tid", "when", "time", "discovered"),
    "service": ("sted", "tjeneste", "system", "hvor", "gateway", "xca-gateway", "where", "service", "location"),
    "actor": ("aktør", "aktor", "virksomhet", "organisasjon", "actor", "organisation", "organization"),
    "contact": ("kontakt", "kontaktperson", "tlf", "telefon", "mobil", "contact", "phone", "telephone"),
}
_LABEL_LINE = re.compile(r"^\s*\**\s*([A-Za-zÆØÅæøå][\wÆØÅæøå -]{0,30}?)\s*\**\s*[:=]\s*\**\s*(.+?)\s*$")
_SIGNATURE = re.compile(r"^\s*(med vennlig hilsen|vennlig hilsen|mvh|hilsen|best regards|regards)\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<!\d)(?:\+47[ ]?)?(?:\d{2}[ ]?\d{2}[ ]?\d{2}[ ]?\d{2}|\d{3}[ ]?\d{2}[ ]?\d{3})(?!\d)")


@dataclass
class ReportFields:
    description: str = ""
    discovered: str = ""
    service: str = ""
    actor: str = ""
    severity: str = ""
    contact: str = ""
    extra: dict = field(default_factory=dict)

    def missing(self, require_actor: bool = True) -> list[str]:
        need = ["description", "discovered", "service", "severity", "contact"]
        if require_actor:
            need.insert(3, "actor")
        return [name for name in need if not getattr(self, name)]


def severity_in(*texts: str) -> str:
    for text in texts:
        m = _SEVERITY.search(text or "")
        if m:
            return m.group(1).upper()
    return ""


def _labelled(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = _LABEL_LINE.match(line)
        if not m:
            continue
        label, value = m.group(1).strip().lower(), m.group(2).strip()
        for key, names in _LABELS.items():
            if label in names and key not in found and value:
                found[key] = value[:300]
    return found


def _description(text: str) -> str:
    """The report's prose: its own text without labelled lines, command lines and signature."""
    kept = []
    for line in text.splitlines():
        if _SIGNATURE.match(line):
            break
        if line.lstrip().startswith("#"):
            continue
        m = _LABEL_LINE.match(line)
        if m and any(m.group(1).strip().lower() in names for names in _LABELS.values()):
            continue
        if m and _SEVERITY.match(line.strip()):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def actor_for_sender(config, sender: str) -> str:
    """The configured actor whose addresses share SENDER's domain, else this organisation."""
    domain = sender.rpartition("@")[2].lower()
    if domain:
        for actor in config.actor:
            if domain in actor.domains():
                return actor.id
    return config.identity.actor


def actor_by_name(config, value: str) -> str:
    value_l = value.lower()
    for actor in config.actor:
        if actor.id.lower() == value_l or actor.name.lower() == value_l or actor.name.lower() in value_l:
            return actor.id
    return ""


@dataclass(frozen=True)
class Documented:
    """What a mail's own words document, before the configuration is asked (which actor):
    `read_report` takes it from here. Pure and registry-free, so the parse helper works it out
    for every message beside parsing it (it took a tenth of the pipeline's time per report)."""

    description: str
    discovered: str
    service: str
    severity: str
    contact: str
    actor_label: str  # an `Aktør:` line as written, "" if none


def document(subject: str, text: str) -> Documented:
    own = own_text(text)
    labelled = _labelled(own)
    contact = labelled.get("contact", "")
    if not contact:
        for m in _PHONE.finditer(own):
            if not find_identity_numbers(m.group(0)):
                contact = m.group(0)
                break
    return Documented(description=_description(own), discovered=labelled.get("discovered", ""),
                      service=labelled.get("service", ""), severity=severity_in(subject, own),
                      contact=contact, actor_label=labelled.get("actor", ""))


def read_report(config, subject: str, text: str, sender: str, *, infer: bool = True,
                documented: Documented | None = None) -> ReportFields:
    """The details a mail gives. With INFER, the actor and contact may come from the sender.
    DOCUMENTED is `document(subject, text)` when it has been worked out already."""
    d = documented or document(subject, text)
    fields = ReportFields(description=d.description, discovered=d.discovered, service=d.service,
                          severity=d.severity, contact=d.contact)
    if d.actor_label:
        fields.actor = actor_by_name(config, d.actor_label) or d.actor_label
    elif infer:
        fields.actor = actor_for_sender(config, sender)
    return fields
