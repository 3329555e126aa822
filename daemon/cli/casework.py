"""Commands an operator runs on one case from the machine: `cases command` (every mail command's
twin, through the same parser and rules), `cases accept` (`#godta`'s twin) and `cases
attachments` (list, or `--save DIR`).

The operator is trusted by being on the machine: their commands need no mail proof, and each is
audited with their login name (`cli:LOGIN`), in the same transaction as the change and the mail
it causes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from sqlmodel import Session, select

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
        print(json.dumps(outcome, ensure_ascii=False, indent=2))
    else:
        for r in outcome:
            print(f"{'OK  ' if r['ok'] else 'FEIL'} {r['command']}\n     {r['result']}")
    return 0 if all(r["ok"] for r in outcome) else 1


def cmd_cases_accept(args) -> int:
    """`sakspost cases accept ID`: the twin of the mail command `#godta`."""
    args.lines = ["#godta"]
    return cmd_cases_command(args)


def cmd_cases_attachments(args) -> int:
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
                    path = target / safe_name(att.id, att.filename)
                    path.write_bytes(att.data)
                    entry["saved_as"] = str(path)
                listed.append(entry)
    finally:
        rt.close()
    if args.json:
        print(json.dumps(listed, ensure_ascii=False, indent=2))
        return 0
    for e in listed:
        saved = f"  -> {e['saved_as']}" if "saved_as" in e else ""
        print(f"#{e['id']:<5} msg {e['message']:<6} {e['direction']:<3} {e['size']:>9}  {e['content_type']:<28} "
              f"{e['filename'] or '(uten navn)'}{saved}")
    if not listed:
        print("no attachments")
    return 0


def safe_name(attachment_id: int, filename: str) -> str:
    """A file name to save an attachment under: its id first (two may share a name), then its own
    name without any directory part or character a shell or file system would trip on."""
    base = re.sub(r"[^\w.æøåÆØÅ-]+", "_", Path((filename or "").replace("\\", "/")).name).strip("._")
    return f"{attachment_id}-{base or 'vedlegg'}"
