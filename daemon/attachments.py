"""The text of an attachment, read in full or not at all, for both workflows.

Decides what kind an attachment is and what text it holds, so that patient data in it can be
found (`pii.disclosure`) before it leaves the organisation:

* ``text``: text/*, JSON, XML, CSV, .log and the like, and anything unnamed that decodes as
  printable text. Decoded by `decode_text`: a byte-order mark, else the declared charset, else
  UTF-16/UTF-32 recognised by where the NUL bytes are, else UTF-8, else cp1252, else latin-1
  (so a cp1252 `å` stays `å`, never U+FFFD);
* ``pdf``: the text of every page, the document information and XMP metadata, form fields
  (names and values), annotations, outline titles and embedded text files, read by pypdf in a
  separate process (`python -m daemon.attachments`) under a CPU-time and address-space limit
  and a wall-clock timeout: a hostile or huge PDF costs that process, not the daemon;
* ``mail``: a forwarded message (message/rfc822, .eml): its headers and every part, recursively;
* ``binary``: anything else (images, archives, office files), whose text we cannot read.

``complete`` is False when the text could not be read in full within the bounds (encrypted,
broken, too slow, too large, a part we cannot read): such an attachment is withheld, named,
and offered through a secure channel, like a binary one.
"""

from __future__ import annotations

import codecs
import email
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from email import policy

PDF_SECONDS = 20
PDF_CPU_SECONDS = 15
PDF_MEMORY_BYTES = 768 * 1024 * 1024
MAX_PDF_PAGES = 5000
MAX_DEPTH = 3
PDF_TAIL = 65536

TEXT_TYPES = frozenset({
    "application/json", "application/xml", "application/csv", "application/x-ndjson", "application/ld+json",
    "application/javascript", "application/x-yaml", "application/yaml", "application/x-sh", "application/sql",
    "application/hl7-v2", "application/fhir+json", "application/fhir+xml", "application/xhtml+xml",
})
TEXT_SUFFIXES = (".txt", ".log", ".csv", ".tsv", ".json", ".ndjson", ".xml", ".html", ".htm", ".xhtml", ".md",
                 ".yaml", ".yml", ".ini", ".cfg", ".conf", ".hl7", ".out", ".err", ".trace", ".sql")
MAIL_TYPES = frozenset({"message/rfc822", "message/global"})

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:\-]+)", re.I)
_PRINTABLE = re.compile(r"[^\x00-\x08\x0b\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Extracted:
    kind: str  # "text", "pdf", "mail" or "binary"
    text: str = ""
    complete: bool = True
    reason: str = ""


def _nul_codec(sample: bytes) -> str | None:
    """UTF-16 or UTF-32 without a byte-order mark, from where the NUL bytes of SAMPLE are."""
    if b"\x00" not in sample:
        return None
    n = len(sample) - len(sample) % 4
    if n < 4:
        return None
    zero = [sum(1 for i in range(k, n, 4) if sample[i] == 0) / (n // 4) for k in range(4)]
    if zero[1] > 0.9 and zero[2] > 0.9 and zero[3] > 0.9:
        return "utf-32-le"
    if zero[0] > 0.9 and zero[1] > 0.9 and zero[2] > 0.9:
        return "utf-32-be"
    if zero[1] > 0.5 and zero[3] > 0.5:
        return "utf-16-le"
    if zero[0] > 0.5 and zero[2] > 0.5:
        return "utf-16-be"
    return None


def decode_text(data: bytes, charset: str | None = None) -> str:
    """DATA as text, every character kept: BOM, declared CHARSET, UTF-16/32 by its NULs, UTF-8,
    cp1252, latin-1 (which reads any bytes), the first that decodes without error."""
    data = bytes(data or b"")
    candidates = [codec for bom, codec in _BOMS if data.startswith(bom)][:1]
    candidates += [c for c in (charset, _nul_codec(data[:4096]), "utf-8", "cp1252") if c]
    for codec in candidates:
        try:
            return data.decode(codec)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def charset_of(content_type: str) -> str | None:
    m = _CHARSET.search(content_type or "")
    return m.group(1) if m else None


def kind_of(filename: str, content_type: str, data: bytes) -> str:
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    name = (filename or "").lower()
    if ctype == "application/pdf" or name.endswith(".pdf") or bytes(data[:5]) == b"%PDF-":
        return "pdf"
    if ctype in MAIL_TYPES or name.endswith(".eml"):
        return "mail"
    if ctype.startswith("text/") or ctype in TEXT_TYPES or ctype.endswith(("+json", "+xml")) \
            or name.endswith(TEXT_SUFFIXES):
        return "text"
    if ctype in ("", "application/octet-stream") and _looks_like_text(bytes(data[:65536])):
        return "text"
    return "binary"


def _looks_like_text(sample: bytes) -> bool:
    if not sample:
        return False
    if b"\x00" in sample and _nul_codec(sample) is None:
        return False
    text = decode_text(sample)
    return len(_PRINTABLE.findall(text)) >= 0.97 * len(text)


def extract(filename: str, content_type: str, data: bytes, *, depth: int = 0) -> Extracted:
    """What kind the attachment is and all its text; never raises."""
    data = bytes(data or b"")
    kind = kind_of(filename, content_type, data)
    try:
        if kind == "text":
            return Extracted("text", decode_text(data, charset_of(content_type)))
        if kind == "pdf":
            return pdf_text(data)
        if kind == "mail":
            return _mail_text(data, depth)
    except Exception as exc:  # one unreadable attachment is withheld, never a failed mail
        return Extracted(kind, "", False, f"unreadable: {type(exc).__name__}")
    return Extracted("binary", "", False, "not a text-bearing type")


def _mail_text(data: bytes, depth: int) -> Extracted:
    if depth >= MAX_DEPTH:
        return Extracted("mail", "", False, "nested too deep")
    msg = email.message_from_bytes(data, policy=policy.compat32)
    texts = [f"{k}: {v}" for k, v in msg.items()]
    complete, reason = True, ""
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        inner = extract(part.get_filename() or "", part.get_content_type(), payload, depth=depth + 1)
        if inner.kind == "text" and part.get_content_charset():
            inner = Extracted("text", decode_text(payload, part.get_content_charset()))
        texts.append(inner.text)
        if not inner.complete:
            complete, reason = False, inner.reason or "a part cannot be read"
    return Extracted("mail", "\n".join(texts), complete, reason)


def takes_time(att) -> bool:
    """Is ATT (with `filename`, `content_type`, `data`) a PDF or a forwarded mail that may hold
    one: what `extract` may need a child process for?"""
    kind = kind_of(att.filename or "", att.content_type or "", att.data)
    if kind == "pdf":  # one without an end-of-file marker is refused at once (`pdf_text`)
        tail = att.data[-PDF_TAIL:]
        return b"%%EOF" in tail or b"startxref" in tail
    return kind == "mail" and b"%PDF" in att.data


def prepare(items) -> None:
    """Read ITEMS (attachments that `takes_time`), so that `extract` later finds their PDFs read:
    the pipeline calls this before its write transaction, which must never wait for a child
    process (issue 15)."""
    for att in items:
        extract(att.filename or "", att.content_type or "", att.data)


_READ: "OrderedDict[bytes, Extracted]" = OrderedDict()  # the last PDFs read, by SHA-256
_READ_MAX = 64
_READ_LOCK = threading.Lock()


def pdf_text(data: bytes) -> Extracted:
    """All text of a PDF, read in a child process under limits; incomplete if it was not read in full.
    Bytes with no end-of-file marker in their last `PDF_TAIL` bytes are no PDF a reader opens in
    full: they are reported at once, without a process. The last `_READ_MAX` results are kept."""
    if b"%%EOF" not in data[-PDF_TAIL:] and b"startxref" not in data[-PDF_TAIL:]:
        return Extracted("pdf", "", False, "no end-of-file marker: not a complete PDF")
    digest = hashlib.sha256(data).digest()
    with _READ_LOCK:
        if digest in _READ:
            _READ.move_to_end(digest)
            return _READ[digest]
    got = _pdf_text_in_child(data)
    with _READ_LOCK:
        _READ[digest] = got
        while len(_READ) > _READ_MAX:
            _READ.popitem(last=False)
    return got


def _pdf_text_in_child(data: bytes) -> Extracted:
    try:
        done = subprocess.run([sys.executable, "-m", "daemon.attachments"], input=data, capture_output=True,
                              timeout=PDF_SECONDS, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    except subprocess.TimeoutExpired:
        return Extracted("pdf", "", False, f"not read within {PDF_SECONDS} s")
    if done.returncode != 0:
        return Extracted("pdf", "", False, f"reader ended with status {done.returncode}")
    try:
        result = json.loads(done.stdout)
    except ValueError:
        return Extracted("pdf", "", False, "reader gave no result")
    return Extracted("pdf", result["text"], bool(result["complete"]), result.get("reason", ""))


# -- the child process ---------------------------------------------------------------------------

def _limit() -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_CPU, (PDF_CPU_SECONDS, PDF_CPU_SECONDS + 1))
    resource.setrlimit(resource.RLIMIT_AS, (PDF_MEMORY_BYTES, PDF_MEMORY_BYTES))


def _pdf_strings(value, out: list[str], seen: set[int], depth: int = 0) -> None:
    """Every string in a PDF object (annotation, field), followed through references."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, TextStringObject, ByteStringObject
    if depth > 8:
        return
    if isinstance(value, IndirectObject):
        if (value.idnum, value.generation) in seen:
            return
        seen.add((value.idnum, value.generation))
        value = value.get_object()
    if isinstance(value, (TextStringObject, str)):
        out.append(str(value))
    elif isinstance(value, ByteStringObject):
        out.append(decode_text(bytes(value)))
    elif isinstance(value, DictionaryObject):
        for key, item in value.items():
            if key not in ("/Parent", "/P", "/Kids", "/AP"):
                _pdf_strings(item, out, seen, depth + 1)
    elif isinstance(value, ArrayObject):
        for item in value:
            _pdf_strings(item, out, seen, depth + 1)


def _read_pdf(data: bytes) -> dict:
    from pypdf import PdfReader
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and not reader.decrypt(""):
        return {"text": "", "complete": False, "reason": "encrypted"}
    texts: list[str] = []
    complete, reason = True, ""
    seen: set = set()
    for key, value in (reader.metadata or {}).items():
        texts.append(f"{key}: {value}")
    root = reader.trailer["/Root"].get_object()
    if "/Metadata" in root:
        texts.append(decode_text(root["/Metadata"].get_object().get_data()))
    if len(reader.pages) > MAX_PDF_PAGES:
        return {"text": "", "complete": False, "reason": f"more than {MAX_PDF_PAGES} pages"}
    for index, page in enumerate(reader.pages):
        try:
            texts.append(page.extract_text() or "")
            if "/Annots" in page:
                _pdf_strings(page["/Annots"], texts, seen)
        except Exception as exc:
            complete, reason = False, f"page {index + 1}: {type(exc).__name__}"
    for name, field in (reader.get_fields() or {}).items():
        texts.append(str(name))
        _pdf_strings(field.get("/V"), texts, seen)
        _pdf_strings(field.get("/TU"), texts, seen)
    _outline(reader.outline, texts)
    for name, contents in (reader.attachments or {}).items():
        for content in contents:
            inner = extract(name, "", content, depth=1)
            texts += [name, inner.text]
            if not inner.complete:
                complete, reason = False, f"embedded file {name}: {inner.reason}"
    return {"text": "\n".join(t for t in texts if t), "complete": complete, "reason": reason}


def _outline(items, texts: list[str]) -> None:
    for item in items or ():
        if isinstance(item, list):
            _outline(item, texts)
        else:
            texts.append(str(getattr(item, "title", "") or ""))


def _child() -> int:
    _limit()
    data = sys.stdin.buffer.read()
    try:
        result = _read_pdf(data)
    except Exception as exc:  # a broken PDF: not read in full
        result = {"text": "", "complete": False, "reason": f"unreadable: {type(exc).__name__}"}
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_child())
