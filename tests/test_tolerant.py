"""Reading what real mail says (issue 15, item 5), through the receiver: a byte-order mark, blank
lines or white space before the first header, obsolete `From  :` syntax and 8-bit text with no
charset are read as their senders meant them, not dead-lettered or turned into "f��r"."""

from __future__ import annotations

import pytest
from conftest import relay_config, wait_until

from daemon.parse import parse

INTAKE = "kundesenter@nhn.example"
CONFIG = {"nhn": {"intake_address": INTAKE, "phone": "24 20 00 00"}}
REPORT = (b"Subject: XCA-oppslag feiler f\xf8r innlogging\r\nTo: brukerstotte@sykehus.example\r\n"
          b"Message-ID: <{n}@sykehus.example>\r\n\r\n"
          b"Oppslag feiler f\xf8r innlogging p\xe5 legekontoret.\r\nAlvorlighetsgrad: A\r\nSted: XCA-gateway\r\n"
          b"Tidspunkt: 25.11.2026 kl. 08:15\r\nKontakt: Kari, 55 55 55 55\r\n")

SHAPES = {
    "a byte-order mark": b"\xef\xbb\xbfFrom: Kari <kari@sykehus.example>\r\n",
    "blank lines before the first header": b"\r\n\r\nFrom: Kari <kari@sykehus.example>\r\n",
    "white space before the first header": b"   \tFrom: Kari <kari@sykehus.example>\r\n",
    "obsolete From  : syntax": b"From  : Kari <kari@sykehus.example>\r\n",
}


@pytest.mark.parametrize("shape", SHAPES)
def test_real_mail_is_read_and_escalated_with_its_letters(sakspost, relay, shape):
    daemon = sakspost({**relay_config(relay), **CONFIG})
    daemon.send(SHAPES[shape] + REPORT.replace(b"{n}", shape.replace(" ", "-").encode()))
    (case,) = daemon.wait_cases(1)
    assert case["subject"] == "XCA-oppslag feiler før innlogging" and case["reporter"] == "kari@sykehus.example"
    forward = wait_until(lambda: relay.to(INTAKE), what="the forward to NHN")[0]
    text = forward["msg"].get_body(("plain",)).get_content()
    assert "feiler før innlogging på legekontoret" in text and "\ufffd" not in text
    assert daemon.stats()["messages"]["by_status"].get("failed", 0) == 0


def test_8bit_text_without_a_charset_is_utf8_where_it_decodes():
    mail = parse(b"From: a@sykehus.example\r\nContent-Transfer-Encoding: 8bit\r\n\r\nf\xc3\xb8r og etter\r\n")
    assert mail.text.startswith("før og etter")


def test_input_with_no_header_at_all_is_still_not_mail():
    assert parse(b"\xef\xbb\xbf\r\n  just some text\r\n").not_mail
    assert parse(b"").not_mail
