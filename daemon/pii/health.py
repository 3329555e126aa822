"""Norwegian health data in free text: who the patient is and what is wrong with them.

Decides which parts of a text name a patient, give a birth date, or state a diagnosis, so that
mail to other organisations can carry the fault without the patient. A small rule engine with
the word lists in `words.py` (shipped with the package, nothing downloaded); each finding is a
span and a kind:

* ``name``: a patient's name in context: after "Pasient", "pas.", "Navn:", "patient=" and the
  like, beside a birth date ("Ola Nordmann (f. 01.01.1980)") or beside a diagnosis
  ("Ola Nordmann har diabetes"); a name found once is found everywhere else in the mail
  (`PatientNames`). Names the caller keeps (the reporter's own) are never findings;
* ``birth_date``: a date after "f.", "født", "fødselsdato", "dob" and the like, or any full
  date more than `OLD_DATE_YEARS` years back (a fault is reported within days, not decades);
* ``diagnosis``: a diagnosis from the word list or a compound of a medical stem
  ("HIV-infeksjon", "brystkreft"), and the value of a diagnosis label ("Diagnose: …");
* ``diagnosis_code``: ICD-10 codes with a decimal (`F32.1`) anywhere; codes without one (`B24`)
  and ICPC-2 codes (`P76`) only near "ICD", "ICPC", "diagnose", "kode", a diagnosis or its label.

Labels are read in `Label: value` lines and in `key=value` log fields, with the value running to
the end of the line, the next field, or a `,`/`;`/`|`/`(`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from . import words

OLD_DATE_YEARS = 10

_NAME_WORD = r"[A-ZÆØÅÄÖÜÉ][a-zæøåäöüéèáóíú'’]+(?:-[A-ZÆØÅ][a-zæøåäöüéèáó]+)?"
_NAME = rf"{_NAME_WORD}(?:[ \t]+(?:(?:von|van|de|af|da|di|le|la)[ \t]+)?{_NAME_WORD}){{0,3}}"
_MONTHS = "|".join(words.MONTHS)
_DATE = (r"(?:\d{1,2}\.\s?\d{1,2}\.\s?(?:\d{4}|\d{2})(?!\d)|(?:19|20)\d{2}-\d{2}-\d{2}"
         r"|\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})(?!\d)"
         rf"|\d{{1,2}}\.?\s+(?i:{_MONTHS})\.?\s+\d{{4}})")
_BIRTH_WORDS = r"f\.|født|fødd|fødselsdato|f\.\s?dato|fdato|f\.d\.|dob|birth[_ ]?date|date[_ ]?of[_ ]?birth|birthdate"

_NAME_CONTEXT = re.compile(
    r"(?i:(?<![\w-])(?:pasient(?:en|ens)?|pas\.|pt\.|patient(?:en)?|beboer(?:en)?|klient(?:en)?)"
    r"(?:\s*[:=]\s*|[ \t]+)[\"']?)" + rf"(?P<name>{_NAME})")
_BIRTH = re.compile(rf"(?i:(?<![\w-])(?:{_BIRTH_WORDS}))\s*[:=]?\s*[\"']?(?P<date>{_DATE}|(?:19|20)\d{{2}}(?!\d))")
_ANY_DATE = re.compile(rf"(?<![\d.]){_DATE}")
_YEAR = re.compile(r"(?:19|20)\d{2}|(?<=[./])\d{2}$")
_LABEL = re.compile(
    r"(?im)(?<![\w-])(?P<label>" + "|".join(words.LABEL_PATTERNS) + r")[ \t]*[:=][ \t]*"
    r"(?P<value>\"[^\"\n]{1,200}\"|'[^'\n]{1,200}'|[^\n,;|&(]{1,200}?)[ \t]*(?=\s+[\w.-]{1,40}[:=]|[\n,;|&(]|$)")
_WORD = re.compile(r"[^\W\d_][\w-]*")
_DIAGNOSIS_PHRASE = re.compile(r"(?i)(?<![\w-])(?:" + "|".join(words.DIAGNOSIS_PHRASES) + r")(?![\w-])")
_DOTTED_CODE = re.compile(r"(?<![\w.])[A-TV-Z][0-9]{2}\.[0-9]{1,2}(?!\w|\.\w)")
_BARE_CODE = re.compile(r"(?<![\w.-])[A-Z][0-9]{2}(?![\w-]|\.\w)")
_CODE_CONTEXT = re.compile(r"(?i)icd|icpc|diagnos|\bdx\b|\bkode[nrt]?\b")
_NAME_BEFORE = re.compile(rf"(?P<name>{_NAME})[ \t]*(?:,|\(|)[ \t]*(?:(?i:{_BIRTH_WORDS})[ \t]*:?[ \t]*)?$")
_NAME_BEFORE_DIAGNOSIS = re.compile(
    rf"(?P<name>{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{1,3}})[ \t]*(?:,|\(|(?i:har fått|har|med|fikk|"
    r"er diagnostisert med|diagnostisert med|lider av))[ \t]*(?:(?i:diagnosen|diagnose)[ \t]*:?[ \t]*)?$")
_NAMEISH_VALUE = re.compile(r"[A-ZÆØÅÄÖÜÉ][\w'’.-]*(?:\s+[\w'’.-]+){0,4}")
_PERIOD_BEFORE = re.compile(r"(?i)(?:periode|perioden|fra|til|siden|mellom|from|since|between|to|f\.o\.m\.?|t\.o\.m\.?"
                            r"|[-–])[\s:]*$")
_PERIOD_AFTER = re.compile(r"\s*(?:[-–]|til|to)\s*\d")
_NAME_PARTS = re.compile(r"[^\W\d_]+")
_NOTHING = re.compile(r"(?i)ingen|ukjent|ikke oppgitt|n/?a|none|null|-+|\?+")


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    kind: str  # "name", "birth_date", "diagnosis", "diagnosis_code"


def _is_old(text: str, today: date) -> bool:
    m = _YEAR.search(text)
    if not m:
        return False
    year = int(m.group())
    if year < 100:
        year += 2000 if year <= today.year % 100 else 1900
    return year <= today.year - OLD_DATE_YEARS


def _diagnoses(text: str) -> list[tuple[int, int]]:
    """Spans of diagnoses: a phrase, a word of the list, or a compound ending in a medical stem."""
    found = [(m.start(), m.end()) for m in _DIAGNOSIS_PHRASE.finditer(text)]
    for m in _WORD.finditer(text):
        word = m.group().lower()
        last = word.rpartition("-")[2]
        if last in words.DIAGNOSES or word.endswith(words.DIAGNOSIS_STEMS) or word in words.DIAGNOSES:
            found.append((m.start(), m.end()))
    return found


def _in_period(text: str, start: int, end: int) -> bool:
    """True for a date that bounds a period ("Periode: 01.04.2016 - …", "fra 2015"), not a birth."""
    return bool(_PERIOD_BEFORE.search(text[max(0, start - 30):start]) or _PERIOD_AFTER.match(text, end))


def _name_ok(name: str, keep: frozenset[str]) -> bool:
    """A patient's name: not only role words, and not made only of the words of a kept name
    (the reporter's "Kari Nordmann" keeps "Kari Nordmann" and "Kari", not "Ola Nordmann")."""
    parts = [p.lower() for p in _NAME_PARTS.findall(name)]
    if not parts or all(p in words.NOT_NAMES for p in parts):
        return False
    return not all(p in keep for p in parts)


def _trim_name(name: str) -> str:
    """Drop leading words that cannot be part of a name ("Pasienten", "Hun")."""
    parts = name.split()
    while parts and parts[0].lower() in words.NOT_NAMES:
        parts.pop(0)
    while parts and parts[-1].lower() in words.NOT_NAMES:
        parts.pop()
    return " ".join(parts)


def _labelled(text: str, keep: frozenset[str], out: list[Finding], names: set[str]) -> None:
    for m in _LABEL.finditer(text):
        value = m.group("value").strip().strip("\"'")
        if not value or _NOTHING.fullmatch(value):
            continue
        kind = _label_kind(m.group("label"))
        start = m.start("value") + m.group("value").find(value)
        if kind == "name":
            if not _NAMEISH_VALUE.fullmatch(value) or any(c.isdigit() for c in value) or not _name_ok(value, keep):
                continue
            names.add(value)
        elif kind == "birth_date" and not any(c.isdigit() for c in value):
            continue
        out.append(Finding(start, start + len(value), kind))


def _label_kind(label: str) -> str:
    key = re.sub(r"[\s_.-]", "", label.lower())
    return words.LABELS.get(key, "diagnosis")


def find_health_data(text: str, *, keep=(), known_names=(), today: date | None = None,
                     learned: set[str] | None = None) -> list[Finding]:
    """Findings in TEXT, overlapping ones merged (the first kind wins), in order. KEEP are
    names never to report (the reporter's); KNOWN_NAMES are patients' names found elsewhere in
    the same mail; names found here are added to LEARNED when it is given."""
    if not text:
        return []
    today = today or date.today()
    keep_set = frozenset(p.lower() for k in keep if k for p in _NAME_PARTS.findall(k))
    names: set[str] = set()
    out: list[Finding] = []
    _labelled(text, keep_set, out, names)
    for m in _NAME_CONTEXT.finditer(text):
        name = _trim_name(m.group("name"))
        if name and _name_ok(name, keep_set):
            start = m.start("name") + m.group("name").find(name)
            out.append(Finding(start, start + len(name), "name"))
            names.add(name)
    births = [(m.start("date"), m.end("date")) for m in _BIRTH.finditer(text)]
    births += [(m.start(), m.end()) for m in _ANY_DATE.finditer(text)
               if _is_old(m.group(), today) and not _in_period(text, m.start(), m.end())]
    for start, end in births:
        out.append(Finding(start, end, "birth_date"))
        _name_before(text, start, _NAME_BEFORE, keep_set, out, names)
    diagnoses = _diagnoses(text)
    for start, end in diagnoses:
        out.append(Finding(start, end, "diagnosis"))
        _name_before(text, start, _NAME_BEFORE_DIAGNOSIS, keep_set, out, names)
    for m in _DOTTED_CODE.finditer(text):
        out.append(Finding(m.start(), m.end(), "diagnosis_code"))
    diagnosis_ends = [end for _, end in diagnoses] + [f.end for f in out if f.kind == "diagnosis"]
    for m in _BARE_CODE.finditer(text):
        around = text[max(0, m.start() - 30):m.start()] + " " + text[m.end():m.end() + 12]
        if _CODE_CONTEXT.search(around) or any(0 <= m.start() - e <= 3 for e in diagnosis_ends):
            out.append(Finding(m.start(), m.end(), "diagnosis_code"))
    for name in {*names, *known_names}:
        if not name or not _name_ok(name, keep_set):
            continue
        for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
            out.append(Finding(m.start(), m.end(), "name"))
    if learned is not None:
        learned.update(names)
    return merge(out)


def _name_before(text: str, start: int, pattern: re.Pattern, keep: frozenset[str],
                 out: list[Finding], names: set[str]) -> None:
    window = text[max(0, start - 80):start]
    m = pattern.search(window)
    if not m:
        return
    name = _trim_name(m.group("name"))
    if not name or not _name_ok(name, keep):
        return
    offset = max(0, start - 80) + m.start("name") + m.group("name").find(name)
    out.append(Finding(offset, offset + len(name), "name"))
    names.add(name)


def merge(findings: list[Finding]) -> list[Finding]:
    """Findings sorted, with any that overlap one before it dropped (the earlier, longer wins)."""
    result: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.start, -f.end)):
        if result and f.start < result[-1].end:
            if f.end > result[-1].end:
                result[-1] = Finding(result[-1].start, f.end, result[-1].kind)
            continue
        result.append(f)
    return result
