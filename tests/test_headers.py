"""The header guard (issue 13): whatever a sender puts in a value we write (a subject, a display
name, Message-IDs to thread on, an attachment's name, an address), every mail we compose reads
back as exactly the headers we meant, each once, and nothing else."""

from __future__ import annotations

from email import message_from_bytes, policy
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.config import parse
from daemon.outbound import headers
from daemon.outbound.render import Renderer
from daemon.registry.tokens import Tokens

FNR = "31129956715"
EXPECTED = ["Content-Type", "MIME-Version", "From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
            "X-Auto-Response-Suppress", "Content-Language", "X-Sakspost-Case"]
# what senders write to break a header: line breaks of every kind, other controls, a header of their
# own, encoded words, quotes and angle brackets, non-ASCII and identity numbers
NASTY = st.sampled_from(["\r", "\n", "\r\n", "\x00", "\x0b", "\x1b", "\x7f", "\x85", "\u2028", "Bcc: evil@evil.example",
                         "=?utf-8?q?a=0D=0AX:_y?=", '"', "<", ">", ",", ";", ":", "@", "æøå", FNR, " ", "\t"])
VALUE = st.lists(st.one_of(NASTY, st.text(max_size=8)), max_size=12).map("".join)


def _renderer(tmp_path) -> Renderer:
    config = parse({"paths": {"var_dir": str(tmp_path / "var")}}, source="test")
    return Renderer(config, Tokens(b"k" * 32, config.identity.domain))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=VALUE, name=VALUE, address=VALUE, message_id=VALUE, references=st.lists(VALUE, max_size=4),
       filename=VALUE, reference=VALUE)
def test_every_header_we_write_parses_back_to_the_headers_we_meant(tmp_path, subject, name, address, message_id,
                                                                     references, filename, reference):
    composed = _renderer(tmp_path).compose(
        "command_refused", {"case": SimpleNamespace(id="SAK-2026-000001", subject=subject), "commands": [name]},
        to=[(name, "kari@sykehus.example"), address], cc=[address], case_id="SAK-2026-000001",
        nhn_reference=reference, in_reply_to=message_id, references=references, reply_to=address,
        attachments=[SimpleNamespace(filename=filename, content_type="text/plain", data=b"logg\n")])
    head = composed.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r" not in head.replace(b"\r\n", b"") and b"\n" not in head.replace(b"\r\n", b"")
    mail = message_from_bytes(composed.raw, policy=policy.default)
    names = [k for k in mail.keys()]
    assert set(names) <= set(EXPECTED) | {"Cc", "Reply-To", "In-Reply-To", "References"}
    assert len(names) == len(set(names)), f"a header written twice: {names}"
    assert set(EXPECTED) <= set(names)
    assert [a.addr_spec for a in mail["To"].addresses][0] == "kari@sykehus.example"
    assert composed.recipients[0] == "kari@sykehus.example"
    assert all(r.count("@") == 1 for r in composed.recipients)
    (attachment,) = mail.iter_attachments()
    assert attachment.get_filename() and not set(attachment.get_filename()) & {"\r", "\n", "/", "\\"}


def test_a_message_id_that_is_no_msg_id_or_holds_an_identity_number_is_left_out():
    assert headers.guard("References", ["ok@sykehus.example", "h\rBcc : evil@evil.example", f"{FNR}@x.example",
                                        "no-at-sign", "ok@sykehus.example"]) == "<ok@sykehus.example>"
    assert headers.guard("In-Reply-To", ["a b@c.example"]) == ""


def test_a_display_name_loses_its_control_characters_and_a_bad_address_is_dropped():
    assert headers.guard("To", [("Kari\r\nBcc: evil@evil.example", "kari@sykehus.example"),
                                "evil@evil.example\r\nBcc: x@y.example", "kari@sykehus.example"]) == \
        '"Kari Bcc: evil@evil.example" <kari@sykehus.example>'


def test_a_file_name_is_reduced_to_a_safe_name():
    assert headers.filename("logg\r\nBcc: x.txt") == "logg Bcc_ x.txt"
    assert headers.filename("../../etc/passwd") == "passwd"
    assert headers.filename(f"journal-{FNR}.pdf") == "journal-fnr-fjernet.pdf"
    assert headers.filename("\x00\r\n") == "vedlegg"
    assert headers.filename("ｌｏｇｇ.txt") == "logg.txt"
    assert len(headers.filename("a" * 300 + ".log")) == 100 and headers.filename("a" * 300 + ".log").endswith(".log")


def test_a_number_with_no_ascii_digit_in_a_header_value_is_still_found():
    """A subject or name whose number is written without a single ASCII digit (another script's
    digits, full-width or superscript forms, character references, backslash, quoted-printable
    and URL escapes, base64 of any of them in an encoded word or bare) is redacted all the same; a
    value with no digit of any kind and no escape is written as it is."""
    import base64

    fullwidth = "".join(chr(0xFF10 + int(d)) for d in FNR)
    disguises = [
        fullwidth,
        "".join(chr(0x0660 + int(d)) for d in FNR),  # Arabic-Indic
        "".join("⁰¹²³⁴⁵⁶⁷⁸⁹"[int(d)] for d in FNR),
        "".join(f"&#{ord(d)};" for d in FNR),
        "".join(f"&#x{ord(d):x};" for d in FNR),
        "".join(f"\\u{ord(d):04x}" for d in FNR),
        "".join(f"={ord(d):02X}" for d in FNR),
        "".join(f"%{ord(d):02x}" for d in FNR),
        f"=?utf-8?b?{base64.b64encode(FNR.encode()).decode()}?=",
        f"=?utf-8?b?{base64.b64encode(fullwidth.encode()).decode()}?=",
        base64.b64encode(fullwidth.encode("utf-16-le")).decode(),  # UTF-16 without a NUL byte
    ]
    for disguise in disguises:
        value = f"Pasient {disguise} har fått feil svar"
        assert headers.contains_identity_number(value), disguise
        assert disguise not in headers.text(value) and "[fnr fjernet]" in headers.text(value), disguise
        assert headers.msg_ids([f"{disguise}@sykehus.example"]) == [], disguise
    plain = "Feil i dokumentdeling på XCA-gatewayen – «kritisk»"
    assert headers.text(plain) == plain
