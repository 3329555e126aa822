"""The workflows, loaded: importing `daemon.incident.hooks` and `daemon.citizen.hooks` registers
their commands, rules, verdict handlers and parse reader with the pipeline (`pipeline.hooks`),
which imports no workflow. Whatever builds a `Runtime` calls `load()` first (`Runtime.open` does).

The registrations live in `hooks` modules, not in the packages' `__init__`, so the parse helper,
which imports `daemon.incident.fields` for the reader, stays small."""

from __future__ import annotations


def load() -> None:
    """Register both workflows with the pipeline; a second call changes nothing."""
    from .incident import hooks as incident  # noqa: F401  (registers on import)
    from .citizen import hooks as citizen  # noqa: F401
