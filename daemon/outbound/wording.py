"""How our mail names things a reader sees: a case's state in the reader's language (bokmål:
ny, venter på opplysninger, åpen, løst, lukket), an actor by its display name rather than its
id, a moment in Norwegian local time (Europe/Oslo, summer time included), and the greeting fitted
to each recipient (a person by name, a group or an organisation without one).

Registered as Jinja filters and globals by the renderer; the command line uses the same names.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

STATE_NAMES = {
    "nb": {"new": "ny", "awaiting_info": "venter på opplysninger", "open": "åpen", "resolved": "løst",
           "closed": "lukket"},
    "en": {"new": "new", "awaiting_info": "awaiting information", "open": "open", "resolved": "resolved",
           "closed": "closed"},
}


def state_name(state: str | None, language: str = "nb") -> str:
    return STATE_NAMES.get(language, STATE_NAMES["nb"]).get(state or "", state or "")


def actor_name(config, actor_id: str | None) -> str:
    """ACTOR_ID's display name (`[[actor]] name`), else the id itself, else ""."""
    if not actor_id:
        return ""
    actor = config.actor_by_id(actor_id)
    return actor.name if actor else actor_id


def local_time(moment: datetime | None, with_date: bool = True) -> str:
    """MOMENT in Europe/Oslo, as `02.12.2026 kl. 10:14` (a naive value is taken to be UTC)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(OSLO)
    return local.strftime("%d.%m.%Y kl. %H:%M") if with_date else local.strftime("kl. %H:%M")


def greeting(name: str = "", language: str = "nb") -> str:
    """`Hei Kari Nordmann,` for one person we know by name; `Hei,` for a group, an organisation's
    mailbox or someone whose name we do not have."""
    word = "Hei" if language == "nb" else "Hello"
    name = " ".join((name or "").split())
    return f"{word} {name}," if name else f"{word},"


def install(env, config, language: str) -> None:
    """Make these names available to templates rendered in ENV."""
    env.filters["state_name"] = lambda state: state_name(state, language)
    env.filters["actor_name"] = lambda actor_id: actor_name(config, actor_id)
    env.filters["local_time"] = local_time
    env.globals["greeting"] = lambda name="": greeting(name, language)
