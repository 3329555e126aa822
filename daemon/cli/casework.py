"""Commands an operator runs on one case from the machine: `cases command` (every mail command's
twin, through the same parser and rules), `cases accept` (`#godta`'s twin) and `cases
attachments` (list, or `--save DIR`).

The operator is trusted by being on the machine: their commands need no mail proof, and each is
audited with their login name (`cli:LOGIN`), in the same transaction as the change and the mail
it causes.
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from pathlib import Path

from sqlmodel import Session, select

from ..inert import json_text, visible
from ..parse.mail import NAME_BYTES, shortened
from .common import acting_user, case_data, open_runtime


def cmd_cases_command(args) -> int:
    from ..pipeline import commands
    from ..registry import cases

    lines = commands.parse("\n".join(args.lines))
    if len(lines) != len([t for t in args.lines if t.strip()]):
        print("every argument must be one command line, e.g. '#lukk' or '#notat TEKST'", file=sys.stderr)
        return 2
    who = acting_user()

    def run(session, case):
        outcome = commands.execute(session, args.rt, case, commands.NO_MESSAGE, lines, who)
        cases.note(session, case, "commands_run", who=who,
                   detail={"results": outcome, "proven_by": "operator on the machine"})
        session.commit()
        return outcome

    outcome = case_data(args, run)
    if outcome is None:
        return 1
    if args.json:
        print(json_text(outcome))
    else:
        for r in outcome:
            print(f"{'OK  ' if r['ok'] else 'FEIL'} {r['command']}\n     {r['result']}")
    return 0 if all(r["ok"] for r in outcome) else 1


def cmd_cases_accept(args) -> int:
    """`sakspost cases accept ID`: the twin of the mail command `#godta`."""
    args.lines = ["#godta"]
    return cmd_cases_command(args)


def cmd_cases_attachments(args) -> int:
    """List a case's attachments, or save each into --save DIR. Each is saved or reported on its
    own: one that cannot be written never keeps the rest from being saved, and the status is 1
    unless every one was."""
    from ..registry.models import Attachment, Case, Message

    rt = open_runtime(args)
    try:
        with Session(rt.engine) as session:
            if session.get(Case, args.id) is None:
                print(f"no case {args.id}", file=sys.stderr)
                return 1
            rows = list(session.exec(select(Attachment, Message).join(Message, Message.id == Attachment.message_pk)
                                     .where(Message.case_id == args.id).order_by(Attachment.id)))
            listed = []
            target = Path(args.save) if args.save else None
            if target is not None:
                target.mkdir(parents=True, exist_ok=True)
            for att, msg in rows:
                entry = {"id": att.id, "message": msg.id, "direction": msg.direction, "from": msg.from_addr,
                         "filename": att.filename, "content_type": att.content_type, "size": att.size}
                if target is not None:
                    path = target / safe_name(att.id, att.filename, name_max(target))
                    try:
                        path.write_bytes(att.data)
                        entry["saved_as"] = str(path)
                    except OSError as exc:
                        entry["not_saved"] = f"{path}: {exc.strerror or exc}"
                listed.append(entry)
    finally:
        rt.close()
    failed = [e for e in listed if "not_saved" in e]
    if args.json:
        print(json_text(listed))
        return 1 if failed else 0
    for e in listed:
        saved = f"  -> {e['saved_as']}" if "saved_as" in e else ""
        print(visible(f"#{e['id']:<5} msg {e['message']:<6} {e['direction']:<3} {e['size']:>9}  "
                      f"{e['content_type']:<28} {e['filename'] or '(uten navn)'}{saved}"))
        if "not_saved" in e:
            print(visible(f"#{e['id']}: ikke lagret: {e['not_saved']}"), file=sys.stderr)
    if not listed:
        print("no attachments")
    if failed:
        print(f"{len(failed)} of {len(listed)} attachment(s) not saved", file=sys.stderr)
    return 1 if failed else 0


def name_max(directory: Path) -> int:
    """How many bytes a file name in DIRECTORY may have, as its file system says."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return NAME_BYTES


def safe_name(attachment_id: int, filename: str, limit: int = NAME_BYTES) -> str:
    """A file name to save an attachment under: its id first (two may share a name, and no name
    then begins with a dot), then its own name without any directory part, control character,
    bidirectional override or other character a shell or file system would trip on, cut to
    LIMIT bytes of UTF-8 with its extension kept."""
    name = unicodedata.normalize("NFC", Path((filename or "").replace("\\", "/")).name)
    return shortened(f"{attachment_id}-" + (re.sub(r"[^\w.-]+", "_", name).strip("._") or "vedlegg"), limit)
