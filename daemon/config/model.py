"""The whole configuration (`Config`): its sections, what refers across them, and the views the
daemon asks of it (the roles of a recipient, the actor behind an address, the token secret)."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import model_validator

from .credentials import read_secret
from .sections import (Actor, Address, Citizen, Database, Digest, Identity, Incident, Limits, Logging, Mailbox,
                       Metrics, Nhn, Notify, Outbox, Paths, Pipeline, Receiver, Relay, Retention, Section, Security)
from .values import refuse, without_plus

# The sections written as arrays of tables ([[address]]), the others as tables ([receiver]).
LIST_SECTIONS = ("address", "mailbox", "actor")


class Config(Section):
    database: Database = Database()
    receiver: Receiver = Receiver()
    relay: Relay | None = None
    identity: Identity = Identity()
    address: tuple[Address, ...] = ()
    outbox: Outbox = Outbox()
    pipeline: Pipeline = Pipeline()
    paths: Paths = Paths()
    mailbox: tuple[Mailbox, ...] = ()
    actor: tuple[Actor, ...] = ()
    nhn: Nhn = Nhn()
    incident: Incident = Incident()
    citizen: Citizen = Citizen()
    security: Security = Security()
    notify: Notify = Notify()
    limits: Limits = Limits()
    digest: Digest = Digest()
    metrics: Metrics = Metrics()
    logging: Logging = Logging()
    retention: Retention = Retention()
    source: str = "(embedded default)"  # the file it was read from; not a key of the file

    @model_validator(mode="after")
    def _references(self):
        """Names that must be unique, and actor ids that must name an [[actor]]."""
        names: set[str] = set()
        for i, mailbox in enumerate(self.mailbox):
            if mailbox.name in names:
                raise refuse(f"{mailbox.name!r} is used twice", at=("mailbox", i, "name"))
            names.add(mailbox.name)
        ids: set[str] = set()
        for i, actor in enumerate(self.actor):
            if actor.id in ids:
                raise refuse(f"{actor.id!r} is used twice", at=("actor", i, "id"))
            ids.add(actor.id)
        for at, actor_id in ((("identity", "actor"), self.identity.actor),
                             (("citizen", "default_owner"), self.citizen.default_owner)):
            if actor_id and actor_id not in ids:
                raise refuse(f"{actor_id!r} is not an [[actor]] id", at=at)
        for i, route in enumerate(self.citizen.route):
            if route.owner not in ids:
                raise refuse(f"{route.owner!r} is not an [[actor]] id", at=("citizen", "route", i, "owner"))
        return self

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
        from ..resources import shipped

        return shipped("templates")

    @cached_property
    def roles_by_address(self) -> dict[str, tuple[str, ...]]:
        """Each [[address]] email (lower case) and the roles it serves, in the file's order."""
        roles: dict[str, tuple[str, ...]] = {}
        for a in self.address:
            roles[a.email.lower()] = (*roles.get(a.email.lower(), ()), a.role)
        return roles

    @cached_property
    def actors_by_address(self) -> dict[str, Actor]:
        """Every address of every actor (lower case) and the first actor known by it."""
        found: dict[str, Actor] = {}
        for actor in self.actor:
            for address in actor.addresses():
                found.setdefault(address, actor)
        return found

    @cached_property
    def handler_addresses(self) -> frozenset[str]:
        return frozenset(h.lower() for actor in self.actor for h in actor.handlers)

    @cached_property
    def nhn_domains(self) -> frozenset[str]:
        return frozenset(d.lower().lstrip("@") for d in self.nhn.sender_domains)

    def roles_for(self, recipient: str) -> tuple[str, ...]:
        """The roles a recipient address serves; every address is support when none is listed."""
        if not self.address:
            return ("support",)
        return self.roles_by_address.get(without_plus(recipient.strip().lower()), ())

    def actor_by_id(self, actor_id: str) -> Actor | None:
        return next((a for a in self.actor if a.id == actor_id), None)

    def actor_by_address(self, address: str) -> Actor | None:
        """The configured actor ADDRESS is one of the addresses of (its plus-part ignored)."""
        return self.actors_by_address.get(without_plus((address or "").strip().lower()))

    def is_handler(self, address: str) -> bool:
        """Whether ADDRESS is among some actor's `handlers`."""
        return (address or "").strip().lower() in self.handler_addresses

    def is_nhn_sender(self, address: str) -> bool:
        """Whether ADDRESS is NHN's intake or in one of NHN's sender domains."""
        address = (address or "").strip().lower()
        return bool(address) and (address == self.nhn.intake_address.lower()
                                  or address.rpartition("@")[2] in self.nhn_domains)

    def hmac_secret(self, create: bool = True) -> bytes | None:
        """The local secret behind our Message-ID tokens: from a file or env var, else generated once
        (with CREATE; without, None where there is none yet)."""
        if self.identity.secret_file or self.identity.secret_env:
            return read_secret(self.identity.secret_file, self.identity.secret_env, "[identity]", "secret").encode()
        path = self.var_dir / "secret"
        try:
            return path.read_bytes().strip()
        except FileNotFoundError:
            if not create:
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
            token = secrets.token_hex(32).encode()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(token)
            return token
