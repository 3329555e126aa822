"""The case state machine: every state a case can be in and every transition allowed.

This table is the one the README's diagram is drawn from; `cases.transition` refuses anything
not listed here. Escalation to NHN, severity, lead actor and NHN's reference are attributes of a
case, not states: a case can be escalated in any open state.

    new            registered, not yet looked at (transient: the pipeline moves it on)
    awaiting_info  the report lacks what a case must document; the reporter has been asked
    open           being handled (by us, NHN, the source or a vendor)
    resolved       fixed; the service is monitored for the verification period
    closed         done; the closure notice has gone out
"""

from __future__ import annotations

NEW = "new"
AWAITING_INFO = "awaiting_info"
OPEN = "open"
RESOLVED = "resolved"
CLOSED = "closed"

STATES = (NEW, AWAITING_INFO, OPEN, RESOLVED, CLOSED)

TRANSITIONS: dict[str, tuple[str, ...]] = {
    NEW: (OPEN, AWAITING_INFO, CLOSED),
    AWAITING_INFO: (OPEN, RESOLVED, CLOSED),
    OPEN: (AWAITING_INFO, RESOLVED, CLOSED),
    RESOLVED: (OPEN, CLOSED),
    CLOSED: (OPEN,),
}

ACTIVE = (NEW, AWAITING_INFO, OPEN, RESOLVED)


class TransitionError(Exception):
    """A change the state machine does not allow."""


def check(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, ()):
        raise TransitionError(f"a case cannot go from {current} to {target}")


def mermaid() -> str:
    """The diagram of TRANSITIONS, as the README shows it."""
    lines = ["stateDiagram-v2", "    [*] --> new"]
    for source, targets in TRANSITIONS.items():
        lines.extend(f"    {source} --> {target}" for target in targets)
    lines.append("    closed --> [*]")
    return "\n".join(lines)
