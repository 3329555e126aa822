"""Classify a parsed mail: ask the rules in order; the first verdict wins."""

from __future__ import annotations

from .rules import RULES
from .verdict import UNCLASSIFIABLE, Verdict


def classify(mail, ctx) -> Verdict:
    for rule in RULES:
        verdict = rule.check(mail, ctx)
        if verdict is not None:
            return verdict
    return Verdict(UNCLASSIFIABLE, "none", "no rule matched")
