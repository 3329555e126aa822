"""Tests for daemon.pii. Only synthetic numbers: the documented examples and generated ones."""

import time

import pytest

from daemon import pii

EXAMPLES = {
    "31129956715": "fnr",
    "71129956709": "d",  # D-number: day + 40
    "31429956679": "h",  # H-number: month + 40
    "02013299903": "fnr",  # valid only under the 2032 rule (k1 remainder 2)
}

W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2, 1)
W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1)


def make_number(prefix9: str, remainder: int = 0) -> str | None:
    """Complete 9 digits with two control digits; ``remainder`` is the k1 sum mod 11
    (0 classic, 1-3 the 2032 rule). None when no control digit fits."""
    digits = [int(c) for c in prefix9]
    k1 = (remainder - sum(w * d for w, d in zip(W1, digits))) % 11
    if k1 == 10:
        return None
    digits.append(k1)
    k2 = (-sum(w * d for w, d in zip(W2, digits))) % 11
    if k2 == 10:
        return None
    digits.append(k2)
    return "".join(map(str, digits))


def first_number(date6: str, remainder: int = 0) -> str:
    for individual in range(100, 1000):
        number = make_number(f"{date6}{individual:03d}", remainder)
        if number is not None:
            return number
    raise AssertionError("no number for " + date6)


@pytest.mark.parametrize("number,kind", EXAMPLES.items())
def test_documented_examples_are_valid(number, kind):
    assert pii.is_identity_number(number)
    assert pii.identity_number_kind(number) == kind


def test_example_control_sums_match_the_rules():
    for number in EXAMPLES:
        d = [int(c) for c in number]
        assert sum(w * v for w, v in zip(W1, d)) % 11 in {0, 1, 2, 3}
        assert sum(w * v for w, v in zip(W2, d)) % 11 == 0


def test_generator_reproduces_examples():
    for number in EXAMPLES:
        d = [int(c) for c in number]
        remainder = sum(w * v for w, v in zip(W1, d)) % 11
        assert make_number(number[:9], remainder) == number


@pytest.mark.parametrize(
    "date6,kind",
    [
        ("010190", "fnr"),
        ("150505", "fnr"),
        ("410190", "d"),  # D-number
        ("015190", "h"),  # H-number / +40 synthetic
        ("018190", "synthetic"),  # Tenor: month + 80
        ("419290", "synthetic"),  # Tenor D-number: day + 40, month + 80
    ],
)
def test_generated_numbers_validate(date6, kind):
    number = first_number(date6)
    assert pii.identity_number_kind(number) == kind


@pytest.mark.parametrize("remainder", [1, 2, 3])
def test_2032_rule_remainders_accepted(remainder):
    assert pii.is_identity_number(first_number("020132", remainder))


def test_remainder_4_rejected():
    number = first_number("020132", 4)
    assert not pii.is_identity_number(number)


def test_invalid_control_digits():
    assert not pii.is_identity_number("31129956716")  # k2 off by one
    assert not pii.is_identity_number("31129956605")  # k1 changed
    for i in range(11):
        for delta in (1, 5):
            mutated = list("31129956715")
            mutated[i] = str((int(mutated[i]) + delta) % 10)
            mutated = "".join(mutated)
            # a single changed digit always breaks k2 (weights are non-zero mod 11)
            assert not pii.is_identity_number(mutated), mutated


@pytest.mark.parametrize(
    "date6",
    ["001299", "321299", "721299", "311399", "310099", "315399", "317099", "319399", "724299"],
)
def test_implausible_dates_rejected(date6):
    for remainder in range(4):
        number = None
        for individual in range(100, 1000):
            number = make_number(f"{date6}{individual:03d}", remainder)
            if number:
                break
        assert number and not pii.is_identity_number(number)


@pytest.mark.parametrize("value", ["3112995671", "311299567150", "3112995671a", "", "311299 56715", None, 31129956715])
def test_is_identity_number_wants_exactly_11_digits(value):
    assert not pii.is_identity_number(value)


def test_normalise():
    assert pii.normalise_identity_number(" 311299 56715 ") == "31129956715"
    assert pii.normalise_identity_number("31.12.99 567-15") == "31129956715"
    assert pii.normalise_identity_number("31129956716") is None


def test_find_plain_space_and_dash_forms():
    text = "A: 31129956715, B: 711299 56709; C: 314299-56679 og D (02013299903)."
    assert pii.find_identity_numbers(text) == [
        "31129956715",
        "71129956709",
        "31429956679",
        "02013299903",
    ]
    assert pii.contains_identity_number(text)


def test_ten_and_twelve_digit_runs_are_not_matched():
    assert pii.find_identity_numbers("ordre 3112995671 her") == []
    assert pii.find_identity_numbers("ordre 131129956715 her") == []
    assert pii.find_identity_numbers("ordre 311299567150 her") == []
    assert pii.find_identity_numbers("311299 567150") == []
    assert pii.find_identity_numbers("1311299 56715") == []
    assert not pii.contains_identity_number("3112995671 og 311299567150")


def test_two_separators_or_other_splits_are_matched():
    # issue 14: any separator or none between any digits is still the number a reader sees
    assert pii.find_identity_numbers("311299  56715") == ["31129956715"]
    assert pii.find_identity_numbers("3112 9956715") == ["31129956715"]


def test_letters_next_to_number_do_not_prevent_match():
    # digit boundaries only: letters around the number do not prevent a match
    assert pii.find_identity_numbers("fnr:31129956715.") == ["31129956715"]


def test_redaction_keeps_surrounding_text():
    text = "Pasient 311299 56715 (Ola) og 71129956709.\nTlf 22334455 ordre 12345678901."
    assert pii.redact_identity_numbers(text) == (
        "Pasient [fnr fjernet] (Ola) og [fnr fjernet].\nTlf 22334455 ordre 12345678901."
    )
    assert pii.redact_identity_numbers("x 314299-56679 y", "XXX") == "x XXX y"


def test_redaction_leaves_invalid_numbers():
    text = "Tlf 22 33 44 55, internnummer 22334455123, ordre 31129956716"
    assert pii.redact_identity_numbers(text) == text
    assert pii.mask_identity_numbers(text) == text


def test_mask_single():
    assert pii.mask_identity_number("31129956715") == "311299*****"
    assert pii.mask_identity_number("311299 56715") == "311299*****"
    assert pii.mask_identity_number("garbage") == "***********"


def test_mask_numbers_in_text():
    text = "fnr 31129956715 og d-nr 711299-56709, ugyldig 31129956716"
    assert pii.mask_identity_numbers(text) == "fnr 311299***** og d-nr 711299*****, ugyldig 31129956716"


def test_empty_inputs():
    assert pii.find_identity_numbers("") == []
    assert pii.redact_identity_numbers("") == ""
    assert pii.mask_identity_numbers("") == ""
    assert not pii.contains_identity_number("")


def test_large_text_without_numbers_is_untouched_and_fast():
    line = "Hei, dette er en vanlig melding om en feil i systemet kl 10:30, sak 12345. æøå\n"
    text = (line * (32 * 1024 // len(line) + 1))[: 32 * 1024]
    assert len(text) == 32 * 1024
    start = time.perf_counter()
    for _ in range(20):
        assert pii.redact_identity_numbers(text) is text or pii.redact_identity_numbers(text) == text
        assert pii.find_identity_numbers(text) == []
    assert time.perf_counter() - start < 2.0


def test_large_text_with_many_candidates():
    text = ("ordre 12345678901 og fnr 31129956715. " * 1000)
    assert pii.find_identity_numbers(text) == ["31129956715"] * 1000
    redacted = pii.redact_identity_numbers(text)
    assert "31129956715" not in redacted and redacted.count("12345678901") == 1000
