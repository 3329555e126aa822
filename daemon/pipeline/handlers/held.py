"""Held mail: what no sender can make us act on at once.

- A sender past `[limits] new_cases_per_hour` opens no more cases: their further mail is stored
  and attached to one held case (flag `held`), which no mail acknowledges, and this
  organisation's handlers are told once, when it is opened. An auto-responder that strips our
  tag and threading, or a flood, so ends in one case a person can look at, not hundreds with an
  acknowledgement each. Mail claiming a role it does not prove, with no case to be stored on
  (a forged NHN opening a case), goes to such a held case too (`held_case`).
- A report can be held on its own case (flag `report_waits`): from a sender our border says
  failed DMARC, or past `[limits] new_cases_per_hour_total`. It is not acknowledged (a forged
  sender gets no backscatter) nor forwarded to NHN, and the handlers are told once an hour.
- A forward to NHN past `[limits] nhn_forwards_per_hour` waits on its case (flag
  `forward_waits`), the handlers told once an hour.

A handler releases what is held with `#godta` (`incident.release`); held cases are listed by
`sakspost cases list --held`.
"""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from ... import notify
from ...registry import cases, limits, states
from ...registry.models import Case

log = logging.getLogger("sakspost.limits")
HELD = "held"
REPORT_WAITS = "report_waits"
FORWARD_WAITS = "forward_waits"
UNPROVEN_WAITS = "unproven_waits"  # mail on the case that claims a role it does not prove (`pipeline.roles`)
WAITING = (HELD, REPORT_WAITS, FORWARD_WAITS, UNPROVEN_WAITS)


def flags_with(current: str, **wanted: bool) -> str:
    """CURRENT (comma-separated flags) with each of WANTED set or cleared."""
    flags = [f for f in (current or "").split(",") if f]
    for flag, on in wanted.items():
        if on and flag not in flags:
            flags.append(flag)
        elif not on and flag in flags:
            flags.remove(flag)
    return ",".join(flags)


def has_flag(case: Case, flag: str) -> bool:
    return flag in (case.flags or "").split(",")


def hold_if_flooding(session: Session, rt, message, mail, sender: str) -> bool:
    """True, with MESSAGE attached to SENDER's held case, when SENDER may open no more cases
    this hour; False (one more case counted) otherwise."""
    if mail.accepted or limits.take(session, rt.config, limits.NEW_CASE, sender):
        return False
    held, new = held_case(session, rt, message, mail, sender)
    if new:
        limit = rt.config.limits.new_cases_per_hour
        log.warning("case %s: %s has opened %d cases within an hour; further mail from it is held there",
                    held.id, sender, limit)
        ours = rt.config.actor_by_id(rt.config.identity.actor)
        handlers = list(ours.handlers or [ours.contact]) if ours else []
        cases.send(session, rt, held, "flood_held", {"sender": sender, "limit": limit}, to=handlers,
                   purpose="flood_held", auto_submitted="auto-generated")
    return True


def held_case(session: Session, rt, message, mail, sender: str) -> tuple[Case, bool]:
    """SENDER's open held case with MESSAGE attached, and whether it was opened just now."""
    held = session.exec(select(Case).where(Case.reporter == sender, Case.flags.contains(HELD),
                                           Case.state != states.CLOSED).order_by(Case.created_at.desc())).first()
    new = held is None
    if new:
        held = cases.open_case(
            session, "incident", who=sender, message_pk=message.id, reporter=sender,
            reporter_name=mail.from_name[:200], subject=f"Holdt tilbake: e-post fra {sender}"[:500],
            flags=HELD, lead_actor=rt.config.identity.actor or None)
    cases.attach_message(session, held, message, who=sender, action="message_held")
    return held, new


def hold_report(session: Session, rt, case: Case, message, *, reason: str) -> None:
    """CASE, just opened from MESSAGE, waits for a handler: no acknowledgement, no forward."""
    cases.change(session, case, action="report_held", reason=reason,
                 flags=flags_with(case.flags, **{REPORT_WAITS: True}))
    log.warning("case %s: report held for a handler: %s", case.id, reason)
    tell_once_an_hour(session, rt, case, "report_held", message,
                      f"Meldingen er holdt tilbake: {reason}. Den er ikke bekreftet overfor avsenderen og ikke "
                      f"meldt til NHN. Svar med #godta for å slippe den videre, eller kjør «sakspost cases accept "
                      f"{case.id}».")


def hold_forward(session: Session, rt, case: Case, *, reason: str) -> None:
    """CASE's forward to NHN waits for a handler (the hour's cap is reached)."""
    cases.change(session, case, action="nhn_forward_held", reason=reason,
                 flags=flags_with(case.flags, **{FORWARD_WAITS: True}))
    log.warning("case %s: forward to NHN held: %s", case.id, reason)
    tell_once_an_hour(session, rt, case, "forward_held", None,
                      f"Saken er ikke meldt til NHN: {reason}. Ring NHNs kundesenter om det haster, svar med "
                      f"#godta for å melde den nå, eller kjør «sakspost cases accept {case.id}».")


def tell_once_an_hour(session: Session, rt, case: Case, kind: str, message, text: str) -> None:
    """Tell the handlers TEXT about CASE, but of KIND at most once an hour in all, with how many
    cases of KIND were held in that hour (`sakspost cases list --held` lists them)."""
    count = limits.seen(session, kind + "_seen", limits.EVERYONE)
    if not limits.once_an_hour(session, kind + "_notice", limits.EVERYONE):
        return
    more = (f"\n\n{count} saker er holdt tilbake den siste timen; se «sakspost cases list --held». "
            "Du får ikke flere slike varsler før om en time.") if count > 1 else ""
    notify.news(session, rt, case, "Holdt tilbake: venter på saksbehandler", text + more,
                purpose=f"handler_{kind}", reply_to_message=message)
