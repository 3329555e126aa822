"""The registry's tables: cases, messages (in and out) with their raw bytes and attachments,
the audit trail, the outbox and the mailbox cursors.

Decides nothing; it only says what is stored. Rows are written by `daemon.registry.store`
(raw mail as it arrives), `daemon.registry.cases` (every change to a case, with its audit
event and the mail it causes) and the runners that move outbox rows and mailbox cursors.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timezone

from pydantic_core import PydanticUndefined
from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.orm import configure_mappers, instrumentation, make_transient_to_detached
from sqlmodel import Field, SQLModel


def row_values(model: type[SQLModel], **values) -> dict:
    """The column values of a new MODEL row for a Core INSERT: VALUES over the model's defaults
    (default factories called), without an id the database is still to assign."""
    static, factories, required = _defaults(model)
    row = {**static, **{name: make() for name, make in factories.items() if name not in values}, **values}
    missing = required - row.keys()
    if missing:
        raise TypeError(f"{model.__name__} needs {', '.join(sorted(missing))}")
    if row.get("id", 0) is None:
        del row["id"]
    return row


def as_loaded(model: type[SQLModel], row: dict):
    """The MODEL object for ROW (every column's value), detached, as the ORM would give it on
    loading the row and closing its session: without the model's `__init__`, which sets every
    field again, and without the ORM's loading."""
    obj = _manager(model).new_instance()
    obj.__dict__.update(row)
    make_transient_to_detached(obj)
    return obj


def as_written(session, model: type[SQLModel], row: dict):
    """The MODEL object for ROW (every column's value, as `row_values` gives them), a row the
    caller has just written, joined to SESSION as the persistent row it is, without reading it
    back."""
    obj = as_loaded(model, row)
    session.add(obj)
    return obj


@functools.cache
def _manager(model: type[SQLModel]):
    """MODEL's class manager, its mapper configured (the model's __init__ would have seen to that)."""
    configure_mappers()
    return instrumentation.manager_of_class(model)


@functools.cache
def _defaults(model: type[SQLModel]) -> tuple[dict, dict, frozenset]:
    """MODEL's plain defaults, its default factories, and the fields that have neither."""
    static, factories, required = {}, {}, set()
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            factories[name] = field.default_factory
        elif field.default is PydanticUndefined:
            required.add(name)
        else:
            static[name] = field.default
    return static, factories, frozenset(required)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime | None) -> datetime | None:
    """MOMENT in UTC; a naive value (as some databases give back) is taken to be UTC already."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class Case(SQLModel, table=True):
    """A case: an incident report from health personnel or a citizen's form."""

    id: str = Field(primary_key=True, max_length=20)  # SAK-YYYY-NNNNNN
    kind: str = Field(index=True)  # incident | citizen_form
    state: str = Field(index=True)
    severity: str | None = None  # A-D as the reporter (or a handler) set it
    reporter: str = ""  # e-mail address of whoever reported it
    reporter_name: str = ""
    subject: str = ""
    actor: str | None = None  # the reporting actor's id
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    # incident workflow
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    service: str = ""  # where: which service, XCA gateway or system
    discovered: str = ""  # when, as the reporter wrote it
    contact: str = ""
    lead_actor: str | None = None
    nhn_reference: str | None = Field(default=None, index=True)
    nhn_classification: str | None = None
    escalated_at: datetime | None = None
    escalated_severity: str | None = None
    channel: str = ""
    info_requested_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # citizen forms
    form_type: str | None = None
    owner_actor: str | None = None
    answering_actor: str | None = None
    received_at: date | None = None
    deadline: date | None = None
    flags: str = ""  # comma-separated markers, e.g. needs_completion,unrouted


class CitizenForm(SQLModel, table=True):
    """What a citizen's form says, and how its answer went; one per citizen_form case.

    The identity number is stored in full (the source needs it to find the record); views show
    it masked and no mail ever carries it.
    """

    case_id: str = Field(primary_key=True, foreign_key="case.id", max_length=20)
    channel: str = "email"  # email | post: how the form reached us
    reply_address: str = ""  # where the citizen's receipt goes ("" for paper forms)
    submitted_at: datetime = Field(default_factory=utcnow, index=True)
    identity_number: str = Field(default="", index=True)
    name: str = ""
    address: str = ""
    phone: str = ""
    email: str = ""
    institution: str = ""
    period: str = ""
    free_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    fields_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # all fields read
    missing: str = ""  # comma-separated field keys still missing
    duplicate_key: str = Field(default="", index=True)  # sha256 of citizen, type and text
    routed_by: str = ""  # institution | recipient | body | default
    original_deadline: date | None = None
    extension_months: int = 0
    extension_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reminders_sent: str = ""  # comma-separated DEADLINE:DAYS_BEFORE, so each reminder goes once
    source_confirmed_at: datetime | None = None
    source_confirmation: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    refused: bool = False
    refusal_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    statsforvalter_notice: bool = False  # the refusal told the citizen of the right to complain
    answered_on: date | None = None
    answered_by: str = ""  # post


class CaseCounter(SQLModel, table=True):
    """The last number handed out per year, for SAK-YYYY-NNNNNN."""

    year: int = Field(primary_key=True)
    last: int = 0


class CaseActor(SQLModel, table=True):
    """An actor in a case's working group (member or vendor; the lead is on the case)."""

    __table_args__ = (UniqueConstraint("case_id", "actor_id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    actor_id: str
    role: str = "member"  # member | vendor
    added_at: datetime = Field(default_factory=utcnow)


class Message(SQLModel, table=True):
    """One mail, in or out. Inbound ones keep their raw bytes in `RawMessage`."""

    id: int | None = Field(default=None, primary_key=True)
    direction: str = Field(default="in", index=True)  # in | out
    fingerprint: str = Field(unique=True)  # sha256 of the raw bytes less trace headers
    message_id: str = Field(default="", index=True)  # the Message-ID header, without <>
    size: int = 0
    source: str = ""  # smtp | lmtp | imap:<name> | file:<path> | stdin | outbox
    mail_from: str = ""
    rcpt_tos: str = ""  # comma-separated envelope recipients
    roles: str = ""  # comma-separated roles of the recipients it reached
    status: str = Field(default="received", index=True)  # received|processing|processed|failed|queued|sent
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    attempts: int = 0
    claimed_at: datetime | None = None
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None
    case_id: str | None = Field(default=None, foreign_key="case.id", index=True)
    classification: str = ""
    subject: str = ""
    from_addr: str = ""
    in_reply_to: str = ""
    references: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    headers: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # JSON list of pairs
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class RawMessage(SQLModel, table=True):
    """The bytes exactly as they arrived (or as they were sent): the record."""

    message_pk: int = Field(primary_key=True, foreign_key="message.id")
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Attachment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="message.id", index=True)
    filename: str = ""
    content_type: str = ""
    size: int = 0
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AuditEvent(SQLModel, table=True):
    """One change to a case: who did what, when, and which mail caused or carried it."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    who: str = "system"
    action: str
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # JSON object
    message_pk: int | None = Field(default=None, foreign_key="message.id")


class OutboxMail(SQLModel, table=True):
    """A mail waiting to leave; its bytes (with a fixed Message-ID) are the outbound Message's raw."""

    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="message.id", unique=True)
    case_id: str | None = Field(default=None, foreign_key="case.id", index=True)
    purpose: str = ""  # acknowledgement | info_request | nhn_forward | ...
    mail_from: str = ""  # envelope sender
    recipients: str = ""  # comma-separated envelope recipients
    status: str = Field(default="pending", index=True)  # pending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    claimed_at: datetime | None = None
    last_error: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    # the instance delivering it (issue 15); last, where migration 0005 added it
    claimed_by: str = Field(default="", sa_column_kwargs={"server_default": ""})  # the instance delivering it


class MailboxState(SQLModel, table=True):
    """Where each IMAP mailbox's ingestion stands, so a restart resumes there."""

    name: str = Field(primary_key=True)
    uidvalidity: int | None = None
    last_uid: int = 0
    state: str = "stopped"  # connecting | connected | idle | polling | failing | stopped
    last_error: str = ""
    since: datetime | None = None
    ingested: int = 0
    duplicates: int = 0
    refused_at: datetime | None = None  # its login refused, the handlers told; cleared once it connects


class RateEvent(SQLModel, table=True):
    """An automatic mail to an address, or a case opened for one, counted against `[limits]` in a
    sliding hour (`registry.limits`); rows older than a day are removed by the clock."""

    __table_args__ = (Index("ix_rateevent_kind_address_at", "kind", "address", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # auto_mail | new_case
    address: str
    at: datetime = Field(default_factory=utcnow)


class ScheduledSend(SQLModel, table=True):
    """The last slot a scheduled mail (the meeting digest) was sent for, so that several daemons
    on one registry, a restart or a week of downtime send each due slot once (APScheduler's own
    job store is never shared between processes)."""

    name: str = Field(primary_key=True, max_length=40)  # digest
    last_slot: datetime | None = None  # the scheduled moment (UTC) last sent for
    sent_at: datetime | None = None
    sent_by: str = ""  # host:pid of the daemon that queued it
    message_pk: int | None = None  # the queued mail
class PurgeRecord(SQLModel, table=True):
    """A purge of closed cases past their retention (`sakspost purge`): who, when, the cut-off,
    and what went: case ids and row counts, never content. It outlives the cases' own audit trail."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    who: str = "system"
    closed_before: datetime
    case_ids: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # JSON list
    counts: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # JSON object


class Instance(SQLModel, table=True):
    """A running daemon, as it last said it was alive (`daemon.registry.leases`)."""

    id: str = Field(primary_key=True)  # host:pid:random
    host: str = ""
    pid: int = 0
    started_at: datetime = Field(default_factory=utcnow)
    seen_at: datetime = Field(default_factory=utcnow, index=True)


class Lease(SQLModel, table=True):
    """Who works a mailbox (`mailbox:NAME`) or runs a scheduled job (`job:NAME`), and until when."""

    name: str = Field(primary_key=True)
    holder: str = Field(index=True)
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(default_factory=utcnow)
