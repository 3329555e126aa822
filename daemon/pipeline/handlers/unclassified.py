"""Unclassifiable mail: kept, counted and listed for a person; no case, no answer."""


def record(session, rt, message, mail, verdict) -> None:
    message.error = verdict.reason
