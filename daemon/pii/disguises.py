"""Identity numbers in text, in every disguise a reader would still read as the number.

Decides where in a text an identity number is, whatever it is dressed in:

* digits of any script and compatibility forms (full-width `３１１２…`, superscripts, circled,
  mathematical digits): folded to ASCII one character for one, as NFKC would fold them;
* any separator or none between any two digits: up to three characters that are neither
  letters nor digits (spaces, two spaces, a tab, a line break, `.`, `/`, `-`, an en dash, a
  narrow no-break space, a zero-width space); the number must start and end where a run of
  digits does, so it is never cut out of a longer number;
* escapes: HTML/XML character references (`&#48;`, `&#x30;`, `&nbsp;`), JSON and other
  backslash escapes (`\\u0030`, `\\x30`, `\\060`, `\\t`), quoted-printable (`=33`, soft line
  breaks) and URL escapes (`%33`), read in a second view of the text beside the literal one;
* base64: a run of base64 characters that decodes to text holding a number is itself the number.

The literal view costs one regular-expression pass; the escaped view and base64 are built only
where the text has something they could decode. Spans found in any view are merged; what they
cover is what `redact_identity_numbers` replaces.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata

from .numbers import is_identity_number, mask_identity_number

DEFAULT_REPLACEMENT = "[fnr fjernet]"

# A run of digits with at most three non-alphanumeric characters between any two of them.
_RUN = re.compile(r"[0-9](?:[\W_]{0,3}[0-9])*")
_GROUP = re.compile(r"[0-9]+")
_ESCAPE = re.compile(
    r"&#[xX]([0-9a-fA-F]{1,6});?"          # 1: hexadecimal character reference
    r"|&#([0-9]{1,7});?"                  # 2: decimal character reference
    r"|&([A-Za-z][A-Za-z0-9]{1,9};)"       # 3: named character reference
    r"|\\u\{?([0-9a-fA-F]{4,6})\}?"        # 4: JSON, JavaScript, Python
    r"|\\U([0-9a-fA-F]{8})"                # 5
    r"|\\x\{?([0-9a-fA-F]{2,4})\}?"        # 6
    r"|\\(0[0-7]{2})"                     # 7: octal
    r"|\\([^\r\n])"                       # 8: \t, \n, \/ and the like
    r"|=(\r?\n)"                          # 9: quoted-printable soft line break
    r"|=([0-9A-Fa-f]{2})"                 # 10: quoted-printable
    r"|%([0-9A-Fa-f]{2})"                 # 11: URL
)
_BACKSLASH = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v", "b": " ", "s": " "}
# Base64 as MIME and encoded words write it (11 digits take 15 characters and a `=`); leftmost
# and greedy, so a whole run. Not the URL-safe alphabet: `-` and `_` join case numbers and names.
_BASE64 = re.compile(r"[A-Za-z0-9+/]{15,}={0,2}")
# Base64 of text has digits, `+`, `/`, padding or capitals inside it; a word has none of them.
_BASE64_HINT = re.compile(r"[0-9+/]|=$|.[A-Z][a-z]*[A-Z]")
_ASCII_DIGITS = "0123456789"


class _Fold(dict):
    """`str.translate` table: any character with a digit value becomes that ASCII digit."""

    def __missing__(self, code: int):
        value = unicodedata.digit(chr(code), None)
        folded = ord(str(value)) if value is not None else code
        self[code] = folded
        return folded


_FOLD = _Fold()


# A digit that is not ASCII: any decimal digit (Unicode Nd), and the characters with a digit
# value that are not decimal (superscripts, circled, parenthesised; Unicode 14, checked by a test).
_DIGIT_VALUED = (
    r"[\u00b2\u00b3\u00b9\u1369-\u1371\u19da\u2070\u2074-\u2079\u2080-\u2089\u2460-\u2468"
    r"\u2474-\u247c\u2488-\u2490\u24ea\u24f5-\u24fd\u24ff\u2776-\u277e\u2780-\u2788\u278a-\u2792"
    r"\U00010a40-\U00010a43\U00010e60-\U00010e68\U00011052-\U0001105a\U0001f100-\U0001f10a]")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d|" + _DIGIT_VALUED)
# What the literal view needs to find anything (a digit of any kind), and what the escaped view
# needs (the first character of every escape `_ESCAPE` reads)
_ANY_DIGIT = re.compile(r"\d|" + _DIGIT_VALUED)
_ESCAPE_START = re.compile(r"[&\\=%]")


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def fold_digits(text: str) -> str:
    """TEXT with every digit of any script or compatibility form as an ASCII digit (length kept)."""
    if text.isascii() or not any(_OTHER_DIGIT.match(c) for c in set(_NON_ASCII.findall(text))):
        return text
    return text.translate(_FOLD)


def _numbers_in(view: str):
    """(start, end, digits) of each valid number in VIEW (already folded): 11 digits from the
    start of a group of digits to the end of one, in a run of them."""
    for run in _RUN.finditer(view):
        start, end = run.span()
        if end - start < 11:
            continue
        groups = [g.span() for g in _GROUP.finditer(view, start, end)]
        through: dict[int, int] = {}  # digits counted through group j: j
        total = 0
        for j, (b, e) in enumerate(groups):
            total += e - b
            through[total] = j
        if total < 11:
            continue
        before = 0
        for i, (b, e) in enumerate(groups):
            j = through.get(before + 11)
            if j is not None:
                digits = "".join(view[x:y] for x, y in groups[i:j + 1])
                if is_identity_number(digits):
                    yield b, groups[j][1], digits
            before += e - b


def _decoded(match: re.Match) -> str:
    hexa, dec, named, u4, u8, x, octal, other, soft, qp, url = match.groups()
    if soft is not None:
        return ""
    if named is not None:
        return html.unescape("&" + named)
    if other is not None:
        return _BACKSLASH.get(other, other)
    code = hexa or u4 or u8 or x or qp or url
    number = int(code, 16) if code else int(dec) if dec else int(octal, 8)
    try:
        return chr(number)
    except (ValueError, OverflowError):
        return " "


def _escaped_view(text: str):
    """TEXT with its escapes decoded, and for each character of it the span of TEXT it came from;
    None when TEXT has no escape."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    found = False
    for m in _ESCAPE.finditer(text):
        found = True
        if m.start() > pos:
            pieces.append(text[pos:m.start()])
            starts.extend(range(pos, m.start()))
            ends.extend(range(pos + 1, m.start() + 1))
        value = _decoded(m)
        pieces.append(value)
        starts.extend([m.start()] * len(value))
        ends.extend([m.end()] * len(value))
        pos = m.end()
    if not found:
        return None
    pieces.append(text[pos:])
    starts.extend(range(pos, len(text)))
    ends.extend(range(pos + 1, len(text) + 1))
    view = "".join(pieces)
    if len(view) != len(starts):  # a named reference decoded to two characters
        return None
    return fold_digits(view), starts, ends


def _bytes_text(data: bytes) -> list[str]:
    """DATA read as Latin-1, UTF-8 and, when it could hold 11 of them, UTF-16 (ASCII digits in
    UTF-16 have a NUL byte each; full-width and other scripts' digits have none)."""
    texts = [data.decode("latin-1")]
    if b"\x00" not in data:
        texts.append(data.decode("utf-8", "replace"))
    if len(data) >= 22:
        texts += [data.decode("utf-16-le", "replace"), data.decode("utf-16-be", "replace")]
    return texts


def _base64_spans(text: str):
    for m in _BASE64.finditer(text):
        if _BASE64_HINT.search(m.group()) is None:  # a plain word or identifier, not base64
            continue
        blob = m.group().rstrip("=")
        blob += "=" * (-len(blob) % 4)
        try:
            data = base64.b64decode(blob)
        except (binascii.Error, ValueError):
            continue
        if any(_decoded_holds_number(t) for t in _bytes_text(data)):
            yield m.start(), m.end(), ""


def _decoded_holds_number(text: str) -> bool:
    """Whether text decoded from base64 holds a number (literally: no escapes inside base64), in
    digits of any script or form (folded before they are counted)."""
    if sum(map(text.count, _ASCII_DIGITS)) < 11 and (text.isascii() or len(_ANY_DIGIT.findall(text)) < 11):
        return False
    return next(_numbers_in(fold_digits(text)), None) is not None


def _spans(text: str) -> list[tuple[int, int, str]]:
    """Spans of TEXT holding a valid number, merged, in order, with the number's digits."""
    if not text:
        return []
    found = list(_numbers_in(fold_digits(text))) if _ANY_DIGIT.search(text) else []
    escaped = _escaped_view(text) if _ESCAPE_START.search(text) else None
    if escaped is not None:
        view, starts, ends = escaped
        found += [(starts[b], ends[e - 1], digits) for b, e, digits in _numbers_in(view)]
    found += list(_base64_spans(text))
    if not found:
        return []
    found.sort()
    merged = [list(found[0])]
    for start, end, digits in found[1:]:
        if start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][2] = merged[-1][2] or digits
        else:
            merged.append([start, end, digits])
    return [tuple(span) for span in merged]


def identity_number_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, digits) of every identity number in TEXT in any disguise, merged, in order;
    digits are ``""`` for a number found inside base64."""
    return _spans(text)


def find_identity_numbers(text: str) -> list[str]:
    """All valid identity numbers in TEXT, normalised to 11 digits, in order (duplicates kept)."""
    return [digits for _, _, digits in _spans(text) if digits]


def contains_identity_number(text: str) -> bool:
    return bool(_spans(text))


def _substitute(text: str, make) -> tuple[str, int]:
    spans = _spans(text)
    if not spans:
        return text, 0
    parts: list[str] = []
    pos = 0
    for start, end, digits in spans:
        parts.append(text[pos:start])
        parts.append(make(digits))
        pos = end
    parts.append(text[pos:])
    return "".join(parts), len(spans)


def redact_identity_numbers_counted(text: str, replacement: str = DEFAULT_REPLACEMENT) -> tuple[str, int]:
    """(TEXT with every identity number replaced, how many were replaced)."""
    return _substitute(text, lambda _digits: replacement)


def redact_identity_numbers(text: str, replacement: str = DEFAULT_REPLACEMENT) -> str:
    """Replace every identity number in any disguise (as spelled, separators and escapes
    included) by REPLACEMENT; everything else, including invalid 11-digit numbers, is kept.
    Safe for any header value (a Message-ID, References) as well as for text."""
    if not text:
        return text
    return _substitute(text, lambda _digits: replacement)[0]


def mask_identity_numbers(text: str) -> str:
    """Replace every identity number in TEXT by its masked form (``311299*****``)."""
    if not text:
        return text
    return _substitute(text, lambda digits: mask_identity_number(digits) if digits else DEFAULT_REPLACEMENT)[0]
