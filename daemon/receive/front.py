"""The receiving front: SMTP/LMTP spoken in a process of its own, beside the daemon.

Decides nothing about a message; it speaks the protocol (`protocol.py`), refuses a recipient
no `[[address]]` serves (`550 5.1.1` at RCPT), parses what it received (as the parse helper
would: `daemon/parse/`) and hands the message over
its link (`link.py`) to the daemon, which stores it; the `250` (or the `451`, if the daemon
could not store it) goes out only when the daemon has answered. It never opens the registry
and imports nothing of it, so it stays small.

Why a process: the daemon's pipeline and an in-process receiver share one interpreter lock,
and under a burst each waited for the other at every socket operation and every statement.
The listening socket is the daemon's (bound once, handed to every front it
starts), so a front that dies is replaced without refusing a connection. A front ends when
its link closes: when the daemon stops or dies.

    python -m daemon.receive.front --listen FD --link FD --parent PID
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import pickle
import socket
import sys

from ..parse import ELSEWHERE_MAX_BYTES, parse_many, start_helper
from .. import systemd
from ..registry.identity import fingerprint, message_id_of
from .link import ABORT, CHUNK, CONFIG, END, FRAME, STATE, STORED
from .protocol import Answers, Connections, LMTPServer, SMTPServer, server_factory

log = logging.getLogger("sakspost.receive")
INLINE_PARSE_BYTES = 16 * 1024  # a message this small is parsed on the event loop itself
STATE_SECONDS = 0.25  # the daemon is told of the connections at most this often, when they change


class _Streaming:
    """DATA passed on to the daemon slice by slice as it is read (`protocol._ReadDataInSlices`),
    so a 25 MB message is never whole in the front; a message small enough to parse here is
    kept as well, for the parse."""

    join_data = False
    _request: int | None = None
    _kept: list[bytes] | None = None
    _kept_size = 0

    async def data_piece(self, piece: bytes) -> None:
        link = self.event_handler.link
        if self._request is None:
            self._request, self._kept, self._kept_size = link.begin(), [], 0
        if self._kept is not None:
            self._kept_size += len(piece)
            if self._kept_size <= ELSEWHERE_MAX_BYTES:
                self._kept.append(piece)
            else:
                self._kept = None  # the daemon parses it, from the stored blob
        await link.chunk(self._request, piece)

    def data_abandoned(self) -> None:
        if self._request is not None:
            self.event_handler.link.abort(self._request)
        self._request, self._kept = None, None

    def data_done(self) -> tuple[int, bytes | None]:
        """The message's request id, and its bytes if it is small enough to parse here."""
        link = self.event_handler.link
        request = self._request if self._request is not None else link.begin()
        kept = b"".join(self._kept) if self._kept is not None else None
        self._request, self._kept = None, None
        return request, kept


class SlicedSMTP(_Streaming, SMTPServer):
    pass


class SlicedLMTP(_Streaming, LMTPServer):
    pass


class Link:
    """The front's end of the link: each message's DATA in CHUNKs, then its END (envelope and
    parse), then the daemon's STORED answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.pending: dict[int, asyncio.Future] = {}
        self.ids = itertools.count(1)

    def begin(self) -> int:
        return next(self.ids)

    async def chunk(self, request: int, piece: bytes) -> None:
        self.writer.write(FRAME.pack(CHUNK, request, len(piece)))
        self.writer.write(piece)
        await self.writer.drain()  # each sent before the next is read: never all in a buffer

    def abort(self, request: int) -> None:
        self.writer.write(FRAME.pack(ABORT, request, 0))

    async def tell_state(self, connections: Connections) -> None:
        """Tell the daemon of CONNECTIONS when they have changed (`/healthz`, `/metrics`), at
        most every STATE_SECONDS, until cancelled."""
        told = None
        while True:
            now = connections.snapshot()
            if now != told:
                encoded = pickle.dumps(now, protocol=pickle.HIGHEST_PROTOCOL)
                self.writer.write(FRAME.pack(STATE, 0, len(encoded)) + encoded)
                await self.writer.drain()
                told = now
            await asyncio.sleep(STATE_SECONDS)

    async def end(self, request: int, meta: tuple):
        """The daemon's answer for message REQUEST, with META: ("ok", pk, duplicate) or
        ("error", why)."""
        future = asyncio.get_running_loop().create_future()
        self.pending[request] = future
        encoded = pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL)
        self.writer.write(FRAME.pack(END, request, len(encoded)) + encoded)
        await self.writer.drain()
        return await future

    async def answers(self) -> None:
        """Hand each STORED answer to the message waiting for it, until the link closes."""
        while True:
            kind, request, length = FRAME.unpack(await self.reader.readexactly(FRAME.size))
            payload = await self.reader.readexactly(length)
            if kind == STORED:
                future = self.pending.pop(request, None)
                if future is not None and not future.done():
                    future.set_result(pickle.loads(payload))


class Handler(Answers):
    """aiosmtpd hooks; found by name, as aiosmtpd does (RCPT: `protocol.Answers`)."""

    def __init__(self, config, link: Link, protocol: str, reader=None):
        self.config, self.link, self.protocol, self.reader = config, link, protocol, reader

    async def handle_DATA(self, server, session, envelope):
        request, kept = server.data_done()
        parsed = None  # the daemon parses what is not parsed here
        if kept is not None:  # a larger one on a thread of its own: the loop goes on answering
            parsed = (_parsed(kept, self.reader) if len(kept) <= INLINE_PARSE_BYTES
                      else await asyncio.to_thread(_parsed, kept, self.reader))
        # what identifies it is computed here too, off the daemon's interpreter (not for a large
        # message, whose bytes are not kept here)
        known = (fingerprint(kept), message_id_of(kept)) if kept is not None else ("", None)
        meta = (self.protocol, self.roles(envelope), envelope.mail_from or "<>", tuple(envelope.rcpt_tos),
                parsed, known)
        try:
            answer = await self.link.end(request, meta)
        except (ConnectionError, asyncio.IncompleteReadError):
            answer = ("error", "the daemon is gone")
        return self.answer(envelope, answer[1] if answer[0] == "ok" else None, answer[1])


def _parsed(raw: bytes, reader=None):
    """RAW parsed as the parse helper parses it, or None (the daemon parses it then)."""
    try:
        return parse_many([(0, raw)], reader)[0][1]
    except Exception:  # parse() reads defensively; anything else is the daemon's to find out
        log.exception("parsing a received message in the front")
        return None


async def serve(listen: socket.socket, link_socket: socket.socket) -> None:
    reader, writer = await asyncio.open_connection(sock=link_socket)
    kind, _, length = FRAME.unpack(await reader.readexactly(FRAME.size))
    if kind != CONFIG:
        raise RuntimeError("the link did not begin with the configuration")
    config, level, read_with = pickle.loads(await reader.readexactly(length))
    from .. import logs

    logs.setup(level, config.logging.format)
    link = Link(reader, writer)
    protocol = config.receiver.protocol
    cls = SlicedLMTP if protocol == "lmtp" else SlicedSMTP
    connections = Connections(config.receiver.max_connections, config.receiver.max_connections_per_peer)
    factory = server_factory(cls, Handler(config, link, protocol, read_with), config, connections)
    server = await asyncio.get_running_loop().create_server(factory, sock=listen)
    telling = asyncio.create_task(link.tell_state(connections))
    try:
        await link.answers()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the daemon closed the link: stop
    finally:
        telling.cancel()
        server.close()


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(prog="python -m daemon.receive.front")
    args.add_argument("--listen", type=int, required=True)
    args.add_argument("--link", type=int, required=True)
    args.add_argument("--parent", type=int, required=True)
    opts = args.parse_args(argv)
    start_helper(opts.parent)  # ends with the daemon, however it ends; Ctrl-C is the daemon's
    systemd.open_files_as_allowed()
    # the event loop answers senders while a message is parsed: hand the lock over sooner
    sys.setswitchinterval(0.001)
    listen = socket.socket(fileno=opts.listen)
    link_socket = socket.socket(fileno=opts.link)
    asyncio.run(serve(listen, link_socket))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
