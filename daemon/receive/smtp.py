"""The SMTP/LMTP receiver (aiosmtpd): accept, store durably, answer. It decides nothing else.

`250` goes out only after the raw bytes and the envelope are committed (off the event loop);
a storage failure answers `451 4.3.0` so the sending MTA retries; a recipient that no
`[[address]]` serves is refused at RCPT with `550 5.1.1`; aiosmtpd itself refuses a message over
`max_message_bytes` with `552`. Under LMTP (RFC 2033) the answer after DATA is one status line
per accepted recipient. After a commit the pipeline runner is woken; parsing happens there.
"""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from ..registry.store import StorageError, store_raw

log = logging.getLogger("sakspost.receive")


class Handler:
    """aiosmtpd hooks; found by name, as aiosmtpd does."""

    def __init__(self, rt, protocol: str = "smtp"):
        self.rt = rt
        self.protocol = protocol

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.rt.config.roles_for(address):
            log.info("refusing recipient %s: no [[address]] serves it", address)
            return "550 5.1.1 Mailbox unavailable: no such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):  # pragma: no cover - aiosmtpd gives bytes with decode_data=False
            raw = raw.encode("utf-8", "surrogateescape")
        roles = tuple(dict.fromkeys(r for rcpt in envelope.rcpt_tos for r in self.rt.config.roles_for(rcpt)))
        try:
            stored = await asyncio.to_thread(
                store_raw, self.rt.engine, raw, source=self.protocol, roles=roles,
                mail_from=envelope.mail_from or "<>", rcpt_tos=tuple(envelope.rcpt_tos),
            )
        except StorageError as exc:
            log.error("could not store a message from %s: %s", envelope.mail_from, exc)
            return self._answer(envelope, "451 4.3.0 Temporary storage failure, try again later")
        log.info("stored message %s (%d bytes, %s)%s", stored.pk, len(raw), ",".join(roles),
                 " duplicate" if stored.duplicate else "")
        self.rt.wake_pipeline.set()
        return self._answer(envelope, f"250 2.0.0 OK stored as {stored.pk}")

    def _answer(self, envelope, line: str) -> str:
        if self.protocol == "lmtp":
            return "\r\n".join(line for _ in envelope.rcpt_tos) or line
        return line


class _SMTP(SMTP):
    line_length_limit = 100_000  # real senders exceed RFC 5321's 1000


class _LMTP(LMTP):
    line_length_limit = 100_000


def server_factory(rt):
    """A protocol factory for loop.create_server, as aiosmtpd's UnthreadedController builds."""
    cfg = rt.config.receiver
    protocol = cfg.protocol
    handler = Handler(rt, protocol)
    cls = _LMTP if protocol == "lmtp" else _SMTP
    hostname = cfg.hostname or rt.config.identity.domain

    def factory():
        server = cls(
            handler,
            data_size_limit=cfg.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=hostname,
            ident="sakspost",
        )
        return server

    return factory


async def start(rt):
    loop = asyncio.get_running_loop()
    cfg = rt.config.receiver
    server = await loop.create_server(server_factory(rt), host=cfg.host, port=cfg.port)
    return server
