"""What a running daemon (or one command) holds: configuration, database engine, Message-ID
tokens, the template renderer, and the signals that wake the runners."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from .config import Config
from .outbound.render import Renderer
from .registry.tokens import Tokens
from .pipeline.parsers import Parsers
from .receive.protocol import Receiving
from .registry.db import open_engine, open_existing
from .registry.leases import new_instance_id
from .registry.writer import Writer
from .workflows import load as load_workflows


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class Runtime:
    config: Config
    engine: Engine
    tokens: Tokens
    renderer: Renderer
    wake_pipeline: threading.Event = field(default_factory=threading.Event)
    wake_sender: threading.Event = field(default_factory=threading.Event)
    # set while the pipeline has nothing waiting; the sender defers to it (see app.SENDER_DEFER)
    pipeline_idle: threading.Event = field(default_factory=_set_event)
    # set while the pipeline has a backlog (a burst): the sender gives way to it
    pipeline_behind: threading.Event = field(default_factory=threading.Event)
    parsers: Parsers = field(default_factory=lambda: Parsers(enabled=False))
    # the receiver's connections as its listener or front last told them (/healthz, /metrics)
    receiving: Receiving = field(default_factory=Receiving)
    # this process among others sharing the registry: its leases and its outbox claims
    instance: str = field(default_factory=new_instance_id)

    @property
    def writer(self) -> Writer:
        """The one writer of this process's registry (`registry/writer.py`)."""
        return Writer.of(self.engine)

    @classmethod
    def open(cls, config: Config, read_only: bool = False) -> "Runtime":
        """READ_ONLY: for a command that only reads; the registry and the token secret must be
        there already (nothing is created)."""
        load_workflows()
        engine = open_existing(config.database.url) if read_only else open_engine(config.database.url)
        try:
            secret = config.hmac_secret(create=not read_only)
        except BaseException:
            engine.dispose()
            raise
        tokens = Tokens(secret, config.identity.domain)
        renderer = Renderer(config, tokens, config.identity.language)
        return cls(config=config, engine=engine, tokens=tokens, renderer=renderer,
                   parsers=Parsers(enabled=config.pipeline.parse_helper))

    def close(self) -> None:
        self.parsers.close()
        self.engine.dispose()
