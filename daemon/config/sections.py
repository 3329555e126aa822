"""The configuration's sections as pydantic models: each key's type, default and allowed values.

Every section refuses keys it does not know, takes values only of the key's own TOML type (no
"25" for a port) and checks its own values; `Config` (daemon.config.model) checks what refers
across sections. An address key takes an `EmailAddress`, a list of them `tuple[EmailAddress, ...]`
(daemon.config.values), so every address is checked the same way.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .credentials import read_secret
from .values import (AddressOrDomain, ConfigError, Domain, EmailAddress, Keyword, OptionalEmailAddress, Port, Role,
                     is_loopback, listen_address, one_of, refuse)

SEVERITIES = ("A", "B", "C", "D")
ACTOR_KINDS = ("source", "consumer", "nhn", "vendor", "local_support")
LANGUAGES = ("nb", "en")
MINOR_CASES = ("immediate", "digest", "none")
FORM_TYPES = ("copy_of_record", "access_log", "blocking", "correction", "lookup_question")


class Section(BaseModel):
    """A table of the file: its keys typed strictly, unknown keys refused, frozen once read."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    def __str__(self) -> str:  # as a dataclass prints: `Metrics(listen='')`
        return repr(self)


class Database(Section):
    url: str = "sqlite:///var/sakspost.db"
    pool_size: int = Field(5, ge=1)


class Receiver(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Port = 2525
    protocol: Annotated[str, one_of("smtp", "lmtp")] = "smtp"
    max_message_bytes: int = Field(26214400, ge=1024)
    hostname: str = ""
    max_connections: int = Field(200, ge=1)  # more at once are told 421
    max_connections_per_peer: int = Field(20, ge=1)  # more at once from one address are told 421
    idle_seconds: float = Field(300.0, gt=0)  # a connection silent this long is closed (RFC 5321 4.5.3.2.7)

    @model_validator(mode="after")
    def _no_peer_takes_every_place(self):
        if self.max_connections_per_peer >= self.max_connections:
            raise refuse(f"must be below max_connections ({self.max_connections}): one address could take "
                         "every place", at=("max_connections_per_peer",))
        return self


class OAuth2Login(Section):
    """`auth = "xoauth2"`: SASL XOAUTH2 with a token of the client-credentials grant (Microsoft 365)."""

    auth: Annotated[str, one_of("password", "xoauth2")] = "password"
    oauth2_token_url: str = ""
    oauth2_client_id: str = ""
    oauth2_client_secret_file: str = ""  # a path, or a systemd credential's name (LoadCredential)
    oauth2_scope: str = ""

    def _oauth2_complete(self) -> bool:
        """Whether the keys of the chosen `auth` are given (raises for the first that is not)."""
        if self.auth != "xoauth2":
            return False
        for key in ("oauth2_token_url", "oauth2_client_id", "oauth2_client_secret_file", "oauth2_scope"):
            if not getattr(self, key).strip():
                raise refuse('required with auth = "xoauth2"', at=(key,))
        if not self.oauth2_token_url.startswith("https://"):
            raise refuse(f"{self.oauth2_token_url!r} is not an https:// URL (the client secret goes there)",
                         at=("oauth2_token_url",))
        return True

    def oauth2_client_secret(self) -> str:
        return read_secret(self.oauth2_client_secret_file, "", self.where(), "oauth2_client_secret")

    def where(self) -> str:
        """The section as messages name it: `[relay]`, `[[mailbox]] NAME`."""
        raise NotImplementedError


class Relay(OAuth2Login):
    host: str = ""
    port: Port = 587
    starttls: bool = True
    implicit_tls: bool = False
    verify_certificate: bool = True
    username: str = ""
    password_file: str = ""
    password_env: str = ""
    timeout_seconds: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _complete(self):
        if not self.host:
            raise refuse("required when [relay] is present", at=("host",))
        if not (self.starttls or self.implicit_tls) and not is_loopback(self.host):
            raise refuse(f"starttls = false toward {self.host!r} would send mail (and any password) in clear: "
                         "starttls or implicit_tls is required for a relay not on loopback", at=("starttls",))
        if self._oauth2_complete():
            if not self.username:
                raise refuse('required with auth = "xoauth2" (the mailbox that sends)', at=("username",))
            if not (self.starttls or self.implicit_tls):
                raise refuse('auth = "xoauth2" sends a token: starttls or implicit_tls is required', at=("starttls",))
        elif self.username and not (self.password_file or self.password_env):
            raise refuse("a username needs password_file or password_env", at=("password_file",))
        return self

    def password(self) -> str:
        return read_secret(self.password_file, self.password_env, "[relay]")

    def where(self) -> str:
        return "[relay]"


class Identity(Section):
    address: EmailAddress = "brukerstotte@sakspost.invalid"  # the embedded default, never checked
    name: str = "Brukerstøtte"
    actor: str = ""
    secret_file: str = ""
    secret_env: str = ""
    language: Annotated[str, one_of(*LANGUAGES)] = "nb"  # the templates our mail is written from

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


class Address(Section):
    email: EmailAddress
    role: Role = "support"


class Outbox(Section):
    max_attempts: int = Field(12, ge=1)
    backoff_seconds: float = Field(30.0, ge=0)
    backoff_max_seconds: float = Field(3600.0, ge=0)
    poll_seconds: float = Field(5.0, gt=0)


class Pipeline(Section):
    batch_size: int = Field(50, ge=1)
    claim_lease_seconds: float = Field(300.0, gt=0)
    parse_helper: bool = True


class Paths(Section):
    var_dir: str = "var"
    sent_maildir: str = ""
    templates_dir: str = ""
    group: str = ""  # files readable by this group too (0640); none: by the daemon's user only (0600)

    @model_validator(mode="after")
    def _group_exists(self):
        if self.group:
            import grp

            try:
                grp.getgrnam(self.group)
            except KeyError:
                raise refuse(f"no group {self.group!r} on this machine", at=("group",)) from None
        return self


class Metrics(Section):
    listen: str = ""  # "127.0.0.1:9464": /metrics and /healthz there; empty: no listener

    @model_validator(mode="after")
    def _host_port(self):
        if self.listen and not _is_host_port(self.listen):
            raise refuse(f"{self.listen!r} is not HOST:PORT", at=("listen",))
        return self


def _is_host_port(value: str) -> bool:
    try:
        listen_address(value, "")
    except ConfigError:
        return False
    return True


class Logging(Section):
    format: Annotated[str, one_of("text", "json")] = "text"  # json: one JSON object a line


class Retention(Section):
    closed_case_days: int = Field(0, ge=0)  # `sakspost purge` removes cases closed longer ago; 0: only --before


class Mailbox(OAuth2Login):
    name: str
    host: str
    username: str
    port: Port = 993
    tls: Annotated[str, one_of("implicit", "starttls", "none")] = "implicit"
    password_file: str = ""
    password_env: str = ""
    folder: str = "INBOX"
    role: Role = "support"
    move_to: str = ""
    keyword: Keyword = "SakspostDone"
    idle: bool = True
    idle_renew_seconds: float = Field(540.0, ge=1, le=1740,
                                      description="IDLE must be re-issued inside the 29-minute limit")
    poll_seconds: float = Field(60.0, gt=0)
    timeout_seconds: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _usable(self):
        if not self.name.strip():
            raise refuse("must not be empty", at=("name",))
        if not self.host.strip():
            raise refuse("must not be empty", at=("host",))
        if self.tls == "none" and not is_loopback(self.host):
            raise refuse("\"none\" sends the password (or token) in clear and is allowed only for a loopback host "
                         f"(127.0.0.0/8, ::1, localhost), not {self.host!r}; use \"implicit\" or \"starttls\"",
                         at=("tls",))
        if not self._oauth2_complete() and not (self.password_file or self.password_env):
            raise refuse("password_file or password_env is required", at=("password_file",))
        if not self.folder.strip():
            raise refuse("must not be empty", at=("folder",))
        if self.move_to and self.move_to == self.folder:
            raise refuse(f"must differ from folder ({self.folder!r})", at=("move_to",))
        return self

    def password(self) -> str:
        return read_secret(self.password_file, self.password_env, f"[[mailbox]] {self.name}")

    def where(self) -> str:
        return f"[[mailbox]] {self.name}"


class Actor(Section):
    id: str
    name: str
    kind: Annotated[str, one_of(*ACTOR_KINDS)]
    contact: OptionalEmailAddress = ""
    handlers: tuple[EmailAddress, ...] = ()
    local_support: OptionalEmailAddress = ""
    phone: str = ""

    def addresses(self) -> frozenset[str]:
        """Every address the actor is known by (contact, local support, handlers), lower case."""
        return frozenset(a.lower() for a in (self.contact, self.local_support, *self.handlers) if a)

    def domains(self) -> frozenset[str]:
        return frozenset(a.rpartition("@")[2] for a in self.addresses())

    def reached_at(self) -> list[str]:
        """Where the actor's people are told of a case: its handlers, else its contact point."""
        return list(self.handlers) or ([self.contact] if self.contact else [])


class Nhn(Section):
    intake_address: OptionalEmailAddress = ""
    phone: str = ""
    sender_domains: tuple[Domain, ...] = ()
    reference_pattern: str = r"\b(?:NHN|CS|INC)[-_ ]?\d{4,}\b"
    auto_submitted: str = ""
    actor: str = ""

    @model_validator(mode="after")
    def _pattern_compiles(self):
        try:
            re.compile(self.reference_pattern)
        except re.error as exc:
            raise refuse(f"not a regular expression: {exc}", at=("reference_pattern",)) from None
        return self


class StaleDays(Section):
    """Days without activity before an open incident's lead is reminded, per severity (A sooner
    than D); a case without a severity counts as D."""

    A: int = Field(1, ge=1)
    B: int = Field(3, ge=1)
    C: int = Field(14, ge=1)
    D: int = Field(30, ge=1)

    @model_validator(mode="after")
    def _ordered(self):
        days = [getattr(self, s) for s in SEVERITIES]
        if days != sorted(days):
            raise refuse("must not grow shorter from A to D (A is reminded soonest), got "
                         + ", ".join(f"{s}={v}" for s, v in zip(SEVERITIES, days)))
        return self

    def for_severity(self, severity: str | None) -> int:
        return getattr(self, severity) if severity in SEVERITIES else self.D


class Incident(Section):
    info_request_interval_hours: float = Field(24.0, ge=0)
    verification_hours: float = Field(24.0, ge=0)
    stale_days: StaleDays = StaleDays()


class Digest(Section):
    """The weekly digest for NHN's management meetings: a crontab line in Europe/Oslo time
    (weekdays by name: `mon`..`sun`), and who gets it (none: no digest is sent)."""

    schedule: str = "0 8 * * mon"
    recipients: tuple[EmailAddress, ...] = ()

    @model_validator(mode="after")
    def _schedule(self):
        from apscheduler.triggers.cron import CronTrigger

        fields = self.schedule.split()
        if len(fields) != 5:
            raise refuse(f"{self.schedule!r} is not a crontab line (minute hour day month weekday, "
                         "e.g. \"0 8 * * mon\")", at=("schedule",))
        if re.search(r"\d", fields[4]):
            # APScheduler 3 counts weekday 0 as Monday, crontab as Sunday: names leave no doubt
            raise refuse(f"weekday {fields[4]!r}: name the days (mon, tue, ..., sun)", at=("schedule",))
        try:
            CronTrigger.from_crontab(self.schedule, timezone="Europe/Oslo")
        except ValueError as exc:
            raise refuse(f"{self.schedule!r}: {exc}", at=("schedule",)) from None
        return self


class Notify(Section):
    """Who at home hears of a case (`daemon.notify`): ADDRESS, else the handlers of this
    organisation's [[actor]]. A and B cases are told at once; C, D and cases without a
    severity as MINOR_CASES says: "immediate", "digest" (one mail a day) or "none"."""

    address: OptionalEmailAddress = ""
    minor_cases: Annotated[str, one_of(*MINOR_CASES)] = "digest"


class Security(Section):
    """How a mail proves its sender before a command in it changes a case (README: "Commands need
    proof"): the authserv-id of the Authentication-Results header our own border MTA adds."""

    trusted_authserv_id: str = ""


class Limits(Section):
    """Caps on automatic mail and on cases, per address and sliding hour; the configured actors'
    and handlers' addresses, NHN's sender domains and EXEMPT_SENDERS (addresses or domains) are
    not capped."""

    auto_mails_per_hour: int = Field(10, ge=1)
    new_cases_per_hour: int = Field(20, ge=1)
    exempt_senders: tuple[AddressOrDomain, ...] = ()
    # caps for every sender together, exempt or not: past them a report is held for the
    # handlers (`incident.held`) and released by `#godta`
    new_cases_per_hour_total: int = Field(300, ge=1)
    nhn_forwards_per_hour: int = Field(30, ge=1)


class CitizenRoute(Section):
    """One row of the citizen routing table: MATCH found in the form's institution field, the
    recipient address or the body places the case with the source actor OWNER."""

    match: str
    owner: str

    @model_validator(mode="after")
    def _match_given(self):
        if not self.match.strip():
            raise refuse("must not be empty", at=("match",))
        return self


_MONTHS = Field(1, ge=1, le=12)


class DeadlineMonths(Section):
    """Calendar months from receipt to answer, per form type (GDPR art. 12(3): one month;
    pasientjournalloven § 18 for the access log; pasient- og brukerrettighetsloven §§ 5-1, 5-2)."""

    copy_of_record: int = _MONTHS
    access_log: int = _MONTHS
    blocking: int = _MONTHS
    correction: int = _MONTHS
    lookup_question: int = _MONTHS


class Citizen(Section):
    default_owner: str = ""  # an [[actor]] id for cases the routing table cannot place
    guidance_phone: str = "23 32 70 00"  # Veiledning Helsenorge
    log_followup_address: OptionalEmailAddress = ""  # the log follow-up routine (access log, lookup questions)
    deadline_months: DeadlineMonths = DeadlineMonths()
    max_extension_months: int = Field(2, ge=0, le=2, description="GDPR art. 12(3) allows two more months at most")
    reminder_days: tuple[Annotated[int, Field(ge=0)], ...] = (7, 2, 0)  # days before the deadline; 0 = the day
    duplicate_window_hours: float = Field(24.0, ge=0)
    # Senders whose mail is a system's, not the citizen's (helsenorge.no's no-reply): the receipt
    # goes to the form's E-post field instead. Local parts like noreply/no-reply always count.
    no_reply_senders: tuple[AddressOrDomain, ...] = ()
    route: tuple[CitizenRoute, ...] = ()
    # Told when a citizen case's deadline passes unanswered (with the owner, in the same mail).
    escalation_address: OptionalEmailAddress = ""
    # What the owner's people are told to do once the answer is posted, in their own terms,
    # beside replying with #besvart-per-post (e.g. "registrer svaret i DIPS og svar ...").
    answer_routine: str = ""
    # This organisation's postal address, printed as the sender of letters to citizens.
    letter_address: str = ""
