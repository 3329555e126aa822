"""The SMTP and LMTP protocol as sakspost speaks it: aiosmtpd's, with DATA read in slices and
plain addresses read at once. It imports nothing of the registry, so the receiving front
(`front.py`, a process of its own) speaks it too.

Decides nothing about a message; the handler given to the server does (`smtp.Handler` in the
daemon's process, `front.Handler` in the front).
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import re
import threading
import time
from email._header_value_parser import get_addr_spec, get_angle_addr  # as aiosmtpd parses them
from email.errors import HeaderParseError

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

log = logging.getLogger("sakspost.receive")


class _ReadDataInSlices:
    """aiosmtpd's DATA, read in slices up to each line that ends in a dot instead of line by line.

    aiosmtpd 1.4.6 keeps every line of the message as its own bytearray until the end (about
    twice the message's size in line objects, and a coroutine step per line). This
    reads up to each `.CRLF`, checks the size limit (`552` after the data, as aiosmtpd does) and
    the line length limit (`500`) as it goes, undoes dot-stuffing (RFC 5321 4.5.2) slice by
    slice (`unstuffed`), and hands the handler one bytes object, as aiosmtpd would; or, where
    JOIN_DATA is off (the front, which passes a message on as it comes), each slice to
    `data_piece` as it is read and, if the data is refused or the connection lost,
    `data_abandoned`: a 25 MB message is never whole in the front.
    """

    join_data = True

    async def data_piece(self, piece: bytes) -> None:  # pragma: no cover - overridden where used
        raise NotImplementedError

    def data_abandoned(self) -> None:  # pragma: no cover - overridden where used
        raise NotImplementedError

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        slices: list[bytes] = []
        tail = b"\r\n"  # the end of the piece before: the data begins at the start of a line
        size, line, state = 0, 0, "ok"  # line: length of the unfinished line so far
        at_line_start = True
        while self.transport is not None:  # pragma: nobranch
            try:
                piece = await self._reader.readuntil(b".\r\n")
            except asyncio.LimitOverrunError as exc:
                piece = await self._reader.readexactly(exc.consumed)
            except asyncio.IncompleteReadError:
                if not self.join_data:
                    self.data_abandoned()
                return  # the connection closed in the middle of the data
            except asyncio.CancelledError:
                log.info("connection lost during DATA")
                if not self.join_data:
                    self.data_abandoned()
                self._writer.close()
                raise
            end = (piece == b".\r\n" and at_line_start) or piece.endswith(b"\r\n.\r\n")
            if end:
                piece = piece[:-3]
            at_line_start = piece.endswith(b"\r\n") or (not piece and at_line_start)
            size += len(piece)
            line = self._line_after(piece, line)
            was = state
            if state == "ok" and self.data_size_limit and size > self.data_size_limit:
                state, slices = "too much", []
            elif state == "ok" and line > self.line_length_limit:
                state, slices = "too long", []
            if state != was and not self.join_data:
                self.data_abandoned()
            self._reset_timeout()  # the idle timeout counts from the last slice, not from DATA
            if state == "ok":
                if self.join_data:
                    slices.append(unstuffed(piece, tail))
                else:
                    try:
                        await self.data_piece(unstuffed(piece, tail))
                    except BaseException:  # cancelled (the sender went away) while passing it on
                        self.data_abandoned()
                        raise
            tail = piece[-2:] if len(piece) >= 2 else tail[-1:] + piece
            if end:
                break
        if state != "ok":
            await self.push("552 Error: Too much mail data" if state == "too much"
                            else "500 Line too long (see RFC5321 4.5.3.1.6)")
            self._set_post_data_state()
            return
        if self.join_data:
            content = b"".join(slices)
            del slices
            self.envelope.content = self.envelope.original_content = content
            del content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)

    def _line_after(self, piece: bytes, line: int) -> int:
        """The length of the unfinished line after PIECE, or more than the limit if any line of
        PIECE (with the LINE bytes before it) is longer than line_length_limit."""
        limit = self.line_length_limit
        first = piece.find(b"\n")
        if first < 0:
            return line + len(piece)
        if line + first + 1 > limit:
            return limit + 1
        last = piece.rfind(b"\n")
        if last - first > limit:  # a long line may hide in between: look at each
            start = first + 1
            while start <= last:
                stop = piece.find(b"\n", start)
                if stop - start + 1 > limit:
                    return limit + 1
                start = stop + 1
        return len(piece) - last - 1


# `<local@domain>` with a dot-atom on each side (RFC 5321 4.1.2): what nearly every sender gives
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>")


def unstuffed(piece: bytes, before: bytes) -> bytes:
    """PIECE of DATA with its dot-stuffing undone (RFC 5321 4.5.2: a line that begins with a
    dot has had one more put in front), where BEFORE is the end of the piece read before it
    (CRLF at the start of the data). What `replace(CRLF + ".", CRLF)` does to the whole data,
    slice by slice: a line may begin at the start of PIECE, or its CRLF be split across the two
    (a piece that overran the read limit ends anywhere); a test holds the two equal."""
    if piece[:1] == b"." and before.endswith(b"\r\n"):
        piece = piece[1:]
    elif piece[:2] == b"\n." and before.endswith(b"\r"):
        piece = piece[:1] + piece[2:]
    return piece.replace(b"\r\n.", b"\r\n") if b"\r\n." in piece else piece


class _AddressesParsedOnce:
    """aiosmtpd's MAIL/RCPT address parsing, without the class it builds on every call, and
    with a plain `<local@domain>` read by one regular expression.

    aiosmtpd 1.4.6's `_getaddr` defines a `typing.Protocol` class for its type hints each time
    it parses an address, and then uses the stdlib's header parser, both slow beside the rest of
    a command; a plain address is matched directly (the same address and rest as the parser gives, checked by
    a test), and anything else (quoted, routed, a literal, UTF-8) still goes to the parser. The
    same limit and answers, otherwise unchanged."""

    def _getaddr(self, arg: str):
        if not arg:
            return "", ""
        plain = _PLAIN_ADDRESS.match(arg)
        rest = arg[plain.end():].lstrip(" \t") if plain is not None else ""
        if plain is not None and not rest.startswith("("):  # the common case, read as the parser
            addr = plain.group(1)                            # reads it (a comment: the parser)
            if self.local_part_limit and len(addr.rpartition("@")[0]) > self.local_part_limit:
                return None, None
            return addr, rest
        try:
            if arg.lstrip().startswith("<"):
                address, rest = get_angle_addr(arg)
            else:
                address, rest = get_addr_spec(arg)
        except HeaderParseError:
            return None, None
        addr = address.addr_spec
        localpart = addr.rpartition("@")[0]
        if self.local_part_limit and len(localpart) > self.local_part_limit:
            return None, None
        return addr, rest


class Answers:
    """What a receiver's handler says at RCPT and after DATA, in the daemon's process
    (`smtp.Handler`) and in the front (`front.Handler`) alike: a recipient no `[[address]]`
    serves is refused at RCPT; after DATA, `250` with the stored row once it is stored, else
    `451` (LMTP: a line for each recipient). A handler has CONFIG and PROTOCOL."""

    config = None
    protocol = "smtp"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.config.roles_for(address):
            log.info("refusing recipient %s: no [[address]] serves it", address)
            return "550 5.1.1 Mailbox unavailable: no such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    def roles(self, envelope) -> tuple[str, ...]:
        """The roles the message's recipients give it, each once."""
        return tuple(dict.fromkeys(r for rcpt in envelope.rcpt_tos for r in self.config.roles_for(rcpt)))

    def answer(self, envelope, stored_pk: int | None, why: str = "") -> str:
        """The reply to DATA: stored as STORED_PK, or (None) not stored, for WHY."""
        if stored_pk is None:
            log.error("could not store a message from %s: %s", envelope.mail_from, why)
            line = "451 4.3.0 Temporary storage failure, try again later"
        else:
            line = f"250 2.0.0 OK stored as {stored_pk}"
        if self.protocol == "lmtp":
            return "\r\n".join(line for _ in envelope.rcpt_tos) or line
        return line


class _Capped:
    """At most `connections.limit` connections at once, and at most `connections.per_peer` from
    one peer (`peer_of`): one more is told `421` and closed at once, before any of its data is
    read (an idle crowd must not take every file descriptor and starve the senders already
    connected, and one address must not take every place and starve the other peers). aiosmtpd's
    idle timeout closes a connection that sends nothing, counted from its last command or DATA
    slice."""

    connections: "Connections"
    _refused = False
    _peer = ""

    def connection_made(self, transport) -> None:
        peer = peer_of(transport.get_extra_info("peername"))
        refused = self.connections.enter(peer)
        if refused is not None:
            self._refused = True
            if refused == FULL:
                log.warning("refusing connections: %d open, the [receiver] max_connections", self.connections.limit)
                transport.write(b"421 4.3.2 Too many connections, try again later\r\n")
            else:
                log.warning("refusing connections from %s: %d open from it, the [receiver] max_connections_per_peer",
                            peer, self.connections.per_peer)
                transport.write(b"421 4.7.0 Too many connections from your address, try again later\r\n")
            transport.close()
            return
        self._peer = peer
        super().connection_made(transport)

    def connection_lost(self, error) -> None:
        if self._refused:
            return
        self.connections.leave(self._peer)
        super().connection_lost(error)

    def data_received(self, data) -> None:
        if not self._refused:
            super().data_received(data)

    def eof_received(self):
        return False if self._refused else super().eof_received()


FULL, PER_PEER = "full", "per_peer"  # why a connection was refused: the `reason` label in /metrics


def peer_of(peername) -> str:
    """The peer a connection is counted against: its IPv4 address, or its IPv6 address's /64
    (one host is given a whole /64 and can connect from any address in it); a Unix socket or
    an unknown address is one peer, ""."""
    if not peername:
        return ""
    try:
        address = ipaddress.ip_address(peername[0])
    except ValueError:
        return ""
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Connections:
    """How many connections a listener has open, in all and from each peer, how many it takes,
    and how many it refused and why (`FULL`, `PER_PEER`), with the moment (`time.monotonic()`,
    the same clock in every process of the machine) it last refused one for lack of room."""

    def __init__(self, limit: int, per_peer: int):
        self.limit, self.per_peer = limit, per_peer
        self.open = 0
        self.peers: collections.Counter[str] = collections.Counter()
        self.refused = {FULL: 0, PER_PEER: 0}
        self.full_at: float | None = None

    def enter(self, peer: str) -> str | None:
        """Take a connection from PEER: None if taken, else why it is refused."""
        if self.peers[peer] >= self.per_peer:
            self.refused[PER_PEER] += 1
            return PER_PEER
        if self.open >= self.limit:
            self.refused[FULL] += 1
            self.full_at = time.monotonic()
            return FULL
        self.open += 1
        self.peers[peer] += 1
        return None

    def leave(self, peer: str) -> None:
        self.open -= 1
        self.peers[peer] -= 1
        if self.peers[peer] <= 0:
            del self.peers[peer]

    def snapshot(self) -> tuple:
        """What the daemon is told of them (`Receiving.report`): open, limit, refused, full_at."""
        return self.open, self.limit, dict(self.refused), self.full_at


class Receiving:
    """What the daemon knows of its receiver's connections, for `/healthz` and `/metrics`: read
    from the listener's `Connections` where it receives in its own process (`follow`), else as
    the front last reported them (`report`), with what fronts that have ended refused."""

    def __init__(self):
        self._lock = threading.Lock()
        self._live: Connections | None = None
        self._reported: tuple | None = None
        self._earlier = collections.Counter()  # refusals counted by fronts that have ended

    def follow(self, connections: Connections) -> None:
        self._live = connections

    def report(self, snapshot: tuple) -> None:
        with self._lock:
            self._reported = snapshot

    def front_ended(self) -> None:
        with self._lock:
            if self._reported is not None:
                self._earlier.update(self._reported[2])
                self._reported = (0, self._reported[1], {}, self._reported[3])

    def picture(self) -> tuple[int, int, dict, float | None] | None:
        """(open, limit, refused by reason since start, last refused for lack of room), or None
        before the receiver has said anything."""
        with self._lock:
            now = self._live.snapshot() if self._live is not None else self._reported
            if now is None:
                return None
            open_, limit, refused, full_at = now
            total = collections.Counter(self._earlier)
            total.update(refused)
            return open_, limit, {FULL: total[FULL], PER_PEER: total[PER_PEER]}, full_at


def server_factory(cls, handler, config, connections: Connections | None = None):
    """A protocol factory for `loop.create_server` (as aiosmtpd's controllers build one): CLS
    speaking to HANDLER, with the limits and name of CONFIG's `[receiver]`, counting its
    connections in CONNECTIONS (new ones if None)."""
    settings = config.receiver
    hostname = settings.hostname or config.identity.domain
    if connections is None:
        connections = Connections(settings.max_connections, settings.max_connections_per_peer)

    def factory():
        server = cls(handler, data_size_limit=settings.max_message_bytes, enable_SMTPUTF8=True,
                     decode_data=False, hostname=hostname, ident="sakspost", timeout=settings.idle_seconds)
        server.connections = connections
        return server

    return factory


class SMTPServer(_Capped, _AddressesParsedOnce, _ReadDataInSlices, SMTP):
    line_length_limit = 100_000  # real senders exceed RFC 5321's 1000


class LMTPServer(_Capped, _AddressesParsedOnce, _ReadDataInSlices, LMTP):
    line_length_limit = 100_000
