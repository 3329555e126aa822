"""A deterministic generator of the mail this daemon lives on, carried with the project so that the
tests and the benchmark need nothing beside the checkout.

    python -m bench.mailgen OUTDIR N [--seed S] [--mbox FILE] [--no-manifest]

Writes OUTDIR/000001.eml .. OUTDIR/{N:06d}.eml (RFC 5322, LF line endings) and OUTDIR/manifest.jsonl
(one JSON object per message: file, kind, message_id, ... the ground truth a test checks against).
The same N and seed give byte-identical output (stdlib only).

Mix (drawn per message from the seeded random source): ~60% incident reports from health personnel
("Feil i dokumentdeling: ...", most with "Alvorlighetsgrad: A|B|C|D", some with a synthetic
identity-number-shaped number), ~20% replies ("SV:"/"Re:") on earlier generated threads, ~15% citizen
forms (one of five types, "Felt: verdi" lines), ~5% auto-replies and delivery-status bounces. RFC 2047
subjects and names (utf-8 B/Q, iso-8859-1 Q), some raw 8-bit UTF-8 headers, utf-8 and iso-8859-1 bodies
in 8bit / quoted-printable / base64, multipart/alternative, base64 attachments of 5-200 KB on ~10%.
All domains are under .example (RFC 2606): nothing here can reach a real mailbox.

Taken from the project's shared test material (`shared/corpus/gen_corpus.py`), split into modules;
its output is unchanged byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

from .kinds import Gen

__all__ = ["Gen", "write_corpus"]


def write_corpus(outdir, n: int, seed: int = 1, mbox=None, manifest: bool = True) -> int:
    """Write N generated messages (and their manifest, and an mbox copy if asked) to OUTDIR;
    return the number of bytes written."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    g = Gen(seed)
    man = open(outdir / "manifest.jsonl", "w", encoding="utf-8") if manifest else None
    box = open(mbox, "wb") if mbox else None
    total = 0
    try:
        for i in range(1, n + 1):
            raw, meta = g.one()
            fn = f"{i:06d}.eml"
            (outdir / fn).write_bytes(raw)
            total += len(raw)
            if man:
                man.write(json.dumps(dict(file=fn, size=len(raw), **meta), ensure_ascii=False) + "\n")
            if box:
                box.write(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n")
                for line in raw.split(b"\n"):
                    if line.lstrip(b">").startswith(b"From "):
                        line = b">" + line
                    box.write(line + b"\n")
                if not raw.endswith(b"\n"):
                    box.write(b"\n")
                box.write(b"\n")
    finally:
        for f in (man, box):
            if f:
                f.close()
    return total
