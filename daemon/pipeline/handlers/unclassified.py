"""Unclassifiable mail: kept, counted and listed for a person; no case, no answer."""


from ...registry.sql import write


def record(session, rt, message, mail, verdict) -> None:
    write(session, message, error=verdict.reason)
