"""Caps that end mail loops and floods (`[limits]`), counted in a sliding hour.

Decides whether one more automatic mail may go to an address (`auto_mails_per_hour`, 10) and
whether one more case may be opened for a sender (`new_cases_per_hour`, 20). An auto-responder
that drops our tag and threading would otherwise get an acknowledgement for every mail it sends
us and open a case for each: with these caps the two settle within a few mails. Configured
actors' and handlers' addresses, NHN's sender domains and intake address and
`[limits] exempt_senders` and `[citizen] no_reply_senders` (addresses or domains: a form
gateway) and `[notify] address` are never capped by address, but every sender together is
capped (`take_total`: new cases and forwards to NHN an hour), and an alert about one sender or
to one handler goes at most once an hour (`once_an_hour`, with the hour's count from `seen`).
The counts live in the
registry (`RateEvent`), so they hold across restarts and across instances sharing a database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Integer, bindparam, delete, func, insert, select, type_coerce
from sqlmodel import Session

from . import sql
from .models import RateEvent, utcnow

AUTO_MAIL = "auto_mail"
NEW_CASE = "new_case"
# the caps for every sender together (`[limits] new_cases_per_hour_total`, `nhn_forwards_per_hour`),
# counted under one key whatever the sender, exempt or not
NEW_CASE_TOTAL = "new_case_total"
NHN_FORWARD = "nhn_forward"
EVERYONE = "*"
WINDOW = timedelta(hours=1)
_EVENTS = RateEvent.__table__


def _counted(kind, address, since):
    return select(func.count()).select_from(_EVENTS).where(
        _EVENTS.c.kind == kind, _EVENTS.c.address == address, _EVENTS.c.at > since)


_COUNT = sql.Prepared(lambda: _counted(bindparam("kind"), bindparam("address"), bindparam("since")))
# One statement: the event is inserted only if the hour holds fewer than the limit (the count
# reads the index on kind, address and at).
_TAKE = sql.Prepared(lambda: insert(_EVENTS).from_select(
    ["kind", "address", "at"],
    select(type_coerce(bindparam("kind"), _EVENTS.c.kind.type),
           type_coerce(bindparam("address"), _EVENTS.c.address.type),
           type_coerce(bindparam("at"), _EVENTS.c.at.type))
    .where(_counted(bindparam("kind2"), bindparam("address2"), bindparam("since")).scalar_subquery()
           < type_coerce(bindparam("limit"), Integer))))


def exempt(config, address: str) -> bool:
    """Whether ADDRESS is one of those the caps never apply to."""
    address = (address or "").lower()
    known = _known(config)
    got = known.get(address)
    if got is None:
        if len(known) >= 10_000:
            known.clear()
        got = known[address] = _exempt(config, address)
    return got


_ANSWERS: dict[int, tuple[object, dict[str, bool]]] = {}


def _known(config) -> dict[str, bool]:
    """What `exempt` has answered for CONFIG (a configuration is read once and not changed)."""
    entry = _ANSWERS.get(id(config))
    if entry is None or entry[0] is not config:
        if len(_ANSWERS) >= 8:
            _ANSWERS.clear()
        entry = _ANSWERS[id(config)] = (config, {})
    return entry[1]


def _exempt(config, address: str) -> bool:
    domain = address.rpartition("@")[2]
    listed = {e.lower().lstrip("@") for e in (*config.limits.exempt_senders, *config.citizen.no_reply_senders)}
    if address in listed or domain in listed or address == config.notify.address.lower():
        return True
    return config.is_nhn_sender(address) or config.actor_by_address(address) is not None


def recent(session, kind: str, address: str, now: datetime | None = None) -> int:
    """How many KIND events ADDRESS has had in the hour before NOW."""
    since = (now or utcnow()) - WINDOW
    return _COUNT.scalar(session, {"kind": kind, "address": address.lower(), "since": since}) or 0


def take(session, config, kind: str, address: str, now: datetime | None = None) -> bool:
    """Count one KIND event for ADDRESS in the caller's transaction if the cap allows it; False
    (nothing counted) when ADDRESS has had its hour's worth. Exempt addresses always may."""
    if not address or exempt(config, address):
        return True
    limit = config.limits.auto_mails_per_hour if kind == AUTO_MAIL else config.limits.new_cases_per_hour
    return _take(session, kind, address.lower(), limit, now or utcnow())


def take_total(session, config, kind: str, now: datetime | None = None) -> bool:
    """Count one KIND event (NEW_CASE_TOTAL or NHN_FORWARD) for every sender together, exempt
    or not, if its hourly cap allows; False (nothing counted) when the hour is full."""
    limit = (config.limits.new_cases_per_hour_total if kind == NEW_CASE_TOTAL
             else config.limits.nhn_forwards_per_hour)
    return _take(session, kind, EVERYONE, limit, now or utcnow())


def once_an_hour(session, kind: str, key: str, now: datetime | None = None) -> bool:
    """Whether one KIND event for KEY may happen now: at most one an hour, whoever KEY is (an
    alert to one handler, a notice about one held sender). Counted when it may."""
    return _take(session, kind, (key or EVERYONE).lower(), 1, now or utcnow())


def seen(session, kind: str, key: str, now: datetime | None = None) -> int:
    """Record one KIND event for KEY, uncapped, and return how many KEY has had in the hour:
    the count an hourly alert reports."""
    now = now or utcnow()
    key = (key or EVERYONE).lower()
    session.connection().execute(insert(_EVENTS).values(kind=kind, address=key, at=now))
    return recent(session, kind, key, now)


def _take(session, kind: str, address: str, limit: int, now: datetime) -> bool:
    cursor = _TAKE.run(session, {"kind": kind, "address": address, "at": now, "kind2": kind,
                                 "address2": address, "since": now - WINDOW, "limit": limit})
    taken = cursor.rowcount == 1
    cursor.close()
    return taken


def forget_old(engine, now: datetime | None = None) -> int:
    """Remove the events more than a day old (they count for nothing after an hour): a
    scheduled job."""
    with Session(engine) as session:
        result = session.execute(delete(RateEvent).where(RateEvent.at < (now or utcnow()) - timedelta(days=1)))
        session.commit()
    return result.rowcount or 0
