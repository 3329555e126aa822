"""Commands by mail: `#word argument` lines at the top of a reply to a case thread.

Decides what counts as a command and who may give one. Command lines are read from the top of
the sender's own text (quoted mail below is ignored) until the first line that is not a
command. Only the `handlers` of an actor involved in the case (this organisation, the lead,
a working-group member or vendor, the owner or answering actor of a citizen case) may command,
and only in a mail that proves it comes from them (`proof`); anything else changes nothing and
is recorded in the audit trail (`run_commands` and `refuse` say who is told).
The commands themselves live beside their workflow (`incident.commands`, `citizen.commands`),
which registers them (`pipeline.hooks.commands`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable

from ..registry import cases, limits
from ..registry.lookup import involved_actors, takes_part
from . import hooks, roles
from .proof import prove

log = logging.getLogger("sakspost.commands")

_COMMAND = re.compile(r"^\s*#([\wæøåÆØÅ-]+)\s*(.*?)\s*$")


class CommandError(Exception):
    """The command cannot be carried out; the message says why, in bokmål."""


@dataclass(frozen=True)
class Command:
    name: str  # canonical (Norwegian) name
    aliases: tuple[str, ...]
    kinds: tuple[str, ...]  # case kinds it applies to
    run: Callable  # run(ctx, argument) -> str: what changed, in bokmål
    needs_argument: bool = False
    help: str = ""


@dataclass
class Context:
    session: object
    rt: object
    case: object
    message: object
    who: str


@dataclass(frozen=True)
class Line:
    word: str
    argument: str
    text: str


def parse(text: str) -> list[Line]:
    """The command lines at the top of TEXT (the sender's own text)."""
    found: list[Line] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue  # blank lines before and between command lines
        m = _COMMAND.match(raw)
        if not m:
            break
        found.append(Line(m.group(1).lower(), m.group(2), raw.strip()))
    return found


def table() -> dict[str, Command]:
    """Every registered command by its name and its aliases."""
    return hooks.COMMANDS


def execute(session, rt, case, message, lines: list[Line], who: str) -> list[dict]:
    """Carry out LINES on CASE as WHO (already found entitled to) and return each line's outcome,
    `{"command", "result", "ok"}`: the same for a mail's commands and an operator's
    (`sakspost cases command`), whose MESSAGE is `NO_MESSAGE`."""
    by_word = table()
    ctx = Context(session=session, rt=rt, case=case, message=message, who=who)
    outcome = []
    for line in lines:
        command = by_word.get(line.word)
        if command is None:
            result, ok = f"ukjent kommando #{line.word}", False
        elif case.kind not in command.kinds:
            result, ok = "gjelder ikke denne typen sak", False
        elif command.needs_argument and not line.argument:
            result, ok = "mangler argument", False
        else:
            try:
                result, ok = command.run(ctx, line.argument), True
            except CommandError as exc:
                result, ok = str(exc), False
        outcome.append({"command": line.text, "result": result, "ok": ok})
    return outcome


@dataclass(frozen=True)
class NoMessage:
    """The message an operator's command came with: none (commands record `message_pk` None)."""

    id: None = None
    message_id: str = ""
    references: str = ""


NO_MESSAGE = NoMessage()


def handler_address(session, config, case, sender: str) -> str:
    """SENDER as configured among the handlers of an actor involved in CASE, or "" if it is not
    one. Whether the mail proves it came from that handler is `proof.prove`'s to say."""
    sender = (sender or "").lower()
    for actor_id in involved_actors(session, config, case):
        actor = config.actor_by_id(actor_id)
        for handler in (actor.handlers if actor else ()):
            if handler.lower() == sender:
                return handler
    return ""


def run_commands(session, rt, case, message, mail, lines: list[Line]) -> None:
    """Carry out the command LINES of MAIL on CASE if MAIL proves it comes from a handler of an
    involved actor; otherwise change nothing (`refuse`)."""
    texts = [line.text for line in lines]
    handler = handler_address(session, rt.config, case, mail.from_addr)
    proven = prove(mail, rt.config, rt.tokens, case.id) if handler else None
    if not proven:
        if handler:
            roles.audit_forgery(session, case, message, mail, proven)
        refuse(session, rt, case, message, mail, texts, handler,
               proven.problem if handler else "not a handler of an involved actor")
        return
    outcome = execute(session, rt, case, message, lines, handler)
    cases.note(session, case, "commands_run", who=handler, message_pk=message.id,
               detail={"results": outcome, "proven_by": proven.how})
    cases.send(session, rt, case, "command_confirmation", {"results": outcome},
               to=[handler], purpose="command_confirmation", reply_to_message=message, who=handler)


def refuse(session, rt, case, message, mail, texts: list[str], handler: str, reason: str) -> None:
    """Commands that change nothing: recorded on the case with why. Someone who wrote as a
    handler without proving it alerts that handler at the handler's configured address, never
    the mail's own, at most once an hour with the hour's count; a participant who is no handler is
    told politely; an outsider hears nothing (a refusal would tell them the case exists and
    what it is about)."""
    who = mail.from_addr or "unknown"
    cases.note(session, case, "command_refused", who=who, message_pk=message.id,
               detail={"commands": texts, "reason": reason, "from": who,
                       **({"from_problem": mail.from_problem} if mail.from_problem else {}),
                       **({"claimed_handler": handler} if handler else {})})
    log.warning("case %s: commands from %s refused: %s", case.id, who, reason)
    if handler:  # at most one alert an hour to a handler, with the hour's count: a flood is one mail
        count = limits.seen(session, "command_unproven_seen", handler)
        if limits.once_an_hour(session, "command_unproven_alert", handler):
            cases.send(session, rt, case, "command_unproven", {"commands": texts, "count": count}, to=[handler],
                       purpose="command_unproven", reply_to_message=message, who="system")
    elif mail.from_addr and not mail.from_problem and takes_part(session, rt.config, case, mail.from_addr):
        cases.send(session, rt, case, "command_refused", {"commands": texts}, to=[mail.from_addr],
                   purpose="command_refused", reply_to_message=message, who=who)
