"""A handler's `#godta` (and `sakspost cases accept`): what was held on a case goes on.

- A report held on its own case (from a sender our border says failed DMARC, or past the hour's
  cap on new cases) is reviewed, acknowledged and, at severity A or B, forwarded to NHN, as it
  would have been on arrival.
- A forward to NHN held by `[limits] nhn_forwards_per_hour` goes now.
- Each mail held as unproven in a role (`pipeline.roles`) is applied again as if it had proved
  its sender: NHN's reference and answer recorded and passed on, the reporter's or a member's
  words reaching whoever they would have reached.
- On a held case (a flood from one sender, or an unproven NHN with no case of ours), each held
  mail is applied as if it had just arrived and the held case is closed.

Every release is audited (`message_accepted`, `report_released`) in the same transaction as the
mail it causes.
"""

from __future__ import annotations

from sqlmodel import Session

from .. import notify
from ..pipeline import process, roles
from ..pipeline.handlers import held
from ..registry import cases, states
from ..registry.models import Case, Message
from . import handlers, workflow


def accept(session: Session, rt, case: Case, *, who: str) -> str:
    """Release what waits on CASE; what was done, in bokmål ("" if nothing waited)."""
    done = []
    if held.has_flag(case, held.REPORT_WAITS):
        cases.change(session, case, who=who, action="report_released",
                     flags=held.flags_with(case.flags, **{held.REPORT_WAITS: False}))
        first = workflow.first_message(session, case)
        handlers.open_and_acknowledge(session, rt, case, first, who=who)
        notify.new_case(session, rt, case, first)
        done.append("meldingen er sluppet videre")
    if held.has_flag(case, held.FORWARD_WAITS) and case.escalated_at is None:
        cases.change(session, case, who=who, action="nhn_forward_released",
                     flags=held.flags_with(case.flags, **{held.FORWARD_WAITS: False}))
        if workflow.escalate_to_nhn(session, rt, case, who=who, reason="sluppet av saksbehandler", released=True):
            done.append("saken er meldt til NHN")
    bucket = held.has_flag(case, held.HELD)
    # on a held case every mail it holds, flood and unproven alike, in the order it came
    pending = roles.held_messages(session, case, also=("message_held",) if bucket else ())
    for pk in pending:
        message = session.get(Message, pk)
        cases.note(session, case, roles.ACCEPTED, who=who, message_pk=pk, detail={"from": message.from_addr})
        process.apply_again(session, rt, message, None if bucket else case.id)
    if held.has_flag(case, held.UNPROVEN_WAITS):
        cases.change(session, case, who=who, action="unproven_released",
                     flags=held.flags_with(case.flags, **{held.UNPROVEN_WAITS: False}))
    if pending:
        done.append(f"{len(pending)} e-post(er) er godtatt og behandlet")
    if bucket and case.state != states.CLOSED:
        cases.transition(session, case, states.CLOSED, who=who, reason="godtatt: e-posten er behandlet")
    return "; ".join(done)
