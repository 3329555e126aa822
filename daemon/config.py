"""Configuration: read the TOML file, validate every key, and fill in the embedded default.

Decides what a configuration means and whether it is acceptable. Every error names the key
(`[receiver].port`, `[[address]][2].role`) and says what is wrong; the command line turns a
`ConfigError` into exit code 2. With no file at all the daemon runs on the embedded default:
SQLite in ./var, a receiver on 127.0.0.1:2525 taking every recipient as user support, and
outbound mail written to the maildir ./var/sent/ instead of a relay.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import secrets
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("support", "citizen_forms", "nhn", "log_followup")
ACTOR_KINDS = ("source", "consumer", "nhn", "vendor", "local_support")
SEVERITIES = ("A", "B", "C", "D")
LANGUAGES = ("nb", "en")
MINOR_CASES = ("immediate", "digest", "none")
FORM_TYPES = ("copy_of_record", "access_log", "blocking", "correction", "lookup_question")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_DOMAIN = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
_KEYWORD = re.compile(r"^[A-Za-z0-9_.$-]+$")


class ConfigError(Exception):
    """The configuration is unusable; the message names the key and the problem."""


@dataclass(frozen=True)
class Database:
    url: str = "sqlite:///var/sakspost.db"
    pool_size: int = 5


@dataclass(frozen=True)
class Receiver:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2525
    protocol: str = "smtp"
    max_message_bytes: int = 26214400
    hostname: str = ""
    max_connections: int = 200  # more at once are told 421
    idle_seconds: float = 300.0  # a connection silent this long is closed (RFC 5321 4.5.3.2.7)


@dataclass(frozen=True)
class Relay:
    host: str = ""
    port: int = 587
    starttls: bool = True
    implicit_tls: bool = False
    verify_certificate: bool = True
    username: str = ""
    password_file: str = ""
    password_env: str = ""
    timeout_seconds: float = 30.0

    def password(self) -> str:
        return read_secret(self.password_file, self.password_env, "[relay]")


@dataclass(frozen=True)
class Identity:
    address: str = "brukerstotte@sakspost.invalid"
    name: str = "Brukerstøtte"
    actor: str = ""
    secret_file: str = ""
    secret_env: str = ""
    language: str = "nb"  # nb | en: the templates our mail is written from

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True)
class Address:
    email: str
    role: str = "support"


@dataclass(frozen=True)
class Outbox:
    max_attempts: int = 12
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    poll_seconds: float = 5.0


@dataclass(frozen=True)
class Pipeline:
    batch_size: int = 50
    claim_lease_seconds: float = 300.0
    parse_helper: bool = True


@dataclass(frozen=True)
class Paths:
    var_dir: str = "var"
    sent_maildir: str = ""
    templates_dir: str = ""
    group: str = ""  # files readable by this group too (0640); none: by the daemon's user only (0600)


@dataclass(frozen=True)
class Metrics:
    listen: str = ""  # "127.0.0.1:9464": /metrics and /healthz there; empty: no listener


@dataclass(frozen=True)
class Logging:
    format: str = "text"  # or "json": one JSON object a line


@dataclass(frozen=True)
class Retention:
    closed_case_days: int = 0  # `sakspost purge` removes cases closed longer ago; 0: only with --before


@dataclass(frozen=True)
class Mailbox:
    name: str
    host: str
    username: str
    port: int = 993
    tls: str = "implicit"
    password_file: str = ""
    password_env: str = ""
    folder: str = "INBOX"
    role: str = "support"
    move_to: str = ""
    keyword: str = "SakspostDone"
    idle: bool = True
    idle_renew_seconds: float = 540.0
    poll_seconds: float = 60.0
    timeout_seconds: float = 60.0

    def password(self) -> str:
        return read_secret(self.password_file, self.password_env, f"[[mailbox]] {self.name}")


@dataclass(frozen=True)
class Actor:
    id: str
    name: str
    kind: str
    contact: str = ""
    handlers: tuple[str, ...] = ()
    local_support: str = ""
    phone: str = ""

    def addresses(self) -> frozenset[str]:
        """Every address the actor is known by (contact, local support, handlers), lower case."""
        return frozenset(a.lower() for a in (self.contact, self.local_support, *self.handlers) if a)

    def domains(self) -> frozenset[str]:
        return frozenset(a.rpartition("@")[2] for a in self.addresses())

    def reached_at(self) -> list[str]:
        """Where the actor's people are told of a case: its handlers, else its contact point."""
        return list(self.handlers) or ([self.contact] if self.contact else [])


@dataclass(frozen=True)
class Nhn:
    intake_address: str = ""
    phone: str = ""
    sender_domains: tuple[str, ...] = ()
    reference_pattern: str = r"\b(?:NHN|CS|INC)[-_ ]?\d{4,}\b"
    auto_submitted: str = ""
    actor: str = ""


@dataclass(frozen=True)
class StaleDays:
    """Days without activity before an open incident's lead is reminded, per severity (A sooner
    than D); a case without a severity counts as D."""

    A: int = 1
    B: int = 3
    C: int = 14
    D: int = 30

    def for_severity(self, severity: str | None) -> int:
        return getattr(self, severity) if severity in SEVERITIES else self.D


@dataclass(frozen=True)
class Incident:
    info_request_interval_hours: float = 24.0
    verification_hours: float = 24.0
    stale_days: StaleDays = field(default_factory=StaleDays)


@dataclass(frozen=True)
class Digest:
    """The weekly digest for NHN's management meetings: a crontab line in Europe/Oslo time
    (weekdays by name: `mon`..`sun`), and who gets it (none: no digest is sent)."""

    schedule: str = "0 8 * * mon"
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notify:
    """Who at home hears of a case (`daemon.notify`): ADDRESS, else the handlers of this
    organisation's [[actor]]. A and B cases are told at once; C, D and cases without a
    severity as MINOR_CASES says: "immediate", "digest" (one mail a day) or "none"."""

    address: str = ""
    minor_cases: str = "digest"


@dataclass(frozen=True)
class Security:
    """How a mail proves its sender before a command in it changes a case (README: "Commands need
    proof"): the authserv-id of the Authentication-Results header our own border MTA adds."""

    trusted_authserv_id: str = ""


@dataclass(frozen=True)
class Limits:
    """Caps on automatic mail and on cases, per address and sliding hour; the configured actors'
    and handlers' addresses, NHN's sender domains and EXEMPT_SENDERS (addresses or domains) are
    not capped."""

    auto_mails_per_hour: int = 10
    new_cases_per_hour: int = 20
    exempt_senders: tuple[str, ...] = ()


@dataclass(frozen=True)
class CitizenRoute:
    """One row of the citizen routing table: MATCH found in the form's institution field, the
    recipient address or the body places the case with the source actor OWNER."""

    match: str
    owner: str


@dataclass(frozen=True)
class DeadlineMonths:
    """Calendar months from receipt to answer, per form type (GDPR art. 12(3): one month;
    pasientjournalloven § 18 for the access log; pasient- og brukerrettighetsloven §§ 5-1, 5-2)."""

    copy_of_record: int = 1
    access_log: int = 1
    blocking: int = 1
    correction: int = 1
    lookup_question: int = 1


@dataclass(frozen=True)
class Citizen:
    default_owner: str = ""  # an [[actor]] id for cases the routing table cannot place
    guidance_phone: str = "23 32 70 00"  # Veiledning Helsenorge
    log_followup_address: str = ""  # the separate log follow-up routine (access log, lookup questions)
    deadline_months: DeadlineMonths = field(default_factory=DeadlineMonths)
    max_extension_months: int = 2
    reminder_days: tuple[int, ...] = (7, 2, 0)  # days before the deadline; 0 = the day it passes
    duplicate_window_hours: float = 24.0
    # Senders whose mail is a system's, not the citizen's (helsenorge.no's no-reply): the receipt
    # goes to the form's E-post field instead. Local parts like noreply/no-reply always count.
    no_reply_senders: tuple[str, ...] = ()
    route: tuple[CitizenRoute, ...] = ()
    # Told when a citizen case's deadline passes unanswered (with the owner, in the same mail).
    escalation_address: str = ""
    # What the owner's people are told to do once the answer is posted, in their own terms,
    # beside replying with #besvart-per-post (e.g. "registrer svaret i DIPS og svar ...").
    answer_routine: str = ""
    # This organisation's postal address, printed as the sender of letters to citizens.
    letter_address: str = ""


@dataclass(frozen=True)
class Config:
    database: Database = field(default_factory=Database)
    receiver: Receiver = field(default_factory=Receiver)
    relay: Relay | None = None
    identity: Identity = field(default_factory=Identity)
    address: tuple[Address, ...] = ()
    outbox: Outbox = field(default_factory=Outbox)
    pipeline: Pipeline = field(default_factory=Pipeline)
    paths: Paths = field(default_factory=Paths)
    mailbox: tuple[Mailbox, ...] = ()
    actor: tuple[Actor, ...] = ()
    nhn: Nhn = field(default_factory=Nhn)
    incident: Incident = field(default_factory=Incident)
    citizen: Citizen = field(default_factory=Citizen)
    security: Security = field(default_factory=Security)
    notify: Notify = field(default_factory=Notify)
    limits: Limits = field(default_factory=Limits)
    digest: Digest = field(default_factory=Digest)
    metrics: Metrics = field(default_factory=Metrics)
    logging: Logging = field(default_factory=Logging)
    retention: Retention = field(default_factory=Retention)
    source: str = "(embedded default)"

    # -- derived views ------------------------------------------------------------------
    @property
    def var_dir(self) -> Path:
        return Path(self.paths.var_dir)

    @property
    def sent_maildir(self) -> Path:
        return Path(self.paths.sent_maildir) if self.paths.sent_maildir else self.var_dir / "sent"

    @property
    def templates_dir(self) -> Path:
        if self.paths.templates_dir:
            return Path(self.paths.templates_dir)
        from .resources import shipped

        return shipped("templates")

    def roles_for(self, recipient: str) -> tuple[str, ...]:
        """The roles a recipient address serves; every address is support when none is listed."""
        if not self.address:
            return ("support",)
        rcpt = without_plus(recipient.strip().lower())
        return tuple(a.role for a in self.address if a.email.lower() == rcpt)

    def actor_by_id(self, actor_id: str) -> Actor | None:
        return next((a for a in self.actor if a.id == actor_id), None)

    def actor_by_address(self, address: str) -> Actor | None:
        """The configured actor ADDRESS is one of the addresses of (its plus-part ignored)."""
        address = without_plus((address or "").strip().lower())
        return next((a for a in self.actor if address and address in a.addresses()), None)

    def is_handler(self, address: str) -> bool:
        """Whether ADDRESS is among some actor's `handlers`."""
        address = (address or "").strip().lower()
        return any(address == h.lower() for actor in self.actor for h in actor.handlers)

    def is_nhn_sender(self, address: str) -> bool:
        """Whether ADDRESS is NHN's intake or in one of NHN's sender domains."""
        address = (address or "").strip().lower()
        domains = {d.lower().lstrip("@") for d in self.nhn.sender_domains}
        return bool(address) and (address == self.nhn.intake_address.lower() or address.rpartition("@")[2] in domains)

    def hmac_secret(self) -> bytes:
        """The local secret behind our Message-ID tokens: from a file or env var, else generated once."""
        if self.identity.secret_file or self.identity.secret_env:
            return read_secret(self.identity.secret_file, self.identity.secret_env, "[identity]", "secret").encode()
        path = self.var_dir / "secret"
        try:
            return path.read_bytes().strip()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            token = secrets.token_hex(32).encode()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(token)
            return token


def without_plus(address: str) -> str:
    """ADDRESS without a plus-part in its local part (a handler's command address, `x+tag@d`)."""
    local, at, domain = address.rpartition("@")
    return f"{local.partition('+')[0]}{at}{domain}" if at and "+" in local else address


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


def check_secrets(config: Config) -> None:
    """Every configured secret can be read (without showing it anywhere)."""
    if config.relay is not None and config.relay.username:
        config.relay.password()
    for mailbox in config.mailbox:
        mailbox.password()
    if config.identity.secret_file or config.identity.secret_env:
        read_secret(config.identity.secret_file, config.identity.secret_env, "[identity]", "secret")


# -- loading -------------------------------------------------------------------------------

_LIST_SECTIONS = {"address": Address, "mailbox": Mailbox, "actor": Actor}
_TABLE_SECTIONS = {
    "database": Database, "receiver": Receiver, "relay": Relay, "identity": Identity,
    "outbox": Outbox, "pipeline": Pipeline, "paths": Paths, "nhn": Nhn, "incident": Incident,
    "citizen": Citizen, "security": Security, "limits": Limits, "digest": Digest,
    "metrics": Metrics, "logging": Logging, "retention": Retention, "notify": Notify,
}


def _coerce(value, hint, key: str):
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(value, args[0], key)
    if origin is tuple:
        (inner, _) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        return tuple(_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    raise ConfigError(f"{key}: unsupported value {value!r}")  # pragma: no cover - schema bug


def _build(cls, raw, key: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a table, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in raw.items():
        if name not in known:
            raise ConfigError(f"{key}.{name}: unknown key (known: {', '.join(sorted(known))})")
        kwargs[name] = _coerce(value, hints[name], f"{key}.{name}")
    for name, f in known.items():
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}.{name}: required key is missing")
    return cls(**kwargs)


def parse(data: dict, source: str = "(inline)") -> Config:
    kwargs: dict = {}
    for name, raw in data.items():
        if name in _LIST_SECTIONS:
            if not isinstance(raw, list):
                raise ConfigError(f"[[{name}]]: expected an array of tables ([[{name}]])")
            kwargs[name] = tuple(_build(_LIST_SECTIONS[name], item, f"[[{name}]][{i}]") for i, item in enumerate(raw))
        elif name in _TABLE_SECTIONS:
            kwargs[name] = _build(_TABLE_SECTIONS[name], raw, f"[{name}]")
        else:
            known = sorted([*_LIST_SECTIONS, *_TABLE_SECTIONS])
            raise ConfigError(f"[{name}]: unknown section (known: {', '.join(known)})")
    config = Config(source=source, **kwargs)
    validate(config)
    return config


def validate(config: Config) -> None:
    """Check meanings the types alone do not catch."""
    r = config.receiver
    if r.protocol not in ("smtp", "lmtp"):
        raise ConfigError(f"[receiver].protocol: must be \"smtp\" or \"lmtp\", got {r.protocol!r}")
    if not 0 < r.port < 65536:
        raise ConfigError(f"[receiver].port: {r.port} is not a TCP port (1-65535)")
    if r.max_message_bytes < 1024:
        raise ConfigError(f"[receiver].max_message_bytes: {r.max_message_bytes} is too small (at least 1024)")
    if config.relay is not None:
        if not config.relay.host:
            raise ConfigError("[relay].host: required when [relay] is present")
        if config.relay.username and not (config.relay.password_file or config.relay.password_env):
            raise ConfigError("[relay].password_file: a username needs password_file or password_env")
    if not _EMAIL.match(config.identity.address):
        raise ConfigError(f"[identity].address: {config.identity.address!r} is not an e-mail address")
    for i, a in enumerate(config.address):
        if not _EMAIL.match(a.email):
            raise ConfigError(f"[[address]][{i}].email: {a.email!r} is not an e-mail address")
        if a.role not in ROLES:
            raise ConfigError(f"[[address]][{i}].role: {a.role!r} is not one of {', '.join(ROLES)}")
    names = set()
    for i, m in enumerate(config.mailbox):
        _validate_mailbox(m, f"[[mailbox]][{i}]")
        if m.name in names:
            raise ConfigError(f"[[mailbox]][{i}].name: {m.name!r} is used twice")
        names.add(m.name)
    ids = set()
    for i, a in enumerate(config.actor):
        if a.kind not in ACTOR_KINDS:
            raise ConfigError(f"[[actor]][{i}].kind: {a.kind!r} is not one of {', '.join(ACTOR_KINDS)}")
        if a.id in ids:
            raise ConfigError(f"[[actor]][{i}].id: {a.id!r} is used twice")
        ids.add(a.id)
    if config.identity.actor and config.identity.actor not in ids:
        raise ConfigError(f"[identity].actor: {config.identity.actor!r} is not an [[actor]] id")
    if config.identity.language not in LANGUAGES:
        raise ConfigError(f"[identity].language: {config.identity.language!r} is not one of {', '.join(LANGUAGES)}")
    if config.notify.address and not _EMAIL.match(config.notify.address):
        raise ConfigError(f"[notify].address: {config.notify.address!r} is not an e-mail address")
    if config.notify.minor_cases not in MINOR_CASES:
        raise ConfigError(f"[notify].minor_cases: must be one of {', '.join(MINOR_CASES)}, "
                          f"got {config.notify.minor_cases!r}")
    _validate_citizen(config.citizen, ids)
    _validate_limits(config.limits)
    _validate_stale_days(config.incident.stale_days)
    _validate_digest(config.digest)
    _validate_operations(config)
    if config.nhn.reference_pattern:
        try:
            re.compile(config.nhn.reference_pattern)
        except re.error as exc:
            raise ConfigError(f"[nhn].reference_pattern: not a regular expression: {exc}") from None


def _validate_limits(limits: Limits) -> None:
    for key in ("auto_mails_per_hour", "new_cases_per_hour"):
        if getattr(limits, key) < 1:
            raise ConfigError(f"[limits].{key}: must be 1 or more, got {getattr(limits, key)}")
    for i, entry in enumerate(limits.exempt_senders):
        if not (_EMAIL.match(entry) or _DOMAIN.match(entry.lstrip("@"))):
            raise ConfigError(f"[limits].exempt_senders[{i}]: {entry!r} is neither an address nor a domain")


def _validate_citizen(c: Citizen, actor_ids: set) -> None:
    if c.default_owner and c.default_owner not in actor_ids:
        raise ConfigError(f"[citizen].default_owner: {c.default_owner!r} is not an [[actor]] id")
    if c.log_followup_address and not _EMAIL.match(c.log_followup_address):
        raise ConfigError(f"[citizen].log_followup_address: {c.log_followup_address!r} is not an e-mail address")
    if c.escalation_address and not _EMAIL.match(c.escalation_address):
        raise ConfigError(f"[citizen].escalation_address: {c.escalation_address!r} is not an e-mail address")
    for form_type in FORM_TYPES:
        months = getattr(c.deadline_months, form_type)
        if not 1 <= months <= 12:
            raise ConfigError(f"[citizen].deadline_months.{form_type}: {months} is not 1-12 months")
    if not 0 <= c.max_extension_months <= 2:
        raise ConfigError(f"[citizen].max_extension_months: {c.max_extension_months} is not 0-2 "
                          "(GDPR art. 12(3) allows two more months at most)")
    for days in c.reminder_days:
        if days < 0:
            raise ConfigError(f"[citizen].reminder_days: {days} is negative")
    if c.duplicate_window_hours < 0:
        raise ConfigError("[citizen].duplicate_window_hours: must not be negative")
    for i, route in enumerate(c.route):
        if not route.match.strip():
            raise ConfigError(f"[citizen].route[{i}].match: must not be empty")
        if route.owner not in actor_ids:
            raise ConfigError(f"[citizen].route[{i}].owner: {route.owner!r} is not an [[actor]] id")


def _validate_stale_days(stale: StaleDays) -> None:
    days = [getattr(stale, s) for s in SEVERITIES]
    for severity, value in zip(SEVERITIES, days):
        if value < 1:
            raise ConfigError(f"[incident].stale_days.{severity}: {value} must be at least 1 day")
    if days != sorted(days):
        raise ConfigError("[incident].stale_days: must not grow shorter from A to D (A is reminded soonest), got "
                          + ", ".join(f"{s}={v}" for s, v in zip(SEVERITIES, days)))


_WEEKDAY_NUMBER = re.compile(r"\d")


def _validate_digest(d: Digest) -> None:
    from apscheduler.triggers.cron import CronTrigger

    fields = d.schedule.split()
    if len(fields) != 5:
        raise ConfigError(f"[digest].schedule: {d.schedule!r} is not a crontab line "
                          "(minute hour day month weekday, e.g. \"0 8 * * mon\")")
    if _WEEKDAY_NUMBER.search(fields[4]):
        # APScheduler 3 counts weekday 0 as Monday, crontab as Sunday: names leave no doubt
        raise ConfigError(f"[digest].schedule: weekday {fields[4]!r}: name the days (mon, tue, ..., sun)")
    try:
        CronTrigger.from_crontab(d.schedule, timezone="Europe/Oslo")
    except ValueError as exc:
        raise ConfigError(f"[digest].schedule: {d.schedule!r}: {exc}") from None
    for i, address in enumerate(d.recipients):
        if not _EMAIL.match(address):
            raise ConfigError(f"[digest].recipients[{i}]: {address!r} is not an e-mail address")


def warnings(config: Config) -> list[str]:
    """What is allowed but worth an operator's look, for `check-config` to print: actors whose
    users have no local support documented (NHN's management meetings ask every actor for it),
    and support addresses without an NHN intake to escalate A and B reports to."""
    found = [f"[[actor]] {a.id!r} ({a.name}): no local_support documented: how do its users get help, "
             "and how do its cases reach NHN?"
             for a in config.actor if a.kind in ("source", "consumer") and not a.local_support.strip()]
    support = any(a.role == "support" for a in config.address) or any(m.role == "support" for m in config.mailbox)
    if support and not config.nhn.intake_address:
        found.append("support addresses are configured but [nhn].intake_address is not: severity A and B "
                     "reports cannot be escalated to NHN by mail")
    return found


def listen_address(value: str, key: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets) as a (host, port) pair."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{key}: {value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _validate_operations(config: Config) -> None:
    if config.metrics.listen:
        listen_address(config.metrics.listen, "[metrics].listen")
    if config.logging.format not in ("text", "json"):
        raise ConfigError(f"[logging].format: must be \"text\" or \"json\", got {config.logging.format!r}")
    if config.retention.closed_case_days < 0:
        raise ConfigError("[retention].closed_case_days: must not be negative")
    if config.paths.group:
        import grp

        try:
            grp.getgrnam(config.paths.group)
        except KeyError:
            raise ConfigError(f"[paths].group: no group {config.paths.group!r} on this machine") from None


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _validate_mailbox(m: Mailbox, key: str) -> None:
    if not m.name.strip():
        raise ConfigError(f"{key}.name: must not be empty")
    if not m.host.strip():
        raise ConfigError(f"{key}.host: must not be empty")
    if not 0 < m.port < 65536:
        raise ConfigError(f"{key}.port: {m.port} is not a TCP port (1-65535)")
    if m.role not in ROLES:
        raise ConfigError(f"{key}.role: {m.role!r} is not one of {', '.join(ROLES)}")
    if m.tls not in ("implicit", "starttls", "none"):
        raise ConfigError(f"{key}.tls: must be \"implicit\", \"starttls\" or \"none\", got {m.tls!r}")
    if m.tls == "none" and not is_loopback(m.host):
        raise ConfigError(f"{key}.tls: \"none\" sends the password in clear and is allowed only for a loopback "
                          f"host (127.0.0.0/8, ::1, localhost), not {m.host!r}; use \"implicit\" or \"starttls\"")
    if not (m.password_file or m.password_env):
        raise ConfigError(f"{key}.password_file: password_file or password_env is required")
    if not m.folder.strip():
        raise ConfigError(f"{key}.folder: must not be empty")
    if m.move_to and m.move_to == m.folder:
        raise ConfigError(f"{key}.move_to: must differ from folder ({m.folder!r})")
    if not _KEYWORD.match(m.keyword):
        raise ConfigError(f"{key}.keyword: {m.keyword!r} is not an IMAP keyword (letters, digits, _ . - $)")
    if not 1 <= m.idle_renew_seconds <= 1740:
        raise ConfigError(f"{key}.idle_renew_seconds: {m.idle_renew_seconds:g} must be between 1 and 1740 "
                          f"(IDLE must be re-issued inside the 29-minute limit)")
    for name in ("poll_seconds", "timeout_seconds"):
        if getattr(m, name) <= 0:
            raise ConfigError(f"{key}.{name}: must be more than 0")


def load(path: str | os.PathLike | None = None) -> Config:
    """Load from PATH, else $SAKSPOST_CONFIG, else the embedded default."""
    path = path or os.environ.get("SAKSPOST_CONFIG")
    if not path:
        return parse({}, source="(embedded default)")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse(data, source=str(path))
