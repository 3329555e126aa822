"""What a recipient's mail program reads from a mail we render: the subject with its case tag,
the text and HTML parts, attachments with their names, threading headers, and no identity
number anywhere (not even in an attachment's name), neither decoded nor in the raw bytes."""

from __future__ import annotations

from email import message_from_bytes, policy
from types import SimpleNamespace

from daemon.config import parse
from daemon.outbound.render import WIRE, Renderer
from daemon.registry.tokens import Tokens
from test_pii import first_number

FNR = first_number("010190")


def _renderer(tmp_path) -> Renderer:
    config = parse({"paths": {"var_dir": str(tmp_path / "var")}}, source="test")
    return Renderer(config, Tokens(b"k" * 32, config.identity.domain))


def test_a_rendered_mail_reads_back_as_it_was_meant(tmp_path):
    log = f"08:15 oppslag feilet for {FNR}\n".encode()
    composed = _renderer(tmp_path).compose(
        "acknowledgement",
        {"case": SimpleNamespace(id="SAK-2026-000042", subject=f"Tom side i DIPS for {FNR}"),
         "reporter_name": "Kåre Ødegård", "escalated": False, "nhn_phone": ""},
        to=["kare@ous-hf.example"], cc=["leder@ous-hf.example"], case_id="SAK-2026-000042",
        in_reply_to="orig@ous-hf.example", references=["first@ous-hf.example"],
        attachments=[SimpleNamespace(filename="logg-æøå.txt", content_type="text/plain", data=log),
                     SimpleNamespace(filename=f"journal-{FNR}.pdf", content_type="application/pdf", data=b"%PDF-1.4")],
    )
    assert FNR.encode() not in composed.raw
    assert composed.raw.count(b"\r\n") > 10 and b"\n" not in composed.raw.replace(b"\r\n", b"")
    mail = message_from_bytes(composed.raw, policy=policy.default)
    assert mail["Subject"].startswith("[SAK-2026-000042] ")
    assert FNR not in str(mail["Subject"])
    assert mail["Message-ID"].strip() == f"<{composed.message_id}>"
    assert mail["In-Reply-To"] == "<orig@ous-hf.example>"
    assert mail["References"].split() == ["<first@ous-hf.example>", "<orig@ous-hf.example>"]
    assert mail["To"] == "kare@ous-hf.example" and mail["Cc"] == "leder@ous-hf.example"
    assert mail["Auto-Submitted"] == "auto-replied" and mail["X-Sakspost-Case"] == "SAK-2026-000042"
    assert len(mail.get_all("MIME-Version")) == 1
    assert [p.get_content_type() for p in mail.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/plain", "application/pdf"]
    text = mail.get_body(("plain",)).get_content()
    assert "SAK-2026-000042" in text and "Kåre Ødegård" in text and FNR not in text
    assert "SAK-2026-000042" in mail.get_body(("html",)).get_content()
    attachment, pdf = list(mail.iter_attachments())
    assert attachment.get_filename() == "logg-æøå.txt"
    content = attachment.get_content()
    assert "08:15 oppslag feilet for" in content and FNR not in content
    assert pdf.get_filename().startswith("journal-") and FNR not in pdf.get_filename()


def test_a_large_queued_mail_is_kept_byte_for_byte(tmp_path):
    """A mail over the size that goes through a blob handle (logs forwarded to NHN) is queued
    exactly as rendered, in the transaction that queues it."""
    import random

    from sqlmodel import Session

    from daemon.registry import outbox
    from daemon.registry.db import open_engine
    from daemon.registry.models import RawMessage
    from daemon.registry.store import LARGE

    log = random.Random(6).randbytes(3 * LARGE)
    composed = _renderer(tmp_path).compose(
        "acknowledgement", {"case": SimpleNamespace(id=None, subject="Logg"), "reporter_name": "Kari",
                            "escalated": False, "nhn_phone": ""},
        to=["kari@ous-hf.example"], attachments=[SimpleNamespace(filename="gateway.bin",
                                                                 content_type="application/octet-stream", data=log)])
    assert len(composed.raw) > 3 * LARGE
    engine = open_engine(f"sqlite:///{tmp_path}/sakspost.db")
    try:
        with Session(engine) as session:
            pk = outbox.enqueue(session, composed, case_id=None, purpose="test", envelope_from="a@b.example")
            session.commit()
        with Session(engine) as session:
            assert session.get(RawMessage, pk).data == composed.raw
    finally:
        engine.dispose()


def _with_mime_classes(renderer, name, context, *, to, cc, case_id, in_reply_to, references, attachments):
    """The same mail built as sakspost built it before: the stdlib's MIME classes and generator."""
    from email.message import Message
    from email.mime.multipart import MIMEMultipart
    from email.utils import formataddr, formatdate

    from daemon.outbound import render
    from daemon.pii import redact_identity_numbers

    def text_part(text, subtype):
        part = Message()
        part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
        part["MIME-Version"] = "1.0"
        if not all(len(line) <= render.MAX_8BIT_LINE for line in text.splitlines()):
            cte, payload = "quoted-printable", render.UTF8_QP.body_encode(text)
        elif text.isascii():
            cte, payload = "7bit", text
        else:
            cte, payload = "8bit", text.encode("utf-8").decode("ascii", "surrogateescape")
        part["Content-Transfer-Encoding"] = cte
        part.set_payload(payload)
        return part

    def attachment(att):
        from email import encoders
        from email.mime.nonmultipart import MIMENonMultipart
        data = att.data
        maintype, _, subtype = att.content_type.partition("/")
        params = {}
        if maintype == "text":
            data, params = redact_identity_numbers(data.decode("utf-8")).encode("utf-8"), {"charset": "utf-8"}
        part = MIMENonMultipart(maintype, subtype, **params)
        part.set_payload(data)
        encoders.encode_base64(part)
        filename = headers.filename(att.filename)
        part.add_header("Content-Disposition", "attachment",
                        filename=filename if filename.isascii() else ("utf-8", "", filename))
        return part

    from daemon.outbound import headers

    subject, text, html = renderer.render(name, context)
    subject = redact_identity_numbers(f"[{case_id}] " + subject)
    body = text_part(redact_identity_numbers(text), "plain")
    if html is not None:
        body = MIMEMultipart("alternative", render._boundary(), _subparts=[body, text_part(redact_identity_numbers(html), "html")])
    msg = body
    if attachments:
        msg = MIMEMultipart("mixed", render._boundary(), _subparts=[body, *map(attachment, attachments)])
    for part in msg.walk() if msg.is_multipart() else ():
        if part is not msg:
            del part["MIME-Version"]
    identity = renderer.config.identity
    refs = list(dict.fromkeys([*references, in_reply_to]))
    for header, value in [
        ("From", formataddr((identity.name, identity.address))), ("To", ", ".join(to)), ("Cc", ", ".join(cc)),
        ("Subject", stdlib_header(headers.guard("Subject", subject))), ("Date", formatdate(localtime=True)),
        ("Message-ID", f"<{renderer.tokens.message_id(case_id)}>"), ("In-Reply-To", f"<{in_reply_to}>"),
        ("References", " ".join(f"<{r}>" for r in refs)), ("Auto-Submitted", "auto-replied"),
        ("X-Auto-Response-Suppress", "All"), ("Content-Language", "nb"), ("X-Sakspost-Case", case_id),
    ]:
        if value:
            msg[header] = value
    return msg.as_bytes(policy=render.WIRE)


def stdlib_header(value):
    """A guarded header value as the stdlib would write it: one to be encoded as an `email.header.Header`."""
    from email.header import Header

    from daemon.outbound import headers

    return Header(value, headers.UTF8_HEADER) if isinstance(value, headers.Encoded) else value


def test_a_mail_is_written_byte_for_byte_as_the_stdlib_mime_classes_write_it(tmp_path, monkeypatch):
    """Every shape of mail we send (text only, text and HTML, with text and binary attachments;
    ASCII, 8-bit and quoted-printable text; a long non-ASCII subject; an attachment name in UTF-8)
    comes out exactly as `email.mime` and the generator would write it."""
    import itertools

    from daemon.outbound import render

    renderer = _renderer(tmp_path)
    counter = itertools.count()
    monkeypatch.setattr(render, "_boundary", lambda: f"=_{next(counter):024x}")
    monkeypatch.setattr(render, "_date", lambda: "Tue, 01 Dec 2026 10:00:00 +0100")
    monkeypatch.setattr(renderer.tokens, "message_id", lambda case_id: f"{case_id}.fixed@saksregister.example")
    from email import utils
    monkeypatch.setattr(utils, "formatdate", lambda localtime=True: "Tue, 01 Dec 2026 10:00:00 +0100")
    from daemon.registry.models import Case

    case = Case(id="SAK-2026-000042", kind="incident", state="open", severity="B", reporter="kare@ous-hf.example",
                subject="Tom side i DIPS ved innlogging på legekontoret i Bærum", service="DIPS")
    shapes = [
        ("acknowledgement", {"reporter_name": "Kåre Ødegård", "escalated": False, "nhn_phone": ""}, []),
        ("acknowledgement", {"reporter_name": "Kari", "escalated": True, "nhn_phone": "23 00 00 00"},
         [SimpleNamespace(filename="logg-æøå.txt", content_type="text/plain", data=f"linje {FNR}\n".encode()),
          SimpleNamespace(filename="dump.bin", content_type="application/octet-stream", data=bytes(range(256)) * 3)]),
        ("command_refused", {"commands": ["#lukk", "#alvorlighetsgrad A"]}, []),
        ("status_update", {"headline": "Svar fra NHN", "text": "kort linje\n" + "lang " * 40 + "\n", "withheld": []}, []),
        ("status_update", {"headline": "Status", "text": "plain ascii text only\n", "withheld": ["bilde.png"]},
         [SimpleNamespace(filename="a.log", content_type="text/plain", data=b"ok\n")]),
    ]
    seen_parts = set()
    for name, context, attachments in shapes:
        args = dict(to=["kare@ous-hf.example"], cc=["leder@ous-hf.example"], case_id=case.id,
                    in_reply_to="orig@ous-hf.example", references=["first@ous-hf.example"], attachments=attachments)
        start = next(counter)
        ours = renderer.compose(name, {"case": case, **context}, **args).raw
        counter = itertools.count(start + 1)
        monkeypatch.setattr(render, "_boundary", lambda: f"=_{next(counter):024x}")
        theirs = _with_mime_classes(renderer, name, {"case": case, **context}, **args)
        assert ours == theirs, name
        seen_parts.update(p.get_content_type() + ":" + str(p["Content-Transfer-Encoding"])
                          for p in message_from_bytes(ours).walk())
    assert {"text/plain:quoted-printable", "text/html:quoted-printable", "multipart/mixed:None",
            "text/plain:base64", "application/octet-stream:base64"} <= seen_parts, seen_parts


def test_a_text_part_is_written_as_mimetext_writes_it():
    """7bit, 8bit and quoted-printable, CRLF, CR and LF line ends, empty text."""
    from email.mime.text import MIMEText

    from daemon.outbound import render

    texts = ["", "kort\n", "kort linje\nuten slutt", "Hei Kåre,\nkort.\n", "x" * 79 + "\n", "å" * 79,
             "linje\r\nmed CRLF\r\n", "gammel\rMac\r", "blanding\r\nav\nlinjeslutt\r", "=?utf-8?q?ikke?=\n",
             "From the start\n.dot\n", "tab\there\n", "trailing space \n" + "ø " * 60]
    seen = set()
    for text in texts:
        headers, body = render._text_part(text, "plain")
        ours = render._headers([headers[0], ("MIME-Version", "1.0"), headers[1]]) + b"\r\n" + body
        charset = render.UTF8_QP if dict(headers)["Content-Transfer-Encoding"] == "quoted-printable" else "utf-8"
        theirs = MIMEText(text, "plain", charset)
        if dict(headers)["Content-Transfer-Encoding"] != "quoted-printable":  # as sakspost set it
            del theirs["Content-Transfer-Encoding"]
            theirs["Content-Transfer-Encoding"] = "7bit" if text.isascii() else "8bit"
            theirs.set_payload(text if text.isascii() else text.encode("utf-8").decode("ascii", "surrogateescape"))
        assert ours == theirs.as_bytes(policy=render.WIRE), text
        seen.add(dict(headers)["Content-Transfer-Encoding"])
    assert seen == {"7bit", "8bit", "quoted-printable"}


def test_an_edited_template_is_taken_up_without_a_restart(tmp_path, monkeypatch):
    import shutil

    from conftest import ROOT
    from daemon.outbound import render

    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    config = parse({"paths": {"var_dir": str(tmp_path / "var"), "templates_dir": str(templates)}}, source="test")
    renderer = Renderer(config, Tokens(b"k" * 32, config.identity.domain))
    context = {"headline": "Status", "text": "ny tekst\n", "withheld": [], "case": SimpleNamespace(id="SAK-2026-000001", subject="Feil", nhn_reference=None)}
    subject, text, html = renderer.render("status_update", context)
    assert html is None and "ENDRET" not in text
    (templates / "nb" / "status_update.txt").write_text(
        (templates / "nb" / "status_update.txt").read_text(encoding="utf-8") + "ENDRET\n", encoding="utf-8")
    (templates / "nb" / "status_update.html").write_text("<p>{{ headline }}</p>\n", encoding="utf-8")
    monkeypatch.setattr(render, "TEMPLATE_CHECK_SECONDS", 0.0)
    subject, text, html = renderer.render("status_update", context)
    assert "ENDRET" in text and html == "<p>Status</p>\n"


def test_a_long_ascii_header_is_folded_as_the_stdlib_folds_it():
    """Subject, Message-ID, References, To: where a long plain header breaks is what
    email.header.Header's formatter decides (splitchars, overlong words, runs of white space)."""
    import random
    from email import header

    from daemon.outbound.render import _fold_ascii

    rng = random.Random(6)
    words = ["SAK-2026-000001", "[SAK-2026-000001]", "Mottatt:", "XCA-oppslag", "feiler", "ved", ",", ";", "a;b",
             "x,y", "<abc.def@example.no>", "", "x" * 90, "y" * 40, "z" * 77,
             "<SAK-2026-000001.cba3bdaee0aa1726.8c81cb9c7e22c2d060b7@saksregister.example>"]
    separators = [" ", "  ", "\t", " \t", ", ", "; ", ",", ";"]
    for _ in range(5000):
        name = rng.choice(["Subject", "Message-ID", "References", "To", "X", "X-A-Rather-Long-Header-Name"])
        n = rng.randrange(1, 14)
        value = "".join(rng.choice(words) + (rng.choice(separators) if i < n - 1 else "") for i in range(n))
        if rng.random() < 0.2:
            value = rng.choice(separators) + value
        if rng.random() < 0.2:
            value += rng.choice(separators)
        assert _fold_ascii(name, value, 78, "\r\n") == header.Header(value, header_name=name).encode(
            linesep="\r\n", maxlinelen=78), (name, value)


def test_a_non_ascii_header_is_encoded_as_the_stdlib_encodes_it():
    """A subject or name that is not plain ASCII is written as the base64 encoded words, folded,
    that `email.header.Header` with our UTF-8 charset makes of it: characters of one to four bytes,
    words cut where a character would not fit, short and very long values."""
    import random
    from email import header

    from daemon.outbound import headers

    rng = random.Random(6)
    alphabet = ["a", "Z", " ", "-", ":", "[", "]", "æ", "ø", "å", "Å", "é", "€", "\u2013", "\u202f", "中", "😀", "=?",
                "SAK-2026-000001", "Feil i dokumentdeling", "=?utf-8?q?=0D=0A?="]
    values = ["æ", "ø" * 24, "ø" * 25, "a" * 47 + "ø", "a" * 46 + "😀", "😀" * 12, "😀" * 13]
    values += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 60))) for _ in range(3000)]
    for value in values:
        expected = header.Header(value, headers.UTF8_HEADER).encode(linesep="\r\n", maxlinelen=78)
        assert headers.encoded_words(value) == expected, value
        line = WIRE.fold_binary("Subject", headers.Encoded(value))
        assert line == f"Subject: {expected}\r\n".encode("ascii")


def test_the_date_header_is_the_local_time_of_sending():
    """Our Date header is what `formatdate(localtime=True)` says at that second."""
    import time
    from email.utils import formatdate

    from daemon.outbound import render

    for _ in range(3):
        before = formatdate(localtime=True)
        got = render._date()
        after = formatdate(localtime=True)
        assert got in (before, after)
        time.sleep(0.4)
