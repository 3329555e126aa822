"""The parser reads headers once, as policy.default reads them, and never raises."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.utils import parseaddr

import pytest

from daemon.parse import parse
from daemon.rfc5322 import is_address

from conftest import REAL, needs_real_corpus, real_files

CPYTHON = sorted((REAL / "cpython").glob("msg_*.txt"))


def test_each_header_keeps_its_own_value():
    raw = (b"Received: from a.example by b.example\r\nReceived: from c.example by d.example\r\n"
           b"From: =?utf-8?q?Kari_S=C3=A6ther?= <Kari@Sykehus.example>\r\n"
           b"Subject: =?iso-8859-1?q?Feil_p=E5_XCA?=\r\nTo: \"Brukerst\xc3\xb8tte\" <bs@sykehus.example>\r\n"
           b"\r\nHei\r\n")
    mail = parse(raw)
    assert [v for k, v in mail.headers if k == "Received"] == ["from a.example by b.example",
                                                               "from c.example by d.example"]
    assert mail.subject == "Feil på XCA"
    assert (mail.from_name, mail.from_addr) == ("Kari Sæther", "kari@sykehus.example")
    assert mail.to == ["bs@sykehus.example"]
    assert mail.header("to") == "Brukerstøtte <bs@sykehus.example>"
    assert mail.text == "Hei\r\n"


def test_a_header_policy_default_cannot_read_is_kept_raw():
    mail = parse(b"From: kari@sykehus.example\r\nTo: \"\r\nSubject: =?x-unknown?q?hei?=\r\n\r\nbody\r\n")
    assert mail.not_mail == ""
    assert mail.header("To") in ('"', "")
    assert mail.subject.endswith("hei")


@needs_real_corpus
def test_the_stdlib_fixtures_are_there():
    assert len(CPYTHON) > 40


@needs_real_corpus
@pytest.mark.parametrize("path", CPYTHON or [None], ids=lambda p: p.name if p else "absent")
def test_values_are_those_policy_default_gives(path):
    raw = path.read_bytes()
    mail = parse(raw)
    try:
        std = message_from_bytes(raw, policy=policy.default)
        subject = " ".join(str(std.get("Subject", "")).split())
        sender = parseaddr(" ".join(str(std.get("From", "")).split()))[1].lower()
    except Exception:
        # policy.default itself raises on this one: ours must still read it, headers and all
        assert mail.not_mail == "" and mail.headers
        return
    assert mail.subject == subject[:998]
    # From is read strictly (issue 13): the one address policy.default finds, where it is an
    # address in the grammar; else none (parseaddr also "finds" `foo` or a group's member)
    assert mail.from_addr == (sender if is_address(sender) else "")


@needs_real_corpus
def test_headers_read_as_written_are_those_policy_default_gives():
    """The structured headers the parser keeps as written (when plain ASCII) read the same
    through policy.default's parser, over every real-world message of the shared corpus."""
    from daemon.parse import _AS_WRITTEN, _header_value, _structure

    seen = 0
    for path in real_files():
        try:
            msg = _structure(path.read_bytes())
        except Exception:
            continue
        for name, value in msg.raw_items():
            if name.lower() in _AS_WRITTEN and isinstance(value, str) and value.isascii() and "=?" not in value:
                seen += 1
                expected = " ".join(str(policy.default.header_fetch_parse(name, value)).split())
                assert _header_value(name, value) == expected, (path.name, name, value)
    assert seen > 100


@needs_real_corpus
def test_headers_are_stored_alike_whoever_parsed_the_mail():
    """The receiving front and the parse helper encode the header fields for the registry; what
    they hand over is what the pipeline would have written itself, for every real-world mail."""
    import json
    import pickle

    from daemon.parse import headers_json, parse_many

    for path in CPYTHON:
        raw = path.read_bytes()
        [(_, handed_over)] = pickle.loads(pickle.dumps(parse_many([(1, raw)])))  # as it crosses the link
        here = parse(raw)
        assert handed_over.encoded_headers and here.encoded_headers == ""
        assert headers_json(handed_over) == headers_json(here)
        assert json.loads(headers_json(here)) == [list(field) for field in here.headers]


FROM_VALUES = ["kari@x.example", "<kari@x.example>", "Kari Nordmann <kari@x.example>", '"Nordmann, Kari" <kari@x.example>',
               '"Kari \\"K\\" N" <k@x.example>', "O'Brien <o@x.example>", "Kari S. Nordmann <k@x.example>",
               "a@b.example, c@d.example", "Kari <kari@x", '"Kari" <kari@x.example> (c)', "  kari@x.example  ",
               "Kari<kari@x.example>", '"" <k@x.example>', "grp: a@b.example;", "x <a@b.example>>", "foo",
               "=?utf-8?q?Kari=0D=0Ax:_kari.drift@sykehus.example?= <attacker@evil.example>", "<>", "Kari <>",
               "=?utf-8?q?J=C3=B8rgen_Bakken?= <jorgen@x.example>", "=?utf-8?b?SsO4cmdlbg==?= <j@x.example>",
               "=?iso-8859-1?q?J=F8rgen?= =?utf-8?b?QmFra2Vu?= <j@x.example>", "=?utf-8?q?a?=<b@c.example>",
               "=?utf-8?B?eHB0bw?= <dummy@example.com>", "=?bogus?q?x?= <a@b.example>", "=?utf-8?q?=FF?= <a@b.example>"]


@pytest.mark.parametrize("value", FROM_VALUES)
def test_the_plain_from_shapes_read_as_the_parser_reads_them(value):
    """read_mailbox reads the plain shapes of From without the stdlib's address parser; it must
    come to exactly what that parser (and our strict checks on it) comes to."""
    from daemon import rfc5322

    assert rfc5322.read_mailbox([value]) == rfc5322._read_mailbox.__wrapped__(value)
