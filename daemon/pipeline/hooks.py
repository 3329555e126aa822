"""What the workflows give the pipeline: their commands, classification rules, verdict handlers,
reply handlers and the reader the parse helper runs. The pipeline imports no workflow.

`daemon.incident.hooks` and `daemon.citizen.hooks` call these functions when they are imported,
which `daemon.workflows.load()` does (and `Runtime.open` calls it), so everything is registered
before any mail or command is processed. Registering the same thing again changes nothing.
"""

from __future__ import annotations

from typing import Callable

from .rules import RULES

COMMANDS: dict = {}  # a command's word (its name or an alias) -> pipeline.commands.Command
HANDLERS: dict[str, Callable] = {}  # verdict kind -> handler(session, rt, message, mail, verdict)
REPLIES: dict[str, Callable] = {}  # case kind -> handler of a reply on such a case
_READER: list[Callable] = []  # reader(subject, text): what a mail documents, worked out at parse time


def commands(*found) -> None:
    """Make FOUND (`pipeline.commands.Command`s) known by their names and aliases."""
    for command in found:
        for word in (command.name, *command.aliases):
            COMMANDS[word] = command


def rule(module, *, before) -> None:
    """Ask the rule MODULE (`name`, `description`, `check`) just before the rule BEFORE."""
    if module not in RULES:
        RULES.insert(RULES.index(before), module)


def handler(kind: str, function: Callable) -> None:
    """FUNCTION handles verdicts of KIND."""
    HANDLERS[kind] = function


def reply(case_kind: str, function: Callable, *, default: bool = False) -> None:
    """FUNCTION handles a reply on a case of CASE_KIND (with DEFAULT, on a case of any kind
    no other function is registered for)."""
    REPLIES[case_kind] = function
    if default:
        REPLIES[None] = function


def reader(function: Callable) -> None:
    """FUNCTION(subject, text) is run for each mail in the parse helper; its result is the
    parsed mail's `documented`. A module-level function: it is pickled by reference."""
    _READER[:] = [function]


def read_with() -> Callable | None:
    """The registered reader, if any."""
    return _READER[0] if _READER else None
