"""The SMTP/LMTP receiver in the daemon's own process: accept, store, answer.

Where there is no receiving front (one core, or `[pipeline].parse_helper` off; else the front,
`front.py`, speaks the protocol in a process of its own and `link.py` is its end here), aiosmtpd
speaks SMTP or LMTP (`protocol.py`), and after DATA the message is handed to the writer
(`registry/writer.py`, group commit). `250` goes out only once it is committed, `451 4.3.0` if
it could not be (the sending MTA retries); a recipient no `[[address]]` serves was refused at
RCPT (`550 5.1.1`), a message over `max_message_bytes` with `552`. Under LMTP (RFC 2033) the
answer after DATA is one status line per accepted recipient. Parsing is the pipeline's.
"""

from __future__ import annotations

import asyncio
import logging

from ..registry.store import Incoming, StorageError
from ..registry.writer import Writer
from .protocol import Answers, Connections, LMTPServer, Receiving, SMTPServer, server_factory

log = logging.getLogger("sakspost.receive")


class Handler(Answers):
    """aiosmtpd hooks; found by name, as aiosmtpd does (RCPT: `protocol.Answers`)."""

    def __init__(self, config, writer: Writer, protocol: str = "smtp"):
        self.config = config
        self.writer = writer
        self.protocol = protocol

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):  # pragma: no cover - aiosmtpd gives bytes with decode_data=False
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            stored = await asyncio.wrap_future(self.writer.store(Incoming(
                raw, source=self.protocol, roles=self.roles(envelope),
                mail_from=envelope.mail_from or "<>", rcpt_tos=tuple(envelope.rcpt_tos),
            )))
        except StorageError as exc:
            return self.answer(envelope, None, str(exc))
        return self.answer(envelope, stored.pk)


async def start(config, writer: Writer, receiving: Receiving | None = None):
    """Receive in this process (one core, or `[pipeline].parse_helper` off; else `link.Front`),
    its connections watched by RECEIVING (`/healthz`, `/metrics`)."""
    cfg = config.receiver
    cls = LMTPServer if cfg.protocol == "lmtp" else SMTPServer
    connections = Connections(cfg.max_connections, cfg.max_connections_per_peer)
    if receiving is not None:
        receiving.follow(connections)
    factory = server_factory(cls, Handler(config, writer, cfg.protocol), config, connections)
    return await asyncio.get_running_loop().create_server(factory, host=cfg.host, port=cfg.port)
