"""The kinds of value a configuration key holds, each checked one way wherever it is used.

An e-mail address is what `email_validator` (syntax only, no DNS) accepts; a domain is what may
follow the @ of such an address (so `nhn.example` is a domain and not an address). The RFC 2606
names `.example` are ordinary domains to it. The special-use names a deployment really has, RFC
6761's `.test`, `.invalid` and `.localhost` and RFC 6762's `.local` (a hospital's internal mail
domain), are accepted too: email_validator refuses them as not globally deliverable, which a
mail system behind an organisation's own relay need not be (`load.warnings` names `.invalid`,
where no mail can ever arrive). A check raises `PydanticCustomError`, which the loader reports
under the key.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

_KEYWORD = re.compile(r"^[A-Za-z0-9_.$-]+$")


class ConfigError(Exception):
    """The configuration is unusable; the message names the key (and the line) and the problem."""


def refuse(message: str, at: tuple = ()) -> PydanticCustomError:
    """The error a check raises: MESSAGE, about the key AT below the one being checked (if any)."""
    return PydanticCustomError("sakspost", "{message}", {"message": message, "at": at})


def shown(value: str) -> str:
    """VALUE as TOML writes a string."""
    return json.dumps(value, ensure_ascii=False)


# The special-use top-level names accepted in addresses (email_validator refuses every name of its
# SPECIAL_USE_DOMAIN_NAMES; `.onion` and `.arpa` stay refused).
ACCEPTED_SPECIAL_USE = ("test", "local", "invalid", "localhost")


def special_use_name(value: str) -> str | None:
    """The accepted special-use name VALUE (an address or a domain) ends in, if any."""
    last = value.rpartition("@")[2].rpartition(".")[2].lower()
    return last if last in ACCEPTED_SPECIAL_USE else None


def _address_problem(value: str) -> str | None:
    special = special_use_name(value)
    if special and "." in value.rpartition("@")[2]:
        # every other check as written: an ordinary last label of the same length stands in for
        # the special-use one, so the length limits count alike
        value = value[: -len(special)] + "z" * len(special)
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def _domain_problem(value: str) -> str | None:
    if "@" in value:
        return "a domain has no @"
    problem = _address_problem(f"postmaster@{value}")
    return problem and problem.replace("The part after the @-sign", "The domain")


def email_address(value: str) -> str:
    problem = _address_problem(value)
    if problem:
        raise refuse(f"{shown(value)} is not an e-mail address ({problem})")
    return value


def optional_email_address(value: str) -> str:
    """An address, or empty for none."""
    return email_address(value) if value else value


def domain(value: str) -> str:
    """A domain (a leading @ is allowed: `@nhn.example`)."""
    problem = _domain_problem(value.removeprefix("@"))
    if problem:
        raise refuse(f"{shown(value)} is not a domain ({problem})")
    return value


def address_or_domain(value: str) -> str:
    """An address (`noreply@helsenorge.no`) or a domain (`helsenorge.no`, `@helsenorge.no`)."""
    if "@" in value.removeprefix("@"):
        return email_address(value)
    problem = _domain_problem(value.removeprefix("@"))
    if problem:
        raise refuse(f"{shown(value)} is neither an e-mail address nor a domain ({problem})")
    return value


def one_of(*choices: str):
    def check(value: str) -> str:
        if value not in choices:
            raise refuse(f"{value!r} is not one of {', '.join(choices)}")
        return value
    return AfterValidator(check)


def _port(value: int) -> int:
    if not 0 < value < 65536:
        raise refuse(f"{value} is not a TCP port (1-65535)")
    return value


def _keyword(value: str) -> str:
    if not _KEYWORD.match(value):
        raise refuse(f"{value!r} is not an IMAP keyword (letters, digits, _ . - $)")
    return value


EmailAddress = Annotated[str, AfterValidator(email_address)]
OptionalEmailAddress = Annotated[str, AfterValidator(optional_email_address)]
Domain = Annotated[str, AfterValidator(domain)]
AddressOrDomain = Annotated[str, AfterValidator(address_or_domain)]
Port = Annotated[int, AfterValidator(_port)]
Keyword = Annotated[str, AfterValidator(_keyword)]

ROLES = ("support", "citizen_forms", "nhn", "log_followup")
Role = Annotated[str, one_of(*ROLES)]


def without_plus(address: str) -> str:
    """ADDRESS without a plus-part in its local part (a handler's command address, `x+tag@d`)."""
    local, at, domain_ = address.rpartition("@")
    return f"{local.partition('+')[0]}{at}{domain_}" if at and "+" in local else address


def listen_address(value: str, key: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets) as a (host, port) pair."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{key}: {value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
