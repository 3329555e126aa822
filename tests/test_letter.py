"""Issue 18: the letter that goes by post (`sakspost cases letter ID --pdf FILE`), read the way a
person reads it: the PDF turned into a picture with pdftoppm and its text with pdftotext
(Debian's poppler-utils)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from datetime import timedelta

import pytest
from conftest import relay_config, wait_until
from test_citizen import CONFIG, FNR, OWNER_HANDLER, audit, command, form_body, mails, send_form

from daemon.citizen.deadlines import today

LETTER_ADDRESS = "Sykehuset Eksempel HF\nPostboks 1000\n5021 Bergen"
pytestmark = pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils is not installed")


@pytest.fixture
def daemon(sakspost, relay):
    return sakspost({**relay_config(relay), **CONFIG,
                     "citizen": {**CONFIG["citizen"], "letter_address": LETTER_ADDRESS}})


def letter(daemon, case_id: str, path, *args) -> str:
    """Write the letter, turn it into a PNG as a person would see it, and return its text."""
    out = daemon.cli("cases", "letter", case_id, "--pdf", str(path), *args)
    assert b"letter written" in out.stdout
    assert path.read_bytes().startswith(b"%PDF-")
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(path), str(path.with_suffix(""))],
                   check=True)
    png = path.with_name(path.stem + "-1.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert abs(width - 661) <= 2 and abs(height - 935) <= 2, "an A4 page at 80 dpi"
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True).stdout.decode()


def test_a_refusal_letter_has_the_address_case_number_legal_basis_and_the_right_to_complain(daemon, relay, tmp_path):
    subject = "Forespørsel om endring i pasientjournal"
    send_form(daemon, subject, form_body(subject, text="Diagnosen F32.1 fra 12. mars er feil og må rettes."))
    (case,) = daemon.wait_cases(1)
    command(daemon, case["id"], "#avslag Behandleren mener diagnosen er riktig\n#klagerett")
    wait_until(lambda: daemon.case(case["id"])["form"]["statsforvalter_notice"], what="refusal recorded")
    pdf = tmp_path / "avslag.pdf"
    text = letter(daemon, case["id"], pdf)
    flat = " ".join(text.split())
    for expected in ("Ola Nordmann", "Storgata 1", "5003 Bergen", case["id"], "Postboks 1000",
                     "Avslag på henvendelsen din: Endring eller retting", "Behandleren mener diagnosen er riktig",
                     "Statsforvalteren", "pasient- og brukerrettighetsloven § 7-2",
                     "pasient- og brukerrettighetsloven § 5-2"):
        assert expected in flat, expected
    assert FNR not in flat and "311299" not in flat
    # the address sits above the fold where a window envelope shows it: before the heading
    assert flat.index("5003 Bergen") < flat.index("Avslag på henvendelsen din")
    # recording the answer keeps the posted letter on the case
    out = daemon.cli("cases", "answer", case["id"], "--by", "post", "--letter", str(pdf))
    assert b"kept on the case" in out.stdout
    shown = daemon.case(case["id"])
    assert shown["state"] == "closed" and "letter_kept" in audit(daemon, case["id"])
    (kept,) = [m for m in shown["messages"] if m["classification"] == "letter"]
    assert kept["direction"] == "out" and case["id"] in kept["text"]


def test_the_extension_letter_carries_the_reason_the_mail_did_not(daemon, relay, tmp_path):
    subject = "Forespørsel om kopi av pasientjournal"
    send_form(daemon, subject, form_body(subject))
    (case,) = daemon.wait_cases(1)
    reason = "Vi må hente psykiatrijournalen din fra tre helseforetak"
    command(daemon, case["id"], f"#forleng 1 {reason}")
    notice = mails(relay, "ola@example.no", 2)[1]
    assert "psykiatri" not in notice["raw"].decode("utf-8", "replace")
    flat = " ".join(letter(daemon, case["id"], tmp_path / "forlengelse.pdf").split())
    assert "Forlenget frist for svar" in flat and reason in flat and "artikkel 12 nr. 3" in flat
    assert "Storgata 1" in flat and case["id"] in flat
    assert OWNER_HANDLER not in flat


def test_a_paper_blocking_request_gets_the_referral_and_a_form_without_address_none(daemon, tmp_path):
    received = (today() - timedelta(days=2)).isoformat()
    case = daemon.json("forms", "register", "--type", "blocking", "--received", received, "--field", "name=Kari Nordmann",
                       "--field", f"identity_number={FNR}", "--field", "address=Fjellveien 2, 9008 Tromsø")
    flat = " ".join(letter(daemon, case["id"], tmp_path / "henvisning.pdf").split())
    assert "Veiledning Helsenorge" in flat and "23 32 70 00" in flat
    assert "Fjellveien 2" in flat and "9008 Tromsø" in flat and case["id"] in flat
    bare = daemon.json("forms", "register", "--type", "access_log", "--received", received, "--field", "name=Per")
    refused = daemon.cli("cases", "letter", bare["id"], "--pdf", str(tmp_path / "x.pdf"), check=False)
    assert refused.returncode == 1 and "postadresse" in refused.stderr.decode()
    assert not (tmp_path / "x.pdf").exists()
