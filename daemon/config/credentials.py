"""Secrets named by the configuration (passwords, the token secret): read from a file, a systemd
credential or an environment variable, never from the configuration file itself."""

from __future__ import annotations

import os
from pathlib import Path

from .lines import key_lines, line_of
from .values import ConfigError


def read_secret(path: str, env: str, where: str, kind: str = "password") -> str:
    """The secret in file PATH or environment variable ENV (an empty one is refused). Under systemd a PATH without a slash is a
    credential's name (`LoadCredential=NAME:/etc/sakspost/FILE`), read from $CREDENTIALS_DIRECTORY."""
    if path:
        credentials = os.environ.get("CREDENTIALS_DIRECTORY")
        if credentials and "/" not in path:
            path = os.path.join(credentials, path)
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            hint = "" if credentials or "/" in path else " (nor is $CREDENTIALS_DIRECTORY set, for a credential)"
            raise ConfigError(f"{where}.{kind}_file: cannot read {path!r}: {exc.strerror}{hint}") from None
        if not value:
            raise ConfigError(f"{where}.{kind}_file: {path!r} is empty")
        return value
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{where}.{kind}_env: environment variable {env} is not set")
        if not value.strip():
            raise ConfigError(f"{where}.{kind}_env: environment variable {env} is empty")
        return value
    return ""


def _login_secret(login, at: tuple) -> tuple[tuple, object] | None:
    """The key of LOGIN's ([relay], a [[mailbox]]) secret and how to read it."""
    if login.auth == "xoauth2":
        return (*at, "oauth2_client_secret_file"), login.oauth2_client_secret
    if login.password_file or login.password_env:
        return (*at, "password_file" if login.password_file else "password_env"), login.password
    return None


def check_secrets(config) -> None:
    """Every configured secret can be read (without showing it anywhere); ConfigError names each
    one that cannot by its key, and by the line of the file that names it."""
    checks = []
    if config.relay is not None and (config.relay.username or config.relay.auth == "xoauth2"):
        checks.append(_login_secret(config.relay, ("relay",)))
    checks += [_login_secret(mailbox, ("mailbox", i)) for i, mailbox in enumerate(config.mailbox)]
    if config.identity.secret_file or config.identity.secret_env:
        checks.append((("identity", "secret_file" if config.identity.secret_file else "secret_env"),
                       lambda: read_secret(config.identity.secret_file, config.identity.secret_env, "[identity]",
                                           "secret")))
    problems = []
    for path, read in filter(None, checks):
        try:
            read()
        except ConfigError as exc:
            problems.append(f"{_line(config.source, path)}{exc}")
    if problems:
        raise ConfigError("\n".join(problems))


def _line(source: str, path: tuple) -> str:
    """`FILE line N: ` for the key at PATH in the configuration file SOURCE ("" without a file)."""
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeError, ValueError):
        return ""
    line = line_of(key_lines(text), path)
    return f"{source} line {line}: " if line else f"{source}: "
