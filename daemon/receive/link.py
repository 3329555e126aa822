"""The daemon's end of the receiving front (`front.py`): start it, store what it hands over,
answer it, and start another if it dies.

Decides how the front and the daemon talk, nothing about mail. A frame is a header (kind,
request id, length) and a payload; the daemon sends CONFIG once, then STORED for each message
the front passes on: its DATA in CHUNKs as they are read, then END (its envelope, parse,
fingerprint and Message-ID, pickled), or ABORT if the DATA was refused or the sender went away;
and, when they change, its connections (STATE: `protocol.Connections.snapshot`, pickled), which
the daemon keeps for `/healthz` and `/metrics` (`rt.receiving`).
A message is handed to the writer (`registry/writer.py`) like one the daemon received itself,
and its STORED goes back from the thread that committed it; the front's parse
is kept for the pipeline (`Parsers.remember`). The listening socket is bound here, once, and
every front gets it: while one is replaced, connections wait in the kernel's queue.

Nothing of the registry is imported at the top: the front imports this module for the frame
format.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
import threading
import time

log = logging.getLogger("sakspost.receive")

FRAME = struct.Struct("!BIQ")  # kind, request id, payload length
CONFIG, CHUNK, END, ABORT, STORED, STATE = 1, 2, 3, 4, 5, 6
SMALL = 1 << 20  # bytes: a message this large stays in the buffer it was read into
READ_BUFFER = 256 * 1024  # bytes: the daemon's read buffer on the link


def front_usable(config) -> bool:
    """Does the receiver run as a front process? Where the parse helper would (it takes the
    helper's place: more than one core, `[pipeline].parse_helper`)."""
    return config.pipeline.parse_helper and len(os.sched_getaffinity(0)) > 1


class Front:
    """The front process of a running daemon, kept running until `stop`."""

    RESTART_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # after the first, second, ... death in a row

    def __init__(self, rt, log_level: str = "INFO", reader=None):
        self.rt = rt
        self.reader = reader  # what a workflow reads of a mail as it is parsed (`parse.parse_many`)
        self.log_level = log_level
        cfg = rt.config.receiver
        family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
        self.listen = socket.create_server((cfg.host, cfg.port), family=family, backlog=128)
        self.process: subprocess.Popen | None = None
        self._link: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.listen.getsockname()[1]

    def start(self) -> None:
        self._spawn()
        self._thread = threading.Thread(target=self._run, name="front-link", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daemon.receive.front", "--listen", str(self.listen.fileno()),
             "--link", str(theirs.fileno()), "--parent", str(os.getpid())],
            pass_fds=(self.listen.fileno(), theirs.fileno()), env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self._link = ours
        # the reader goes by reference: the front imports its module when it unpickles it
        self._send(CONFIG, 0, pickle.dumps((self.rt.config, self.log_level, self.reader)))
        log.info("receiving front started (pid %s)", self.process.pid)

    def _run(self) -> None:
        deaths = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self._serve(self._link)
            except (ConnectionError, OSError, EOFError) as exc:
                if not self._stopping.is_set():
                    log.error("the receiving front's link failed: %s", exc)
            self.rt.receiving.front_ended()  # its connections are gone with it
            if self._stopping.is_set():
                return
            code = self.process.poll() if self.process else None
            if code is None:
                self.process.kill()
                code = self.process.wait()
            deaths = 0 if time.monotonic() - started > 60 else deaths + 1
            delay = self.RESTART_SECONDS[min(deaths, len(self.RESTART_SECONDS)) - 1] if deaths else 0.0
            log.error("the receiving front ended (exit %s); starting another in %g s", code, delay)
            if self._stopping.wait(delay):
                return
            self._spawn()

    def _serve(self, link: socket.socket) -> None:
        """Read the front's frames until the link closes."""
        from ..registry.store import Incoming

        partial: dict[int, bytes | bytearray] = {}  # DATA received so far, by request
        # read through a buffer: frames come a few at a time, and each was two system calls
        with link.makefile("rb", buffering=READ_BUFFER) as stream:
            while True:
                kind, request, length = FRAME.unpack(_read_exactly(stream, FRAME.size))
                payload = _read_exactly(stream, length)
                if kind == CHUNK:
                    _append(partial, request, payload)
                elif kind == ABORT:
                    partial.pop(request, None)
                elif kind == STATE:
                    self.rt.receiving.report(pickle.loads(payload))
                elif kind == END:
                    protocol, roles, mail_from, rcpt_tos, parsed, (fp, message_id) = pickle.loads(payload)
                    raw = partial.pop(request, b"")
                    if len(raw) < SMALL:
                        raw = bytes(raw)
                    item = Incoming(raw, source=protocol, roles=roles, mail_from=mail_from, rcpt_tos=rcpt_tos,
                                    fingerprint=fp, message_id=message_id)
                    self.rt.writer.store(item).add_done_callback(self._answer(link, request, parsed))
                    del raw, item, parsed  # not kept while the next frame is awaited (25 MB, say)
                del payload

    def _answer(self, link: socket.socket, request: int, parsed):
        def done(future) -> None:
            result = future.exception() or future.result()
            if isinstance(result, BaseException):
                answer = ("error", str(result))
            else:
                answer = ("ok", result.pk, result.duplicate)
                if parsed is not None and not result.duplicate:
                    self.rt.parsers.remember(result.pk, parsed)
            try:
                self._send(STORED, request, pickle.dumps(answer), link)
            except OSError:  # the front is gone: its sender never heard 250 and sends again
                pass
        return done

    def _send(self, kind: int, request: int, payload: bytes, link: socket.socket | None = None) -> None:
        with self._send_lock:
            (link or self._link).sendall(FRAME.pack(kind, request, len(payload)) + payload)

    def stop(self, timeout: float = 10.0) -> None:
        """Close the link (the front then stops taking mail and ends) and wait for it."""
        self._stopping.set()
        if self._link is not None:
            try:
                self._link.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._link.close()
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._thread is not None:
            self._thread.join(timeout)
        self.listen.close()


def _append(partial: dict, request: int, payload: bytes | bytearray) -> None:
    """Add a CHUNK's PAYLOAD to what PARTIAL holds of message REQUEST (a function of its own, so
    that no local name keeps a finished message of 25 MB alive while the next frame is read)."""
    so_far = partial.get(request)
    if so_far is None:
        partial[request] = payload  # most messages are one chunk: kept as read
    elif isinstance(so_far, bytearray):
        so_far += payload  # a large block grows in place (memory.return_large_blocks)
    else:  # a second chunk: from now on grown in place
        grown = partial[request] = bytearray(so_far)
        grown += payload


def _read_exactly(stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) < n:
        raise EOFError("the link closed")
    return data
