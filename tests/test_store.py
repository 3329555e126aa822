"""What the store reads of a raw message before it says `250`: where its header block ends and
its Message-ID, found without the regular expression and the header parser they replaced, must
be what those give, for every real-world message of the shared corpus and for the odd cases."""

from __future__ import annotations

import re
from email.parser import BytesHeaderParser
from email.policy import compat32

import pytest

from conftest import needs_real_corpus, real_files
from daemon.registry.identity import header_block, header_end, message_id_of

REAL = real_files()

ODD = [
    b"", b"no header block at all", b"Subject: x\r\n", b"Subject: x\n\nbody", b"Subject: x\r\n\r\nbody\r\n\r\n",
    b"Subject: x\r\rbody", b"Subject: x\n\r\nbody", b"A: 1\r\nB: 2\n\nbody\r\n\r\n", b"\n\nstarts blank",
    b"\r\n\r\nstarts blank", b"A: 1\r\r\n\r\n", b"A: 1\n\r\rB", b"\r\r", b"\n", b"\r\n", b"A: b\r\n \r\n\r\nbody",
    b"Message-ID: <a@b.example>\r\n\r\n",
    b"Message-ID:<a@b.example>\n\n",
    b"message-id: <lower@b.example>\n\n",
    b"Message-ID:\r\n <folded@b.example>\r\n\r\nbody",
    b"Message-ID: no-brackets@b.example \r\n\r\n",
    b"Message-ID: <first@b.example>\r\nMessage-ID: <second@b.example>\r\n\r\n",
    b"Message-ID : <spaced@b.example>\r\n\r\n",
    b"Subject: x\r\nnot a header line\r\nMessage-ID: <after-garbage@b.example>\r\n\r\n",
    b"From someone Mon Jan 1 00:00:00 2026\nMessage-ID: <mbox@b.example>\n\n",
    "Message-ID: <æøå@b.example>\r\n\r\n".encode("utf-8"),
    b"Message-ID: <\xff\xfe@b.example>\r\n\r\n",
    b"Message-ID: <>\r\n\r\n",
    b"Message-ID: \r\n\r\n",
    b"Subject: x\r\n\r\nMessage-ID: <in-body@b.example>\r\n",
    b"X-Message-ID: <not-it@b.example>\r\n\r\n",
]


def _corpus() -> list[bytes]:
    mails = [p.read_bytes() for p in REAL]
    assert len(mails) > 800
    return mails + [m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for m in mails] + ODD


def _regex_end(raw: bytes) -> int:
    m = re.search(rb"\r?\n\r?\n|\r\r", raw)
    return m.start() if m else -1


def _parser_message_id(raw: bytes) -> str:
    """What the store read before: the compat32 header parser's first Message-ID."""
    try:
        value = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw)).get("Message-ID")
    except Exception:
        return ""
    if value is None:
        return ""
    found = re.search(rb"<([^<>\s]+)>", str(value).encode("utf-8", "replace"))
    return found.group(1).decode("utf-8", "replace")[:500] if found else str(value).strip()[:500]


@pytest.fixture(scope="module")
def corpus() -> list[bytes]:
    return _corpus()


@needs_real_corpus
def test_the_header_block_ends_where_the_regular_expression_said(corpus):
    for raw in corpus:
        assert header_end(raw) == _regex_end(raw), raw[:200]


@needs_real_corpus
def test_the_message_id_is_the_one_the_header_parser_reads(corpus):
    found = 0
    for raw in corpus:
        expected = _parser_message_id(raw)
        assert message_id_of(raw) == expected, raw[:300]
        found += bool(expected)
    assert found > 1000
