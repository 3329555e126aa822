"""Configuration: read the TOML file, validate every key, and fill in the embedded default.

Decides what a configuration means and whether it is acceptable. The keys, their types and
defaults are pydantic models (`sections`, `model`); every address key is checked by one e-mail
address validator (`values`). Every error names the key and its line (`sakspost.toml line 42:
[nhn].intake_address: ...`) and says what is wrong; the command line turns a `ConfigError` into
exit code 2. With no file at all the daemon runs on the embedded default: SQLite in ./var, a
receiver on 127.0.0.1:2525 taking every recipient as user support, and outbound mail written to
the maildir ./var/sent/ instead of a relay.
"""

from .credentials import check_secrets, read_secret
from .load import key_name, load, log_format, parse, warnings
from .model import LIST_SECTIONS, Config
from .sections import (ACTOR_KINDS, FORM_TYPES, LANGUAGES, MINOR_CASES, SEVERITIES, Actor, Address, Citizen,
                       CitizenRoute, Database, DeadlineMonths, Digest, Identity, Incident, Limits, Logging,
                       Mailbox, Metrics, Nhn, Notify, Outbox, Paths, Pipeline, Receiver, Relay, Retention,
                       Security, StaleDays)
from .values import ROLES, ConfigError, is_loopback, listen_address, without_plus

__all__ = [
    "ACTOR_KINDS", "FORM_TYPES", "LANGUAGES", "LIST_SECTIONS", "MINOR_CASES", "ROLES", "SEVERITIES",
    "Actor", "Address", "Citizen", "CitizenRoute", "Config", "ConfigError", "Database", "DeadlineMonths",
    "Digest", "Identity", "Incident", "Limits", "Logging", "Mailbox", "Metrics", "Nhn", "Notify", "Outbox",
    "Paths", "Pipeline", "Receiver", "Relay", "Retention", "Security", "StaleDays",
    "check_secrets", "is_loopback", "key_name", "listen_address", "load", "log_format", "parse", "read_secret",
    "warnings", "without_plus",
]
