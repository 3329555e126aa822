"""Where the files that ship with sakspost are, and whether the templates the daemon sends are there.

The repository's top-level `templates/`, `config/` and `systemd/` folders are the package's data: a
wheel carries them as `daemon/share/...` (setup.py maps them), a checkout or an editable install has
them beside the package. `check_templates` is what `check-config` and `run` ask before they say
"configuration OK" or accept mail: a directory without the templates would dead-letter every report.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, TemplateError

_PACKAGE = Path(__file__).resolve().parent

# Every template the daemon renders itself (`templates/nb/NAME.txt`; an `.html` twin is optional).
REQUIRED_TEMPLATES = (
    "_signature", "acknowledgement", "actor_question", "citizen_extension_notice", "citizen_receipt",
    "closure_notice", "command_confirmation", "command_refused", "deadline_reminder", "info_request",
    "log_followup_notice", "nhn_forward", "nhn_update", "status_update",
)


class MissingFiles(Exception):
    """A file sakspost ships with is missing or unreadable; the message says which and where."""


def shipped(name: str) -> Path:
    """The shipped folder NAME (`templates`, `config`, `systemd`): in the installed package's share/,
    else beside the package in a checkout."""
    for candidate in (_PACKAGE / "share" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    return _PACKAGE / "share" / name


def check_templates(directory: Path, language: str = "nb", env: Environment | None = None) -> int:
    """Every required template is in DIRECTORY/LANGUAGE and every template there compiles (in ENV,
    the renderer's environment with its filters, where given); returns how many were read."""
    folder = Path(directory) / language
    missing = [f"{language}/{name}.txt" for name in REQUIRED_TEMPLATES if not (folder / f"{name}.txt").is_file()]
    if missing:
        raise MissingFiles(f"templates missing in {directory}: {', '.join(missing)}")
    env = env or Environment(loader=FileSystemLoader(str(directory)))
    names = sorted(p.name for p in folder.iterdir() if p.suffix in (".txt", ".html"))
    for name in names:
        try:
            env.get_template(f"{language}/{name}")
        except TemplateError as exc:
            raise MissingFiles(f"template {folder / name} cannot be read: {exc}") from None
    return len(names)
