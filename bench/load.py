"""SMTP load: several concurrent clients send the corpus to the receiver, as MTAs would.

Each client keeps one connection and sends message after message on it (MAIL, RCPT, DATA).
The latency recorded for a message is DATA→250: from the DATA command until the receiver's
final answer, which the receiver gives only after the message is committed. At full speed the
clients take the next message as soon as they are free; paced, message i is due at
start + i/rate and waits for that moment (a client that is late sends at once).
"""

from __future__ import annotations

import re
import smtplib
import statistics
import threading
import time
from dataclasses import dataclass, field

from .peer import REGISTRY_ADDRESS

_STORED = re.compile(rb"stored as (\d+)")


@dataclass
class Mail:
    mail_from: str
    raw: bytes  # CRLF line endings, as on the wire


@dataclass
class Result:
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    stored: set[int] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies_ms) if self.latencies_ms else float("nan")


def to_wire(raw: bytes) -> bytes:
    """LF (as the generator writes) to CRLF (as SMTP carries it); CRLF already there is kept."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def send(port: int, mails: list[Mail], *, clients: int = 4, rate: float | None = None) -> Result:
    """Send MAILS over CLIENTS connections; at RATE messages per second if given, else flat out."""
    result = Result()
    lock = threading.Lock()
    cursor = iter(range(len(mails)))
    errors: list[BaseException] = []
    start = time.perf_counter()

    def client() -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=300) as smtp:
                smtp.ehlo("bench.example")
                while True:
                    with lock:
                        i = next(cursor, None)
                    if i is None:
                        return
                    if rate:
                        due = start + i / rate
                        delay = due - time.perf_counter()
                        if delay > 0:
                            time.sleep(delay)
                    mail = mails[i]
                    smtp.mail(mail.mail_from)
                    smtp.rcpt(REGISTRY_ADDRESS)
                    t0 = time.perf_counter()
                    code, reply = smtp.data(mail.raw)
                    elapsed = (time.perf_counter() - t0) * 1000
                    with lock:
                        if code == 250:
                            result.latencies_ms.append(elapsed)
                            found = _STORED.search(reply)
                            if found:
                                result.stored.add(int(found.group(1)))
                        else:
                            result.refused.append(f"message {i}: {code} {reply.decode(errors='replace')}")
                    if code != 250:
                        smtp.rset()
        except BaseException as exc:  # reported by the caller, never swallowed
            errors.append(exc)

    threads = [threading.Thread(target=client, name=f"smtp-{n}") for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"an SMTP client failed: {errors[0]!r}") from errors[0]
    return result
