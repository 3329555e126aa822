"""Tell which of the five citizens' forms a mail is, from its subject and its heading.

The five forms (the titles of the process description, and the English identifiers):

``copy_of_record``   "Forespørsel om kopi av pasientjournal" (also "Kopi av pasientjournal",
                     "Innsyn i pasientjournal", "Be om kopi av journal").
``access_log``       "Forespørsel om tilgangslogg" (also "Tilgangslogg", "Innsyn i logg",
                     "Innsynslogg", "Journallogg", "Hvem har sett journalen", "Logg over oppslag").
``blocking``         "Forespørsel om sperring av pasientjournal" (also "Sperring", "Sperre tilgang",
                     "Sperre dokumentdeling", "Reservasjon mot deling / kjernejournal").
``correction``       "Forespørsel om endring i pasientjournal" (also "Endring eller retting",
                     "Retting av journal", "Sletting av opplysninger i journalen").
``lookup_question``  "Spørsmål om oppslag i pasientjournal" (also "Spørsmål om oppslag",
                     "Spørsmål om innsyn i oppslag", "Spørsmål om logg").

A title counts with or without its lead-in ("Forespørsel om", "Anmodning om", "Søknad om"), which
marks a line as a heading the way a label ("Skjema:", "Gjelder:") does. Detection looks only at
the subject and the form's heading region: the first five non-empty lines of the body, and of
those only heading-like lines (a labelled heading such as ``Skjema: Sperring``, a Markdown
heading, or a short line of at most ten words). Prose further down never counts, so an incident
report that mentions "tilgangslogg" in its third paragraph is not a form. Two kinds of phrase:

* *specific* phrases ("kopi av pasientjournal", "innsyn i tilgangslogg", "sperre
  dokumentdeling"...) count anywhere in the subject or a heading line;
* *bare titles* ("Sperring", "Retting", "Tilgangslogg", "Sperre tilgang") count only when they
  are the whole title (after ``SV:``/``Fwd:``/``[tags]``/``Skjema:``/"Forespørsel om" and a
  trailing parenthesis are removed), because "Sperring av brukerkonto" or "Tilgangslogg viser
  feil tidspunkt" are support matters, not citizen forms.

Helsenorge's forms reach the source as a request form: a heading "Anmodningsskjema" among the
first lines, and the form's title in a labelled line further down ("Anmodning:", "Type
anmodning:", "Forespørsel:", "Skjema:", "Gjelder:"), within its first forty non-empty lines.

Matching is case-insensitive and tolerant of missing æøå: text and patterns are folded the same
way (æ→ae, ø→o, å→a, then aa→a, oe→o), so "Sporsmal", "Spoersmaal" and "Spørsmål" are equal.
When several forms match one line the order of :data:`FORM_TYPES` decides (the most specific
first: a question about a lookup, the access log, blocking, correction, a copy of the record).
"""

from __future__ import annotations

import io
import re
import unicodedata

__all__ = ["FORM_TYPES", "MAX_TITLE_CHARS", "detect", "detect_form_type", "fold"]

#: The five form types, in the order used to break ties.
FORM_TYPES = ("lookup_question", "access_log", "blocking", "correction", "copy_of_record")

HEADING_LINES = 5  # non-empty body lines that make up the heading region
_MAX_HEADING_WORDS = 10

# --------------------------------------------------------------------------------------------
# Folding: case, Unicode form, and the Norwegian letters people replace when they lack them.
# --------------------------------------------------------------------------------------------

_FOLD_TABLE = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ä": "a", "ö": "o", "é": "e", "\u00a0": " "})


_SPACES = re.compile(r"\s+")
_SLASH = re.compile(r" ?/ ?")


def fold(text: str) -> str:
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
_LOGG = r"(?:tilgangs|innsyns|journal)?logg"
_NAMED_LOGG = r"(?:tilgangs|innsyns|journal)logg"

_SPECIFIC: dict[str, tuple[str, ...]] = {
    "lookup_question": (
        r"\bsporsmal (?:om|angaende|vedrorende|vedr\.?|ang\.?|til|knyttet til) "
        r"(?:et |en |mitt |mine |noen |ett )?(?:innsyn i |innsynet i )?(?:oppslag|" + _LOGG + r")",
        r"\bsporsmal om hvem som har (?:sett|lest|apnet|gjort oppslag|slatt opp)",
    ),
    "access_log": (
        r"\binnsyn i " + _LOGG,
        r"\b" + _NAMED_LOGG + r"(?:en)? (?:for|til|over|i|fra) (?:min |mi |mitt |mine )?(?:pasient)?journal",
        r"\bhvem (?:som )?har (?:sett|lest|apnet|vart inne i|slatt opp i|gjort oppslag i) " + _J,
        r"\blogg over (?:oppslag|hvem|innsyn|tilgang)",
        r"\b(?:be om|bestille|bestilling av|kopi av|utskrift av) (?:innsyn i )?" + _NAMED_LOGG,
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
    "access_log": (_NAMED_LOGG, r"innsyn i logg"),
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
    r"henvendelsen gjelder|henvendelse|type skjema|skjema gjelder|anmodningsskjema|"
    r"anmodning(?:stype|en gjelder)?|type anmodning|foresporsel(?:stype)?|type foresporsel)\s*:\s*"
)
# The lead-in of the seed's titles ("Forespørsel om tilgangslogg"): a heading, not a word of the title.
_LEAD_IN = re.compile(r"^(?:foresporsel|anmodning|soknad|begjaring|henvendelse|bestilling) (?:om|pa|av|ang\.?|vedr\.?) ")
_TRAILING_NOISE = re.compile(r"(?:\([^)]*\)|[\s.:;!?,\-–])+$")
MAX_TITLE_CHARS = 300  # longer lines are prose; also bounds the regex work per line


def _clean_title(line: str) -> tuple[str, bool]:
    """Fold and strip a subject/heading line. Returns (title, had_heading_marker)."""
    text = fold(_MARKUP.sub("", line[: MAX_TITLE_CHARS * 2]))[:MAX_TITLE_CHARS]
    marked = text.startswith("#")
    previous = None
    while previous != text:
        previous = text
        text = _LEADING_NOISE.sub("", text)
        stripped = _LEAD_IN.sub("", _HEADING_LABEL.sub("", text))
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


def detect(subject: str, body: str, *, bare_titles_in_body: bool = True) -> str | None:
    if subject:
        title, _ = _clean_title(subject)
        found = _match_title(title)
        if found:
            return found
    heading = _heading_lines(body)
    for line in heading:
        title, marked = _clean_title(line)
        if not marked and len(title.split()) > _MAX_HEADING_WORDS:
            continue  # prose, not a heading
        found = _match_title(title, allow_bare=bare_titles_in_body or marked)
        if found:
            return found
    if any(fold(line).lstrip("#* ").startswith("anmodningsskjema") for line in heading):
        return _request_form_type(body)
    return None


REQUEST_FORM_LINES = 40  # non-empty lines of a request form searched for its title
_REQUEST_LABELS = frozenset((
    "anmodning", "type anmodning", "anmodningstype", "anmodningen gjelder", "foresporsel",
    "type foresporsel", "foresporselstype", "skjema", "skjematype", "type skjema", "gjelder", "tittel",
))
_LABELLED = re.compile(r"^\s*(?:[-*•]\s+)?(?:\*\*)?([^:\n]{1,40}?)(?:\*\*)?\s*:\s*(.+)$")


def _request_form_type(body: str) -> str | None:
    """The title of a Helsenorge request form ("Anmodningsskjema"), from its labelled lines."""
    seen = 0
    for line in io.StringIO(body or "", newline=None):
        if not line.strip():
            continue
        seen += 1
        if seen > REQUEST_FORM_LINES:
            break
        m = _LABELLED.match(line[:MAX_TITLE_CHARS])
        if m and fold(m.group(1)) in _REQUEST_LABELS:
            found = _match_title(_clean_title(m.group(2))[0])
            if found:
                return found
    return None


def detect_form_type(subject: str, body: str) -> str | None:
    """Which of :data:`FORM_TYPES` the mail is, or None.

    The subject is tried first, then heading-like lines among the first five non-empty lines of
    the body. See the module docstring for the phrase rules.
    """
    return detect(subject or "", body or "")


