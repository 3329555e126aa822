"""Norwegian national identity numbers: which 11 digits are a real one.

This module decides whether an 11-digit string is a *plausible Norwegian national identity
number* and masks one; `disguises` finds them in text. It covers:

* fødselsnummer (birth number): ``DDMMYY`` + 3-digit individual number + 2 control digits;
* D-number: the first digit is increased by 4 (day 41–71);
* H-number: the third digit is increased by 4 (month 41–52);
* synthetic test persons: month + 80 (Skatteetaten's Tenor test data) or month + 40
  (the older synthetic convention, indistinguishable from an H-number); Tenor's synthetic
  D-numbers combine day + 40 and month + 80.

A number is accepted when

1. it has exactly 11 ASCII digits;
2. its date part is plausible: the (D-adjusted) day is 1–31 and the (H/synthetic-adjusted)
   month is 1–12. Day and month are deliberately not checked against each other: the century
   cannot be read reliably from the number, and H-numbers in use do not always carry a real
   date (the H-number example 31429956679 reads as 31 February);
3. control digit 1 holds: with weights 3,7,6,1,8,9,4,5,2,1 over digits 1–10 the sum mod 11 is
   0, 1, 2 or 3. Remainder 0 is the classic rule (k1 = 11 - (sum of digits 1–9 weighted
   3,7,6,1,8,9,4,5,2 mod 11), 11 → 0, 10 → invalid); 1–3 are allowed by Skatteetaten's rule for
   numbers issued from 2032. The issue date cannot be read from the number, so every number is
   checked against the wider rule;
4. control digit 2 holds: with weights 5,4,3,2,7,6,5,4,3,2,1 over all 11 digits the sum mod 11 is 0.

In text (see `disguises`), a candidate is 11 digits that a reader would read as one number:
digits of any script or compatibility form (folded as NFKC folds them), with any separator of
at most three non-alphanumeric characters, or none, between any two of them, starting and
ending where a run of digits starts and ends. Only candidates that validate are reported,
redacted or masked; other 11-digit numbers (order numbers, phone number + extension) are left
alone.

This is a guard against leaking identity numbers (logs, e-mail replies, tickets), not a
population register lookup: a number that passes may still not be issued to anyone.
"""

from __future__ import annotations

import re


DEFAULT_REPLACEMENT = "[fnr fjernet]"

_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2, 1)  # over digits 1-10 (digit 10 is k1 itself)
_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1)  # over all 11 digits
_K1_REMAINDERS = frozenset({0, 1, 2, 3})  # 0: classic rule; 1-3: numbers issued from 2032

_ELEVEN_DIGITS = re.compile(r"[0-9]{11}")
# What normalise_identity_number() strips from a field value before validating.
_SEPARATORS = re.compile(r"[\s.\-\u2010-\u2013]")


def _date_kind(digits: str) -> str | None:
    """Return the kind implied by the date part, or None if the date is implausible."""
    day = int(digits[0:2])
    month = int(digits[2:4])
    d_number = 41 <= day <= 71
    if not (1 <= day <= 31 or d_number):
        return None
    if 1 <= month <= 12:
        kind = "fnr"
    elif 41 <= month <= 52:
        kind = "h"  # H-number or old-style synthetic (+40): the same numbers
    elif 81 <= month <= 92:
        kind = "synthetic"
    else:
        return None
    if d_number:
        if kind == "fnr":
            return "d"
        return "synthetic" if kind == "synthetic" else None
    return kind


def _controls_ok(digits: str) -> bool:
    values = [ord(c) - 48 for c in digits]
    s1 = sum(w * v for w, v in zip(_WEIGHTS_1, values))
    if s1 % 11 not in _K1_REMAINDERS:
        return False
    s2 = sum(w * v for w, v in zip(_WEIGHTS_2, values))
    return s2 % 11 == 0


def identity_number_kind(digits: str) -> str | None:
    """Classify a valid number: ``"fnr"``, ``"d"`` (D-number), ``"h"`` (H-number or the old
    +40 synthetic convention) or ``"synthetic"`` (Tenor, month + 80). ``None`` if not valid.

    A D-number with month + 40 is not a known combination and is rejected.
    """
    if not isinstance(digits, str) or _ELEVEN_DIGITS.fullmatch(digits) is None:
        return None
    kind = _date_kind(digits)
    if kind is None or not _controls_ok(digits):
        return None
    return kind


def is_identity_number(digits: str) -> bool:
    """True if ``digits`` is exactly 11 digits forming a plausible identity number.

    No separators are accepted here; use :func:`normalise_identity_number` for user input.
    """
    return identity_number_kind(digits) is not None


def normalise_identity_number(value: str) -> str | None:
    """Strip spaces, dots and dashes from ``value``; return the 11 digits if valid, else None."""
    if not isinstance(value, str):
        return None
    digits = _SEPARATORS.sub("", value)
    return digits if is_identity_number(digits) else None


def mask_identity_number(number: str) -> str:
    """``"31129956715"`` → ``"311299*****"``: keep the date part, hide the rest.

    Spaces and dashes in ``number`` are ignored. Anything that is not 11 digits is fully
    masked (``"***********"``) rather than raising, so the function is safe in log paths.
    """
    digits = _SEPARATORS.sub("", number) if isinstance(number, str) else ""
    if _ELEVEN_DIGITS.fullmatch(digits) is None:
        return "*" * 11
    return digits[:6] + "*****"


