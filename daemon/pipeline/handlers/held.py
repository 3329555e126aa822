"""Held mail: a sender past `[limits] new_cases_per_hour` opens no more cases.

Their further mail is stored and attached to one held case (flag `held`), which no mail
acknowledges, and this organisation's handlers are told once, when it is opened. An
auto-responder that strips our tag and threading, or a flood, so ends in one case a person can
look at, not hundreds with an acknowledgement each.
"""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from ...registry import cases, limits, states
from ...registry.models import Case

log = logging.getLogger("sakspost.limits")
HELD = "held"


def hold_if_flooding(session: Session, rt, message, mail, sender: str) -> bool:
    """True, with MESSAGE attached to SENDER's held case, when SENDER may open no more cases
    this hour; False (one more case counted) otherwise."""
    if limits.take(session, rt.config, limits.NEW_CASE, sender):
        return False
    held = session.exec(select(Case).where(Case.reporter == sender, Case.flags.contains(HELD),
                                           Case.state != states.CLOSED).order_by(Case.created_at.desc())).first()
    if held is not None:
        cases.attach_message(session, held, message, who=sender, action="message_held")
        return True
    held = cases.open_case(
        session, "incident", who=sender, message_pk=message.id, reporter=sender,
        reporter_name=mail.from_name[:200], subject=f"Holdt tilbake: e-post fra {sender}"[:500],
        flags=HELD, lead_actor=rt.config.identity.actor or None)
    cases.attach_message(session, held, message, who=sender, action="message_held")
    limit = rt.config.limits.new_cases_per_hour
    log.warning("case %s: %s has opened %d cases within an hour; further mail from it is held there",
                held.id, sender, limit)
    ours = rt.config.actor_by_id(rt.config.identity.actor)
    handlers = list(ours.handlers or [ours.contact]) if ours else []
    cases.send(session, rt, held, "flood_held", {"sender": sender, "limit": limit}, to=handlers,
               purpose="flood_held", auto_submitted="auto-generated")
    return True
