"""What the commands share: opening the registry, reading dates, naming who acted."""

from __future__ import annotations

import sys

from sqlmodel import Session

EX_TEMPFAIL = 75


def configuration_error(exc) -> None:
    """A ConfigError said as its problems, one line each, in the chosen log format."""
    from .. import logs

    for problem in str(exc).splitlines():
        logs.problem(f"configuration error: {problem}")


def open_runtime(args):
    """The runtime of the command; one that only reads (`read_only` among its defaults) opens a
    registry that is there and creates nothing."""
    from ..runtime import Runtime

    return Runtime.open(args.cfg, read_only=getattr(args, "read_only", False))


def date_arg(value: str | None, option: str):
    """A date from the command line (YYYY-MM-DD or DD.MM.YYYY; absent: today), or None after
    saying why."""
    from ..citizen.deadlines import parse_date, today

    if not value:
        return today()
    try:
        return parse_date(value)
    except ValueError:
        print(f"{option}: {value!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return None


def acting_user() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def case_data(args, build):
    """BUILD(session, case) for the case named by args.id, or None (said on stderr) if there is none.
    The runtime is args.rt while BUILD runs."""
    from ..registry.models import Case

    rt = args.rt = open_runtime(args)
    try:
        with rt.writer.turn(), Session(rt.engine) as session:
            case = session.get(Case, args.id)
            if case is None:
                print(f"no case {args.id}", file=sys.stderr)
                return None
            return build(session, case)
    finally:
        rt.close()
