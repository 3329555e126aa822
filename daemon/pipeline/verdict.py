"""The outcome of classification: what a message is, and which case it belongs to if any."""

from __future__ import annotations

from dataclasses import dataclass

NEW_REPORT = "new_report"
REPLY = "reply"
NHN_MAIL = "nhn_mail"  # from NHN's customer centre: reference, classification, logs
CITIZEN_FORM = "citizen_form"
AUTOMATIC = "automatic"  # auto-reply, bounce, list or bulk mail: never answered
OWN_MAIL = "own_mail"  # our own mail come back: never answered
NOT_MAIL = "not_mail"
UNCLASSIFIABLE = "unclassifiable"


@dataclass(frozen=True)
class Verdict:
    kind: str
    rule: str
    reason: str = ""
    case_id: str | None = None
