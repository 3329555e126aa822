"""What a recipient's mail program reads from a mail we render: the subject with its case tag,
the text and HTML parts, attachments with their names, threading headers, and no identity
number anywhere (not even in an attachment's name), neither decoded nor in the raw bytes."""

from __future__ import annotations

from email import message_from_bytes, policy
from types import SimpleNamespace

from daemon.config import parse
from daemon.outbound.render import Renderer
from daemon.outbound.tokens import Tokens
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

    from daemon.outbound import outbox
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
