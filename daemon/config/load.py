"""Reading a configuration: the TOML file (or the embedded default) into a `Config`, and every
problem pydantic finds said as `FILE line N: [section].key: what is wrong`, one line each."""

from __future__ import annotations

import os
import tomllib
import typing

from pathlib import Path

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .lines import key_lines, line_of
from .model import LIST_SECTIONS, Config
from .sections import Database, Paths
from .values import ConfigError

_GOT_TYPE = {
    "int_type": "expected an integer", "int_parsing": "expected an integer", "float_type": "expected a number",
    "float_parsing": "expected a number", "bool_type": "expected true or false",
    "bool_parsing": "expected true or false", "string_type": "expected a string",
}
_BOUND = {"greater_than_equal": ("ge", "{} or more"), "greater_than": ("gt", "more than {}"),
          "less_than_equal": ("le", "{} or less"), "less_than": ("lt", "less than {}")}


def key_name(path: tuple) -> str:
    """PATH as the file writes it: `[receiver].port`, `[[address]][2].email`, `[digest].recipients[1]`."""
    if not path:
        return "(the file)"
    head, *rest = path
    name = f"[[{head}]]" if head in LIST_SECTIONS else f"[{head}]"
    for part in rest:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def _walk(path: tuple) -> tuple[type[BaseModel] | None, typing.Any]:
    """The section model at PATH (None past a plain value), and the pydantic field of its last key."""
    model: type[BaseModel] | None = Config
    field = None
    for part in path:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None, None
        field = model.model_fields[part]
        model = _inner_model(field.annotation)
    return model, field


def _inner_model(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_inner_model, typing.get_args(annotation)) if m), None)


def _problem(error: dict) -> tuple[tuple, str]:
    """The key a pydantic ERROR is about, and what is wrong with it in the file's terms."""
    kind, path, value = error["type"], tuple(error["loc"]), error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "sakspost":
        return path + tuple(ctx.get("at", ())), ctx["message"]
    if kind in _GOT_TYPE:
        return path, f"{_GOT_TYPE[kind]}, got {value!r}"
    if kind == "tuple_type":
        if len(path) == 1 and path[0] in LIST_SECTIONS:
            return path, f"expected an array of tables ([[{path[0]}]])"
        return path, f"expected a list, got {type(value).__name__}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return path, f"expected a table, got {type(value).__name__}"
    if kind == "extra_forbidden":
        holder, _ = _walk(path[:-1])
        known = ", ".join(sorted(set(holder.model_fields) - {"source"})) if holder else ""
        what = "unknown section" if len(path) == 1 else "unknown key"
        return path, f"{what} (known: {known})"
    if kind == "missing":
        return path, "required key is missing"
    if kind == "string_too_short":
        return path, "must not be empty"
    if kind in _BOUND:
        bound, wording = _BOUND[kind]
        _, field = _walk(path)
        why = f" ({field.description})" if field is not None and field.description else ""
        limit = ctx[bound]
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        return path, f"must be {wording.format(limit)}, got {value!r}{why}"
    return path, error["msg"]


def _tuples(value):
    """TOML's arrays as tuples, which the frozen models hold (pydantic's strict mode takes no list)."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def parse(data: dict, source: str = "(inline)", text: str | None = None) -> Config:
    """The configuration in DATA (as tomllib reads it) from SOURCE; TEXT, the file's own text, puts
    line numbers into the errors. ConfigError lists every problem found, one a line."""
    if "source" in data:
        raise ConfigError(key_name(("source",)) + ": unknown section")
    try:
        return Config.model_validate({**_tuples(data), "source": source})
    except ValidationError as exc:
        lines = key_lines(text) if text is not None else {}
        problems = {}
        for error in exc.errors(include_url=False):
            path, message = _problem(error)
            line = line_of(lines, path)
            where = f"{source} line {line}: " if line else (f"{source}: " if text is not None else "")
            problems.setdefault(f"{where}{key_name(path)}: {message}", line or 0)
        raise ConfigError("\n".join(sorted(problems, key=problems.get))) from None


def relative_to(data: dict, folder: Path) -> dict:
    """DATA with the paths it names, or its defaults name, that are relative (`var_dir = "var"`,
    `sqlite:///var/sakspost.db`) made relative to FOLDER, the configuration file's, not to the
    current directory: a command run elsewhere finds the daemon's registry, never a new one."""
    paths, database = data.get("paths", {}), data.get("database", {})
    if not isinstance(paths, dict) or not isinstance(database, dict):
        return data  # the checks say what is wrong with it
    paths = dict(paths)
    for key in ("var_dir", "sent_maildir", "templates_dir"):
        value = paths.get(key, Paths.model_fields[key].default)
        if isinstance(value, str) and value:
            paths[key] = str(folder / value)  # an absolute path stays as it is
    database = dict(database)
    url = database.get("url", Database.model_fields["url"].default)
    if isinstance(url, str) and url.startswith("sqlite:"):
        try:
            parsed = make_url(url)
        except ArgumentError:
            parsed = None
        if parsed is not None and parsed.database and parsed.database != ":memory:" \
                and not parsed.database.startswith("file:"):
            database["url"] = parsed.set(database=str(folder / parsed.database)).render_as_string(hide_password=False)
    return {**data, "paths": paths, "database": database}


def load(path: str | os.PathLike | None = None) -> Config:
    """Load from PATH, else $SAKSPOST_CONFIG, else the embedded default. Relative paths in a file
    are the file's folder's (`relative_to`); the embedded default's are the current directory's."""
    path = path or os.environ.get("SAKSPOST_CONFIG")
    if not path:
        return parse({}, source="(embedded default)")
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse(relative_to(data, Path(path).absolute().parent), source=str(path), text=text)


def log_format(path: str | os.PathLike | None = None) -> str:
    """The `[logging] format` the file at PATH (else $SAKSPOST_CONFIG) asks for, read even from a
    file that does not load, so that its errors are written as its log is ("text" if unreadable)."""
    path = path or os.environ.get("SAKSPOST_CONFIG")
    try:
        with open(path, "rb") as fh:
            chosen = tomllib.load(fh).get("logging", {}).get("format")
    except (OSError, TypeError, ValueError, AttributeError):
        return "text"
    return "json" if chosen == "json" else "text"


def warnings(config: Config) -> list[str]:
    """What is allowed but worth an operator's look, for `check-config` to print: actors whose
    users have no local support documented (NHN's management meetings ask every actor for it),
    support addresses without an NHN intake to escalate A and B reports to, and mail relayed from an
    address at `.invalid` (the embedded default's), which no one can answer."""
    found = [f"[[actor]] {a.id!r} ({a.name}): no local_support documented: how do its users get help, "
             "and how do its cases reach NHN?"
             for a in config.actor if a.kind in ("source", "consumer") and not a.local_support.strip()]
    support = any(a.role == "support" for a in config.address) or any(m.role == "support" for m in config.mailbox)
    if support and not config.nhn.intake_address:
        found.append("support addresses are configured but [nhn].intake_address is not: severity A and B "
                     "reports cannot be escalated to NHN by mail")
    if config.relay is not None and config.identity.address.lower().endswith(".invalid"):
        found.append(f"[identity].address is {config.identity.address!r}: mail sent through [relay] from an "
                     "address at .invalid can never be answered (RFC 6761); set your own support address")
    return found
