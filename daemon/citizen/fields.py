"""Read the fields of a citizen's form from its ``Label: value`` lines.

Decides which Norwegian labels name which field (:data:`FIELD_KEYS`), where a multi-line value
ends, how an address is put together from its parts, and which identity numbers are kept (valid
ones only; an invalid one is kept apart). See :func:`extract_fields`.
"""

from __future__ import annotations

import re

from daemon import pii

from .detect import MAX_TITLE_CHARS, fold

__all__ = ["FIELD_KEYS", "extract_fields"]

#: Canonical field keys produced by :func:`extract_fields` (besides these, ``postal_code`` and
#: ``city`` when there is no street address, and ``identity_number_invalid``).
FIELD_KEYS = (
    "name",
    "identity_number",
    "address",
    "phone",
    "email",
    "institution",
    "period",
    "free_text",
)

_FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "name": (
        "navn", "fullt navn", "fullstendig navn", "ditt navn", "pasientens navn", "pasient",
        "for og etternavn", "fornavn og etternavn", "navn pa pasient", "navn pa pasienten",
        "innsenders navn",
    ),
    "_first_name": ("fornavn",),
    "_last_name": ("etternavn",),
    "identity_number": (
        "fodselsnummer", "fnr", "fodselsnr", "personnummer", "personnr", "dnummer", "d nummer",
        "hnummer", "identitetsnummer", "fodselsnummer / dnummer", "fodselsnummer eller dnummer",
        "fodselsnummer (11 siffer)", "pasientens fodselsnummer", "ditt fodselsnummer",
    ),
    "address": (
        "adresse", "postadresse", "gateadresse", "bostedsadresse", "hjemmeadresse",
        "folkeregistrert adresse", "adresse for svar", "svaradresse", "din adresse",
    ),
    "_postal_code": ("postnummer", "postnr"),
    "_city": ("poststed", "sted"),
    "_postal_place": (
        "postnummer og sted", "postnr og sted", "postnummer / sted", "postnr / sted",
        "postnummer og poststed", "postnr og poststed", "postnummer / poststed",
        "postnr / poststed", "poststed og postnummer",
    ),
    "phone": (
        "telefon", "tlf", "mobil", "mobilnummer", "telefonnummer", "tlfnr", "mobiltelefon",
        "mobiltlf", "telefon / mobil",
    ),
    "email": ("epost", "email", "epostadresse", "emailadresse", "mail", "e post"),
    "institution": (
        "institusjon", "helseforetak", "sykehus", "behandlingssted", "virksomhet",
        "helseinstitusjon", "behandlingsinstitusjon", "virksomhetens navn", "sykehus / behandlingssted",
        "behandlingssteder", "helseforetak / sykehus", "hvilken virksomhet", "hvilket sykehus",
    ),
    "period": ("periode", "tidsrom", "tidspunkt", "tidsperiode", "dato / periode", "aktuell periode"),
    "_period_from": ("fra dato", "fra og med", "fom", "periode fra"),
    "_period_to": ("til dato", "til og med", "tom", "periode til"),
    "free_text": (
        "beskrivelse", "melding", "fritekst", "begrunnelse", "hva gjelder henvendelsen",
        "sporsmal", "kommentar", "utdyping", "tilleggsopplysninger", "hva onsker du a endre",
        "hva onsker du endret", "hva skal rettes", "hva onskes rettet", "hva gjelder det",
        "ditt sporsmal", "onsket endring", "beskriv", "merknad", "merknader", "henvendelsen",
    ),
}

# Known labels that are not fields; they end a multi-line value like a field label does.
_STRUCTURAL_LABELS = frozenset(
    (
        "skjema", "skjematype", "skjemanavn", "tittel", "emne", "gjelder", "dato", "sendt",
        "fra", "til", "kopi", "referanse", "saksnummer", "type henvendelse", "henvendelsestype",
        "henvendelse", "henvendelsen gjelder", "innsendt", "mottatt", "signatur", "vedlegg",
        "kjonn", "fodselsdato", "alder", "sent", "from", "to", "subject", "cc", "type skjema",
        "skjema gjelder", "innsendingsdato", "saksreferanse", "anmodning", "type anmodning",
        "anmodningstype", "anmodningen gjelder", "foresporsel", "type foresporsel", "mottaker", "avsender",
    )
)

_LABEL_TO_KEY: dict[str, str] = {}
for _key, _labels in _FIELD_LABELS.items():
    for _label in _labels:
        _LABEL_TO_KEY[_label] = _key
_FREE_TEXT_PREFIXES = tuple(label + " " for label in ("beskrivelse", "begrunnelse", "beskriv"))

_LABEL_LINE = re.compile(
    r"^[ \t]*+(?:[-*•>][ \t]++)?(?:\*\*|__)?[ \t]*+"
    r"(?P<label>[^\W\d_][^:\n]{0,59}?)"
    r"[ \t]*+(?:\*\*|__)?[ \t]*+[:：][ \t]*+(?P<value>.*)$"
)
_TAB_LINE = re.compile(r"^[ \t]*+(?:\*\*|__)?(?P<label>[^\W\d_][^\t\n:]{0,59}?)(?:\*\*|__)?\t+(?P<value>\S.*)$")
_LABEL_PUNCTUATION = frozenset(" \t./()-–?&'")
_POSTAL_LINE = re.compile(r"^\d{4}\s+\S")
_STOP_LINE = re.compile(
    r"^(?:med vennlig hilsen|vennlig hilsen|mvh\b|hilsen\b|sendt fra min|sent from my|--\s*$|-- |"
    r"_{3,}|-{3,}|>|(?:den|on)\b.*\b(?:skrev|wrote)\b.*:$)",
)


def _label_key(label: str) -> str | None:
    """Canonical key for a label: a field key, ``"_structural"``, or None if unknown."""
    text = fold(label)
    text = re.sub(r"\([^)]*\)", " ", text)
    text = text.replace("-", "").replace(".", "").replace("?", "").replace("*", "")
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return None
    candidates = [text]
    for splitter in (" / ", " eller "):
        if splitter in text:
            candidates.append(text.split(splitter, 1)[0].strip())
    for candidate in candidates:
        if candidate in _LABEL_TO_KEY:
            return _LABEL_TO_KEY[candidate]
        if candidate in _STRUCTURAL_LABELS:
            return "_structural"
    if text.startswith(_FREE_TEXT_PREFIXES):
        return "free_text"
    return None


def _parse_label_line(line: str) -> tuple[str, str | None, str] | None:
    """If ``line`` looks like ``Label: value``, return (raw label, key or None, value)."""
    m = _LABEL_LINE.match(line)
    if m:
        label = m.group("label").strip()
        if _label_ok(label) and len(label.split()) <= 8:
            return label, _label_key(label), _strip_markers(m.group("value"))
    m = _TAB_LINE.match(line)
    if m:
        label = m.group("label").strip()
        key = _label_key(label) if _label_ok(label) else None
        if key is not None:  # "Label<TAB>value" only for labels we know
            return label, key, _strip_markers(m.group("value"))
    return None


def _label_ok(label: str) -> bool:
    """Letters and a little punctuation only: no digits (times, dates, URLs' ports) outside a
    parenthesis such as "(11 siffer)"."""
    label = re.sub(r"\([^()]*\)", "", label).strip()
    return bool(label) and label[0].isalpha() and all(
        ch.isalpha() or ch in _LABEL_PUNCTUATION for ch in label
    )


def _strip_markers(value: str) -> str:
    """Strip whitespace and Markdown bold markers (``**``/``__``) from both ends."""
    start, end = 0, len(value)
    while True:
        while start < end and value[start].isspace():
            start += 1
        while end > start and value[end - 1].isspace():
            end -= 1
        if end - start >= 2 and value.startswith(("**", "__"), start, end):
            start += 2
        elif end - start >= 2 and value.endswith(("**", "__"), start, end):
            end -= 2
        else:
            return value[start:end]


def _is_stop_line(stripped: str) -> bool:
    return len(stripped) <= MAX_TITLE_CHARS and bool(_STOP_LINE.match(fold(stripped)))


class _Collector:
    """Collects raw values per key; the first non-empty value wins (free text accumulates)."""

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}

    def add(self, key: str, value: str) -> None:
        value = value.strip()
        if value:
            self.values.setdefault(key, []).append(value)


def _collect(text: str) -> dict[str, list[str]]:
    collector = _Collector()
    key: str | None = None  # the field being read, if any
    parts: list[str] = []
    blank_before = False

    def finish() -> None:
        nonlocal key, parts
        if key is not None and key != "_structural" and parts:
            if key == "free_text":
                collector.add(key, "\n".join(parts).strip("\n"))
            elif key == "address":
                collector.add(key, ", ".join(p.strip().rstrip(",") for p in parts))
            else:
                collector.add(key, parts[0])
        key, parts = None, []

    for raw_line in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = raw_line.strip()
        if not stripped:
            if key is not None and key != "free_text":
                finish()
            blank_before = True
            continue
        if _is_stop_line(stripped):
            finish()
            blank_before = False
            continue
        parsed = _parse_label_line(raw_line)
        if parsed is not None:
            _label, new_key, value = parsed
            if new_key is not None:
                finish()
                key = new_key
                parts = [value] if value else []
                blank_before = False
                continue
            # An unknown label ends free text only after a blank line ("Merk: ..." inside a
            # paragraph is part of it); it always ends a short field.
            if key != "free_text" or blank_before:
                finish()
                blank_before = False
                continue
        # A plain line (or unknown label inside free text).
        line = _strip_markers(stripped) if key != "free_text" else stripped
        if key == "free_text":
            if blank_before and parts:
                parts.append("")
            parts.append(line)
        elif key == "address" and (not parts or (_POSTAL_LINE.match(line) and len(parts) < 3)):
            parts.append(line)
        elif key is not None and key != "_structural" and not parts:
            parts.append(line)  # "Navn:" with the value on the next line
            finish()
        else:
            finish()
        blank_before = False
    finish()
    return collector.values


def _resolve_identity(raw_values: list[str]) -> tuple[str | None, str | None]:
    first_raw = None
    for raw in raw_values:
        number = pii.normalise_identity_number(raw)
        if number is None:
            found = pii.find_identity_numbers(raw)
            number = found[0] if len(set(found)) == 1 else None
        if number is not None:
            return number, None
        if first_raw is None:
            first_raw = raw
    return None, first_raw


def extract_fields(text: str) -> dict[str, str]:
    """Read ``Label: value`` lines of a form into canonical keys.

    Keys (see :data:`FIELD_KEYS`), with accepted Norwegian labels (case, æøå, hyphens, dots,
    bold ``**`` markers, leading spaces, list bullets and tabs are tolerated; a parenthesis in a
    label such as "Fødselsnummer (11 siffer)" is ignored; ``Label<TAB>value`` is accepted for
    known labels):

    * ``name``: Navn, Fullt navn (or Fornavn + Etternavn, joined);
    * ``identity_number``: Fødselsnummer, Fnr, Personnummer, D-nummer; normalised to 11
      digits with :mod:`daemon.pii` and only if valid. An invalid value is kept as written
      under ``identity_number_invalid`` instead;
    * ``address``: Adresse, Postadresse; followed by "Postnummer"/"Poststed" (or
      "Postnummer og sted") it becomes ``"Storgata 1, 0150 Oslo"``. A value may continue on
      following lines (``Adresse:`` alone, then the lines) and a postcode line directly after
      the street is joined. Without a street, ``postal_code`` and ``city`` are returned on
      their own and there is no ``address``;
    * ``phone``: Telefon, Tlf, Mobil; ``email``: E-post, Epost, E-mail;
    * ``institution``: Institusjon, Helseforetak, Sykehus, Behandlingssted, Virksomhet;
    * ``period``: Periode, Tidsrom, Tidspunkt (or "Fra dato" / "Til dato", joined with "–");
    * ``free_text``: Beskrivelse, Melding, Fritekst, Begrunnelse, Hva gjelder henvendelsen,
      Spørsmål... Multi-line: it continues over following lines and paragraphs until the next
      known ``Label:`` line, a blank line followed by any ``Label:`` line, or a sign-off
      ("Med vennlig hilsen", "--", a quoted reply). Several free-text fields are joined with a
      blank line.

    A short field's value is its own line (or, if empty, the next line). The first non-empty
    value of a key wins. Unknown labels are ignored.
    """
    values = _collect(text)
    fields: dict[str, str] = {}
    for key in ("name", "address", "phone", "email", "institution", "period"):
        if key in values:
            fields[key] = values[key][0]

    if "name" not in fields:
        name = " ".join(v[0] for v in (values.get("_first_name"), values.get("_last_name")) if v)
        if name:
            fields["name"] = name

    if "identity_number" in values:
        number, invalid = _resolve_identity(values["identity_number"])
        if number is not None:
            fields["identity_number"] = number
        elif invalid is not None:
            fields["identity_number_invalid"] = invalid

    postal = ""
    if "_postal_place" in values:
        postal = values["_postal_place"][0]
    else:
        postal = " ".join(v[0] for v in (values.get("_postal_code"), values.get("_city")) if v)
    if "address" in fields:
        if postal and fold(postal) not in fold(fields["address"]):
            fields["address"] = f"{fields['address'].rstrip(',')}, {postal}"
    else:
        if "_postal_place" in values:
            m = re.match(r"^(\d{4})\s*,?\s*(.*)$", postal)
            if m:
                fields["postal_code"] = m.group(1)
                if m.group(2):
                    fields["city"] = m.group(2)
            else:
                fields["city"] = postal
        else:
            if values.get("_postal_code"):
                fields["postal_code"] = values["_postal_code"][0]
            if values.get("_city"):
                fields["city"] = values["_city"][0]

    if "period" not in fields and (values.get("_period_from") or values.get("_period_to")):
        start = values.get("_period_from", [""])[0]
        end = values.get("_period_to", [""])[0]
        if start and end:
            fields["period"] = f"{start} – {end}"
        else:
            fields["period"] = f"fra {start}" if start else f"til {end}"

    if "email" in fields:
        fields["email"] = re.sub(r"^mailto:", "", fields["email"].strip("<> "), flags=re.I)

    if "free_text" in values:
        fields["free_text"] = "\n\n".join(values["free_text"])
    return fields


