"""The receiver reads DATA in slices: what it stores is exactly what the sender meant, however
the bytes are cut on the wire."""

from __future__ import annotations

import socket
import sqlite3
import time

import pytest

from conftest import incident_mail


def _conversation(port: int, wire: bytes, fragment: int | None = None) -> bytes:
    """EHLO, MAIL, RCPT, DATA, then WIRE (already dot-stuffed, with its terminator); the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rb")

        def reply() -> bytes:
            lines = [f.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(f.readline())
            return lines[-1]

        reply()
        for command in (b"EHLO test.example", b"MAIL FROM:<kari@sykehus.example>",
                        b"RCPT TO:<brukerstotte@sykehus.example>", b"DATA"):
            s.sendall(command + b"\r\n")
            reply()
        if fragment:
            for i in range(0, len(wire), fragment):
                s.sendall(wire[i:i + fragment])
                time.sleep(0.001)
        else:
            s.sendall(wire)
        answer = reply()
        s.sendall(b"QUIT\r\n")
        return answer


def _stored(d, pk: int) -> bytes:
    db = sqlite3.connect(d.db_path)
    try:
        return db.execute("SELECT data FROM rawmessage WHERE message_pk = ?", (pk,)).fetchone()[0]
    finally:
        db.close()


def _stuff(raw: bytes) -> bytes:
    lines = raw.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)


@pytest.mark.parametrize("fragment", [None, 1, 7, 4096])
def test_dots_and_fragments_arrive_as_sent(sakspost, fragment):
    d = sakspost()
    body = ("Linje som slutter med punktum.\n.linje som starter med punktum\n..to punktum\n.\n"
            "siste linje.\n")
    raw = incident_mail(body=body, message_id=f"<dots-{fragment}@sykehus.example>")
    answer = _conversation(d.port, _stuff(raw) + b".\r\n", fragment)
    assert answer.startswith(b"250"), answer
    assert _stored(d, int(answer.split()[-1])) == raw


def test_a_message_starting_with_a_dot_and_an_empty_message(sakspost):
    d = sakspost()
    answer = _conversation(d.port, b"..\r\n.\r\n")
    assert answer.startswith(b"250"), answer
    assert _stored(d, int(answer.split()[-1])) == b".\r\n"
    answer = _conversation(d.port, b".\r\n")
    assert answer.startswith(b"250"), answer
    assert _stored(d, int(answer.split()[-1])) == b""


def test_a_line_longer_than_the_limit_is_refused_with_500(sakspost):
    d = sakspost()
    raw = incident_mail(message_id="<long@sykehus.example>")
    wire = raw + b"x" * 100_001 + b"\r\nslutt\r\n.\r\n"
    assert _conversation(d.port, wire).startswith(b"500")
    # a long message of ordinary lines is fine
    raw = incident_mail(body="linje\n" * 50_000, message_id="<many@sykehus.example>")
    answer = _conversation(d.port, raw + b".\r\n")
    assert answer.startswith(b"250"), answer
    assert _stored(d, int(answer.split()[-1])) == raw


def test_a_large_message_is_stored_exactly_and_processed(sakspost):
    d = sakspost()
    raw = incident_mail(message_id="<large@sykehus.example>",
                        attachments=[("logg.bin", "application/octet-stream", bytes(range(256)) * 12_000)])
    assert len(raw) > 3 * (1 << 20)  # written to SQLite in slices
    answer = _conversation(d.port, _stuff(raw) + b".\r\n")
    assert answer.startswith(b"250"), answer
    assert _stored(d, int(answer.split()[-1])) == raw
    case = d.wait_cases(1)[0]
    assert case["subject"].startswith("Feil i dokumentdeling")
    db = sqlite3.connect(d.db_path)
    assert db.execute("SELECT size FROM attachment").fetchone() == (256 * 12_000,)


def test_mail_and_rcpt_addresses_are_read_as_aiosmtpd_reads_them():
    """The receiver's own address parsing (without aiosmtpd's per-call class) gives aiosmtpd's
    answer for every kind of address a sender may give: accepted, with its parameters, or refused."""
    from aiosmtpd.smtp import SMTP

    from daemon.receive.protocol import LMTPServer as _LMTP, SMTPServer as _SMTP

    arguments = [
        "<kari@sykehus.example>", "<kari@sykehus.example> SIZE=1000 BODY=8BITMIME", "kari@sykehus.example",
        "<>", "", "<@relay.example,@b.example:kari@x.example>", "<kari@[127.0.0.1]>",
        '<"quoted local"@x.example>', "<kari>", "<kari@>", "bad address", "<" + "x" * 70 + "@x.example>",
        "<æøå@x.example> SMTPUTF8", "<a@b.example", "<<a@b.example>>", " <a@b.example>", "<a b@c.example>",
        "<Kari.Nordmann+feil@OUS-HF.example> BODY=8BITMIME", "<a@b.example>SIZE=1", "<a.@b.example>",
        "<a..b@c.example>", "<a@b..example>", "<a@b.example.>", "<a@-b.example>", "<#!$%&'*+/=?^_`{|}~-@x.example>",
        "<a@b.example> ", "<a@b.example>\t", "<a@b>", "<a@b.example>  X", "<a@b.example> (note) X",
        "<a@b.example>(note)",
    ]
    for limit in (0, 64):
        theirs = SMTP(object())
        theirs.local_part_limit = limit
        for cls in (_SMTP, _LMTP):
            ours = cls(object())
            ours.local_part_limit = limit
            for argument in arguments:
                assert ours._getaddr(argument) == theirs._getaddr(argument), (cls.__name__, limit, argument)


def test_dot_stuffing_is_undone_slice_by_slice_as_on_the_whole_data():
    """However DATA is cut into pieces (at each dot-CRLF, or anywhere where a piece overran the
    read limit), undoing the dot-stuffing piece by piece gives what undoing it on the whole did."""
    import random

    from daemon.receive.protocol import unstuffed

    def whole(data: bytes) -> bytes:
        data = data[1:] if data.startswith(b".") else data
        return data.replace(b"\r\n.", b"\r\n")

    rng = random.Random(6)
    for _ in range(3000):
        data = bytes(rng.choice(b"a.\r\n") for _ in range(rng.randrange(0, 40)))
        cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randrange(0, 6)))) if len(data) > 1 else []
        pieces, start = [], 0
        for cut in [*cuts, len(data)]:
            pieces.append(data[start:cut])
            start = cut
        out, before = [], b"\r\n"
        for piece in pieces:
            out.append(unstuffed(piece, before))
            before = piece[-2:] if len(piece) >= 2 else before[-1:] + piece
        assert b"".join(out) == whole(data), (data, pieces)
