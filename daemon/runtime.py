"""What a running daemon (or one command) holds: configuration, database engine, Message-ID
tokens, the template renderer, and the signals that wake the runners."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from .config import Config
from .outbound.render import Renderer
from .outbound.tokens import Tokens
from .registry.db import WriterQueue, open_engine


@dataclass
class Runtime:
    config: Config
    engine: Engine
    tokens: Tokens
    renderer: Renderer
    wake_pipeline: threading.Event = field(default_factory=threading.Event)
    wake_sender: threading.Event = field(default_factory=threading.Event)
    writers: WriterQueue = field(default_factory=WriterQueue)

    @classmethod
    def open(cls, config: Config) -> "Runtime":
        engine = open_engine(config.database.url)
        tokens = Tokens(config.hmac_secret(), config.identity.domain)
        return cls(config=config, engine=engine, tokens=tokens, renderer=Renderer(config, tokens))

    def close(self) -> None:
        self.engine.dispose()
