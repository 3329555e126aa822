"""Recognise citizens' forms about their patient record and read their fields.

Five forms exist for national document sharing; their English identifiers are

``copy_of_record``
    "Kopi av pasientjournal", "Innsyn i pasientjournal", "Be om kopi av journal".
``access_log``
    "Innsyn i tilgangslogg", "Innsyn i logg", "Hvem har sett journalen", "Logg over oppslag".
``blocking``
    "Sperring av journal", "Sperre tilgang (til journal)", "Sperre dokumentdeling",
    "Reservasjon mot deling / kjernejournal".
``correction``
    "Endring eller retting", "Retting av journal", "Sletting av opplysninger i journalen".
``lookup_question``
    "Spørsmål om oppslag", "Spørsmål om innsyn i oppslag", "Spørsmål om logg".

Detection (:func:`detect_form_type`) looks only at the subject and the form's heading region:
the first five non-empty lines of the body, and of those only heading-like lines (a labelled
heading such as ``Skjema: Sperring``, a Markdown heading, or a short line of at most ten
words). Prose further down never counts, so an incident report that mentions "tilgangslogg"
in its third paragraph is not a form. Two kinds of phrase are used:

* *specific* phrases ("kopi av pasientjournal", "innsyn i tilgangslogg", "sperre
  dokumentdeling"...) count anywhere in the subject or a heading line;
* *bare titles* ("Sperring", "Retting", "Tilgangslogg", "Sperre tilgang") count only when they
  are the whole title (after ``SV:``/``Fwd:``/``[tags]``/``Skjema:`` and a trailing
  parenthesis are removed), because "Sperring av brukerkonto" or "Tilgangslogg viser feil
  tidspunkt" are support matters, not citizen forms.

Matching is case-insensitive and tolerant of missing æøå: text and patterns are folded the same
way (æ→ae, ø→o, å→a, then aa→a, oe→o), so "Sporsmal", "Spoersmaal" and "Spørsmål" are equal.
When several forms match one line the order of :data:`FORM_TYPES` decides (the most specific
first: a question about a lookup, the access log, blocking, correction, a copy of the record).

Fields (:func:`extract_fields`) come from ``Label: value`` lines; see :data:`FIELD_KEYS` and
:func:`extract_fields` for labels, multi-line values and the identity number rules.
:func:`missing_fields` says what a form still lacks before it can be answered (answers go by
post, so a postal address is always needed), and :func:`read_form` puts it all together for a
mail with attachments (text/plain and PDF, read with :func:`pdf_text`).
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field

from daemon import pii

__all__ = [
    "FORM_TYPES",
    "FIELD_KEYS",
    "FormReading",
    "detect_form_type",
    "extract_fields",
    "missing_fields",
    "pdf_text",
    "read_form",
]

log = logging.getLogger(__name__)

#: The five form types, in the order used to break ties.
FORM_TYPES = ("lookup_question", "access_log", "blocking", "correction", "copy_of_record")

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

HEADING_LINES = 5  # non-empty body lines that make up the heading region
_MAX_HEADING_WORDS = 10

# --------------------------------------------------------------------------------------------
# Folding: case, Unicode form, and the Norwegian letters people replace when they lack them.
# --------------------------------------------------------------------------------------------

_FOLD_TABLE = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ä": "a", "ö": "o", "é": "e", "\u00a0": " "})


_SPACES = re.compile(r"\s+")
_SLASH = re.compile(r" ?/ ?")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold().translate(_FOLD_TABLE)
    text = text.replace("aa", "a").replace("oe", "o")
    text = _SPACES.sub(" ", text)
    return _SLASH.sub(" / ", text).strip()


# --------------------------------------------------------------------------------------------
# Form type patterns, written in folded spelling.
# --------------------------------------------------------------------------------------------

# "journal", "journalen", "pasientjournalen", "journalopplysninger" - but not the IT system.
_J = (
    r"(?:min |mi |mitt |mine |hans |hennes |barnets |sin |sine )?(?:pasient)?journal"
    r"(?!system|losning|leverandor|program|modul|integrasjon|server|database|tjeneste|dokument)"
)
_LOGG = r"(?:tilgangs|innsyns)?logg"

_SPECIFIC: dict[str, tuple[str, ...]] = {
    "lookup_question": (
        r"\bsporsmal (?:om|angaende|vedrorende|vedr\.?|ang\.?|til|knyttet til) "
        r"(?:et |en |mitt |mine |noen |ett )?(?:innsyn i |innsynet i )?(?:oppslag|" + _LOGG + r")",
        r"\bsporsmal om hvem som har (?:sett|lest|apnet|gjort oppslag|slatt opp)",
    ),
    "access_log": (
        r"\binnsyn i " + _LOGG,
        r"\b(?:tilgangs|innsyns)logg(?:en)? (?:for|til|over|i) (?:min |mi |mitt |mine )?(?:pasient)?journal",
        r"\bhvem (?:som )?har (?:sett|lest|apnet|vart inne i|slatt opp i|gjort oppslag i) " + _J,
        r"\blogg over (?:oppslag|hvem|innsyn|tilgang)",
        r"\b(?:be om|bestille|bestilling av|kopi av|utskrift av) (?:innsyn i )?(?:tilgangs|innsyns)logg",
    ),
    "blocking": (
        r"\bsperr(?:e|ing|ingen)(?: av| tilgang(?:en)? (?:til|i)| for)? " + _J,
        r"\bsperr(?:e|ing|ingen)(?: av)? (?:dokumentdeling|deling av (?:journal|dokument|helseopplysning))",
        r"\bsperr(?:e|ing|ingen)(?: av)?(?: tilgang(?:en)? (?:til|i))? (?:min |mine )?"
        r"(?:dokumenter|helseopplysninger|kjernejournal)",
        r"\breservasjon mot (?:dokumentdeling|deling|kjernejournal)",
    ),
    "correction": (
        r"\bendring (?:eller|og|/) (?:retting|sletting)",
        r"\bretting (?:eller|og|/) (?:sletting|endring)",
        r"\b(?:retting|endring|sletting|korrigering|rette|endre|slette|korrigere)(?: av| i)? "
        r"(?:feil (?:i |av )?)?(?:opplysning(?:er|ene)? (?:i |fra )?)?" + _J,
    ),
    "copy_of_record": (
        r"\bkopi av " + _J,
        r"\binnsyn i " + _J,
        r"\butskrift av " + _J,
        r"\bjournal(?:kopi|innsyn)",
    ),
}

# Bare titles: only when they are the whole (cleaned) title.
_BARE_TITLES: dict[str, tuple[str, ...]] = {
    "lookup_question": (r"sporsmal om (?:oppslag|logg|innsyn)",),
    "access_log": (r"(?:tilgangs|innsyns)logg", r"innsyn i logg"),
    "blocking": (
        r"sperring",
        r"sperre",
        r"sperre tilgang",
        r"sperring av tilgang",
        r"reservasjon",
        r"sperring / reservasjon",
    ),
    "correction": (
        r"retting",
        r"endring",
        r"sletting",
        r"korrigering",
        r"endring / retting",
        r"retting / sletting",
        r"retting av opplysninger",
    ),
    "copy_of_record": (r"innsyn", r"kopi", r"journalkopi", r"journalinnsyn"),
}

_SPECIFIC_RE = {t: re.compile("|".join(f"(?:{p})" for p in _SPECIFIC[t])) for t in FORM_TYPES}
_BARE_RE = {
    t: re.compile(
        r"(?:skjema(?: for| om)?\s*[:\-–]?\s*)?(?:"
        + "|".join(_BARE_TITLES[t])
        + r")(?:\s*[:\-–]?\s*skjema)?"
    )
    for t in FORM_TYPES
}

# Cleaning a subject or heading line (folded text).
_MARKUP = re.compile(r"[*_`]+")
_LEADING_NOISE = re.compile(
    r"^(?:(?:re|sv|fw|fwd|vs|aw|videresend|videresendt)\s*:\s*|\[[^\]]*\]\s*|#+\s*|[>\-•]+\s+)+"
)
_HEADING_LABEL = re.compile(
    r"^(?:skjema(?:type|navn)?|tittel|emne|gjelder|type henvendelse|henvendelsestype|"
    r"henvendelsen gjelder|henvendelse|type skjema|skjema gjelder)\s*:\s*"
)
_TRAILING_NOISE = re.compile(r"(?:\([^)]*\)|[\s.:;!?,\-–])+$")
_MAX_TITLE_CHARS = 300  # longer lines are prose; also bounds the regex work per line


def _clean_title(line: str) -> tuple[str, bool]:
    """Fold and strip a subject/heading line. Returns (title, had_heading_marker)."""
    text = _fold(_MARKUP.sub("", line[: _MAX_TITLE_CHARS * 2]))[:_MAX_TITLE_CHARS]
    marked = text.startswith("#")
    previous = None
    while previous != text:
        previous = text
        text = _LEADING_NOISE.sub("", text)
        stripped = _HEADING_LABEL.sub("", text)
        if stripped != text:
            marked = True
            text = stripped
    text = _TRAILING_NOISE.sub("", text)
    return text, marked


def _match_title(title: str, allow_bare: bool = True) -> str | None:
    if not title:
        return None
    for form_type in FORM_TYPES:
        if _SPECIFIC_RE[form_type].search(title):
            return form_type
    if allow_bare:
        for form_type in FORM_TYPES:
            if _BARE_RE[form_type].fullmatch(title):
                return form_type
    return None


def _heading_lines(body: str) -> list[str]:
    lines = []
    for line in io.StringIO(body or "", newline=None):  # lazy: bodies can be large
        if line.strip():
            lines.append(line)
            if len(lines) == HEADING_LINES:
                break
    return lines


def _detect(subject: str, body: str, *, bare_titles_in_body: bool = True) -> str | None:
    if subject:
        title, _ = _clean_title(subject)
        found = _match_title(title)
        if found:
            return found
    for line in _heading_lines(body):
        title, marked = _clean_title(line)
        if not marked and len(title.split()) > _MAX_HEADING_WORDS:
            continue  # prose, not a heading
        found = _match_title(title, allow_bare=bare_titles_in_body or marked)
        if found:
            return found
    return None


def detect_form_type(subject: str, body: str) -> str | None:
    """Which of :data:`FORM_TYPES` the mail is, or None.

    The subject is tried first, then heading-like lines among the first five non-empty lines of
    the body. See the module docstring for the phrase rules.
    """
    return _detect(subject or "", body or "")


# --------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------

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
        "skjema gjelder", "innsendingsdato", "saksreferanse",
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
    text = _fold(label)
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
    return len(stripped) <= _MAX_TITLE_CHARS and bool(_STOP_LINE.match(_fold(stripped)))


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
        if postal and _fold(postal) not in _fold(fields["address"]):
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


# --------------------------------------------------------------------------------------------
# Completeness
# --------------------------------------------------------------------------------------------

_REQUIRED_ALL = ("name", "identity_number", "address")
_REQUIRED_EXTRA: dict[str, tuple[str, ...]] = {
    "correction": ("free_text",),
    "lookup_question": ("free_text",),
}
PERIOD_OR_INSTITUTION = "period_or_institution"


def missing_fields(form_type: str | None, fields: dict[str, str]) -> list[str]:
    """What the form lacks before it can be handled, as field keys, in a stable order.

    * Every form (and an unrecognised one): ``name``, a valid ``identity_number`` (to find the
      record) and a postal ``address`` (the answer goes by post; identity numbers and health
      information are never sent by e-mail).
    * ``correction``: also ``free_text``: what is wrong and what it should say.
    * ``lookup_question``: also ``free_text`` (the question) and something to find the lookup
      by: a ``period`` or an ``institution``, reported as the pseudo-key
      ``"period_or_institution"`` when both are absent.
    * ``copy_of_record``, ``access_log`` and ``blocking`` need nothing more: without a period
      or institution they cover the whole record / log / all sharing, which is what a citizen
      asking without limits is entitled to.
    """
    def present(key: str) -> bool:
        return bool((fields.get(key) or "").strip())

    wanted = list(_REQUIRED_ALL) + list(_REQUIRED_EXTRA.get(form_type or "", ()))
    missing = [key for key in wanted if not present(key)]
    if form_type == "lookup_question" and not (present("period") or present("institution")):
        missing.append(PERIOD_OR_INSTITUTION)
    return missing


# --------------------------------------------------------------------------------------------
# Attachments and the whole mail
# --------------------------------------------------------------------------------------------

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
            form_type = _detect("", text, bare_titles_in_body=False)
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
