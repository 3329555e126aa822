"""The proof fails closed (issue 24, part 2): our border's authserv-id in any spelling but the
one the border writes is a forgery attempt, and the mail then proves nothing.

The attacks go through the real receiver, byte for byte, as an attacker writes them: a `#lukk`
with a forged handler From and, as the only border header, an Authentication-Results field in a
spelling a border filter does not strip. The fuzz test builds spellings of the header and
asserts that only the canonical, aligned pass from our authserv-id proves a sender.
"""

from __future__ import annotations

import base64
from email.utils import formatdate, make_msgid

import pytest
from conftest import SECURITY, TRUSTED_AUTHSERV, module_daemon, relay_config, wait_until
from hypothesis import HealthCheck, given, settings, strategies as st
from test_trust import events, report, send_exact  # a case opened by the reporter; raw bytes sent as written

from daemon.parse import parse
from daemon.pipeline.proof import authentication_results

HANDLER = "kari.drift@sykehus.example"
OTHER_HANDLER = "ola.drift@sykehus.example"  # alerted by no forgery before the command-address test
OURS = "brukerstotte@sykehus.example"
PASS = "dmarc=pass header.from=sykehus.example"

ACTORS = {
    "identity": {"address": OURS, "name": "Brukerstøtte", "actor": "sykehus"},
    "actor": [{"id": "sykehus", "name": "Sykehuset Eksempel HF", "kind": "consumer", "contact": OURS,
               "handlers": [HANDLER, OTHER_HANDLER]}],
    **SECURITY,
}


@pytest.fixture(scope="module")
def relay(module_relay):
    return module_relay


@pytest.fixture(scope="module")
def daemon(relay, tmp_path_factory):
    yield from module_daemon(tmp_path_factory, "proof", {**relay_config(relay), **ACTORS})


def command(case: dict, border: bytes, to: str = OURS, body: bytes = b"#lukk\r\n", sender: str = HANDLER) -> bytes:
    """A `#lukk` on CASE in the handler's name, with BORDER (raw header lines) as its only
    Authentication-Results: what an attacker sends when the milters are down."""
    return (f"From: Kari Drift <{sender}>\r\nTo: {to}\r\n"
            f"Subject: SV: [{case['id']}] {case['subject']}\r\nDate: {formatdate()}\r\n"
            f"Message-ID: {make_msgid(domain='evil.example')}\r\n").encode() + border + (
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body)


def encoded(text: str, how: str = "q") -> str:
    if how == "b":
        return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="
    return "=?utf-8?q?" + "".join(c if c.isalnum() or c in ".-" else f"={ord(c):02X}" for c in text) + "?="


ID = TRUSTED_AUTHSERV
SPELLINGS = {  # name -> (raw header lines, whether the attempt is reported as forged)
    "a comment before the id": (f"Authentication-Results: (x) {ID}; {PASS}\r\n", True),
    "the id as an encoded word": (f"Authentication-Results: {encoded(ID)}; {PASS}\r\n", True),
    "the whole value as an encoded word": (f"Authentication-Results: {encoded(f'{ID}; {PASS}', 'b')}\r\n", True),
    "a folded value before the id": (f"Authentication-Results:\r\n {ID}; {PASS}\r\n", True),
    "white space before the colon": (f"Authentication-Results : {ID}; {PASS}\r\n", True),
    "an unreadable header of ours above a valid one": (
        f"Authentication-Results: {ID}; dmarc=pass (unclosed header.from=sykehus.example\r\n"
        f"Authentication-Results: {ID}; {PASS}\r\n", True),
    "a header of ours after a bare CR": (f"X-Note: ok\rAuthentication-Results: {ID}; {PASS}\r\n", True),
    "dmarc=pass without header.from": (f"Authentication-Results: {ID}; dmarc=pass\r\n", False),
    "dmarc=fail beside an aligned dkim=pass": (
        f"Authentication-Results: {ID}; dkim=pass header.d=sykehus.example;\r\n"
        "\tdmarc=fail header.from=sykehus.example\r\n", False),
}


@pytest.mark.parametrize("how", SPELLINGS)
def test_a_command_under_a_spelling_our_border_does_not_write_is_refused(daemon, relay, how):
    border, forged = SPELLINGS[how]
    case = report(daemon, f"Legemiddelliste feiler ({how})")
    alerts = len(relay.to(HANDLER))
    send_exact(daemon, command(case, border.encode()), mail_from="attacker@evil.example")

    (refused,) = wait_until(lambda: events(daemon, case["id"], "command_refused"), what="refusal recorded")
    assert refused["detail"]["commands"] == ["#lukk"] and refused["detail"]["claimed_handler"] == HANDLER
    assert ("forged Authentication-Results" in refused["detail"]["reason"]) == forged, refused["detail"]["reason"]
    assert daemon.case(case["id"])["state"] != "closed"
    assert not events(daemon, case["id"], "commands_run")
    assert bool(events(daemon, case["id"], "forgery_attempt")) == forged, "a forgery attempt is audited"
    # the handler is alerted, at most once an hour however many forgeries (the first one here)
    wait_until(lambda: [m for m in relay.to(HANDLER) if "ikke utført" in str(m["msg"]["Subject"])],
               what="the handler alerted")
    assert len(relay.to(HANDLER)[alerts:]) <= 1


def test_our_border_header_as_opendkim_folds_it_is_obeyed(daemon, relay):
    """The control: the canonical form, folded after the `;` as OpenDKIM writes it, sent raw."""
    case = report(daemon, "Legemiddelliste feiler (grensen)")
    border = (f"Authentication-Results: {ID};\r\n\tdkim=pass (2048-bit key; unprotected)"
              " header.d=sykehus.example header.i=@sykehus.example header.b=AbCdEfGh\r\n").encode()
    send_exact(daemon, command(case, border), mail_from=HANDLER)
    wait_until(lambda: daemon.case(case["id"])["state"] == "closed", what="the case closed")
    (run,) = events(daemon, case["id"], "commands_run")
    assert "dkim=pass header.d=sykehus.example" in run["detail"]["proven_by"]


def test_a_forged_header_takes_away_the_command_address_too(daemon, relay):
    case = report(daemon, "Legemiddelliste feiler (kommandoadresse)")
    before = len(relay.to(OTHER_HANDLER))
    send_exact(daemon, command(case, b"", body=b"#alvorlighetsgrad D\r\n", sender=OTHER_HANDLER),
               mail_from=OTHER_HANDLER)  # no proof
    alert = wait_until(lambda: relay.to(OTHER_HANDLER)[before:], what="alert")[0]["msg"]
    address = alert["Reply-To"].addresses[0].addr_spec
    assert address.startswith("brukerstotte+")

    forged = f"Authentication-Results: (x) {ID}; {PASS}\r\n".encode()
    send_exact(daemon, command(case, forged, to=address, body=b"#alvorlighetsgrad B\r\n", sender=OTHER_HANDLER),
               mail_from=OTHER_HANDLER, to=[address])
    wait_until(lambda: len(events(daemon, case["id"], "command_refused")) == 2, what="the forgery refused")
    assert "forged" in events(daemon, case["id"], "command_refused")[1]["detail"]["reason"]
    assert daemon.case(case["id"])["severity"] == "C"
    # the same mail without the forged header is obeyed: the address itself still proves
    send_exact(daemon, command(case, b"", to=address, body=b"#alvorlighetsgrad D\r\n", sender=OTHER_HANDLER),
               mail_from=OTHER_HANDLER, to=[address])
    wait_until(lambda: daemon.case(case["id"])["severity"] == "D", what="severity changed by the command address")


# -- the fuzz test ------------------------------------------------------------------------------

DOMAIN = "sykehus.example"
RESULTS = {  # what follows `<id>;`, and whether it proves DOMAIN
    PASS: True,
    "dmarc=pass (p=none dis=none) header.from=sykehus.example": True,
    "dkim=pass header.d=sykehus.example": True,
    "dkim=pass (2048-bit key) header.d=sykehus.example header.i=@sykehus.example": True,
    "spf=pass smtp.mailfrom=sykehus.example; dkim=pass header.d=sykehus.example;\r\n\tdmarc=pass header.from=sykehus.example": True,
    "dmarc=none header.from=sykehus.example; dkim=pass header.d=sykehus.example": True,
    "dmarc=pass": False,
    "dmarc=pass header.from=evil.example": False,
    "dmarc=pass header.from=sykehus.example header.from=evil.example": False,
    "dmarc=fail header.from=sykehus.example": False,
    "dkim=pass header.d=sykehus.example; dmarc=fail header.from=sykehus.example": False,
    "dmarc=fail header.from=sykehus.example; dkim=pass header.d=sykehus.example": False,
    "dkim=pass header.d=evil.example": False,
    "dkim=pass header.d=example": False,
    "dkim=fail header.d=sykehus.example": False,
    "none": False,
    "dmarc=pass (unclosed header.from=sykehus.example": False,
}
UNREADABLE = {"dmarc=pass (unclosed header.from=sykehus.example"}
OTHER_IDS = ["mx.evil.example", "sykehus.example", "evil.mx.sykehus.example", "mx.sykehus.example.evil"]
# how our id is written where a canonical field has it, and spellings it must never prove in
CANONICAL_IDS = [ID, ID.upper(), "Mx.Sykehus.Example"]
FORGED_IDS = ["(x) {id}", "(mx.sykehus.example) {id}", "\r\n {id}", "\r\n\t{id}", "{enc_q}", "{enc_b}",
              '"{id}"', "{id}.", "{id} 1", "{id} ", "{id}(c)", "{id} (c)"]


@st.composite
def field(draw, ours: bool, canonical: bool) -> tuple[str, str]:
    """One Authentication-Results field, and what it is: "proves", "no", "forged" or "ignored"."""
    results = draw(st.sampled_from(sorted(RESULTS)))
    name = draw(st.sampled_from(["Authentication-Results", "authentication-results", "AUTHENTICATION-RESULTS"]))
    space = draw(st.sampled_from([" ", "", "\t", "  "]))
    after = draw(st.sampled_from([" ", "\r\n\t", "\r\n ", ""]))  # folding after the `;` is fine
    if not ours:
        other = draw(st.sampled_from(OTHER_IDS))
        spelled = draw(st.sampled_from(["{id}", "(x) {id}", "\r\n {id}", "{enc_q}"]))
        return f"{name}:{space}{spell(spelled, other)};{after}{results}", "ignored"
    if canonical:
        value = f"{draw(st.sampled_from(CANONICAL_IDS))};{after}{results}"
        kind = "forged" if results in UNREADABLE else ("proves" if RESULTS[results] else "no")
        return f"{name}:{space}{value}", kind
    how = draw(st.sampled_from(["id", "colon", "whole", "bare CR"]))
    if how == "id":
        return f"{name}:{space}{spell(draw(st.sampled_from(FORGED_IDS)), ID)};{after}{results}", "forged"
    if how == "colon":
        return f"{name}{draw(st.sampled_from([' ', chr(9), '  ']))}:{space}{ID};{after}{results}", "forged"
    if how == "whole":
        return f"{name}:{space}{encoded(f'{ID}; {results}', draw(st.sampled_from('qb')))}", "forged"
    return f"X-Note: ok\r{name}:{space}{ID};{after}{results}", "forged"


def spell(pattern: str, authserv_id: str) -> str:
    return pattern.format(id=authserv_id, enc_q=encoded(authserv_id), enc_b=encoded(authserv_id, "b"))


@st.composite
def header_blocks(draw) -> tuple[list[str], bool, bool]:
    """One to three Authentication-Results fields, top first; whether they prove DOMAIN (only
    if none is forged and the topmost canonical one of ours proves); whether one is forged."""
    fields = [draw(field(ours=draw(st.booleans()), canonical=draw(st.booleans())))
              for _ in range(draw(st.integers(1, 3)))]
    kinds = [kind for _, kind in fields]
    decides = next((kind for kind in kinds if kind in ("proves", "no")), "no")
    return [f for f, _ in fields], decides == "proves" and "forged" not in kinds, "forged" in kinds


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header_blocks())
def test_only_the_canonical_aligned_pass_from_our_authserv_id_proves(block):
    fields, proves, forged = block
    raw = (f"From: Kari Drift <{HANDLER}>\r\nTo: {OURS}\r\nSubject: #lukk\r\n".encode()
           + "".join(f + "\r\n" for f in fields).encode() + b"Date: " + formatdate().encode() + b"\r\n\r\n#lukk\r\n")
    proof = authentication_results(parse(raw), TRUSTED_AUTHSERV)
    assert bool(proof) == proves, (fields, proof)
    assert bool(proof.forged) == forged, (fields, proof)
