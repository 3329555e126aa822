"""Secrets named by the configuration (passwords, the token secret): read from a file, a systemd
credential or an environment variable, never from the configuration file itself."""

from __future__ import annotations

import os
from pathlib import Path

from .values import ConfigError


def read_secret(path: str, env: str, where: str, kind: str = "password") -> str:
    """The secret in file PATH or environment variable ENV. Under systemd a PATH without a slash is a
    credential's name (`LoadCredential=NAME:/etc/sakspost/FILE`), read from $CREDENTIALS_DIRECTORY."""
    if path:
        credentials = os.environ.get("CREDENTIALS_DIRECTORY")
        if credentials and "/" not in path:
            path = os.path.join(credentials, path)
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            hint = "" if credentials or "/" in path else " (nor is $CREDENTIALS_DIRECTORY set, for a credential)"
            raise ConfigError(f"{where}.{kind}_file: cannot read {path!r}: {exc.strerror}{hint}") from None
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{where}.{kind}_env: environment variable {env} is not set")
        return value
    return ""


def check_secrets(config) -> None:
    """Every configured secret can be read (without showing it anywhere)."""
    if config.relay is not None and config.relay.username:
        config.relay.password()
    for mailbox in config.mailbox:
        mailbox.password()
    if config.identity.secret_file or config.identity.secret_env:
        read_secret(config.identity.secret_file, config.identity.secret_env, "[identity]", "secret")
