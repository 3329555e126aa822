"""Commands for NHN's management meetings: report meeting, report support, digest."""

from __future__ import annotations

import json
import sys
from datetime import datetime, time, timedelta, timezone

from sqlmodel import Session

from .common import date_arg, open_runtime

DEFAULT_DAYS = 7  # report meeting without --since: cases closed in the last week


def _moment(value: str | None, option: str) -> datetime | None:
    """An ISO moment from the command line (naive: Norwegian time); absent: now. None after saying why."""
    from ..citizen.deadlines import OSLO

    if not value:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        print(f"{option}: {value!r} is not a time (YYYY-MM-DDTHH:MM)", file=sys.stderr)
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=OSLO)).astimezone(timezone.utc)


def cmd_report_meeting(args) -> int:
    from ..citizen.deadlines import OSLO, today
    from ..meeting import formats
    from ..meeting.report import gather

    day = date_arg(args.since, "--since") if args.since else today() - timedelta(days=DEFAULT_DAYS)
    if day is None:
        return 2
    since = datetime.combine(day, time(0), tzinfo=OSLO).astimezone(timezone.utc)
    rt = open_runtime(args)
    try:
        with Session(rt.engine) as session:
            report = gather(session, rt.config, now=datetime.now(timezone.utc), since=since)
        text = formats.write(report, args.format, rt.renderer, subjects=args.subjects)
    finally:
        rt.close()
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        print(f"{args.output}: {len(report.open)} open, {len(report.closed)} closed since {day.isoformat()}, "
              f"{len(report.citizen)} citizen case(s) near their deadline")
    else:
        sys.stdout.write(text)
    return 0


def support_rows(cfg) -> list[dict]:
    return [{"id": a.id, "name": a.name, "kind": a.kind, "local_support": a.local_support, "contact": a.contact,
             "handlers": list(a.handlers), "phone": a.phone,
             "lacks_local_support": a.kind in ("source", "consumer") and not a.local_support.strip()}
            for a in cfg.actor]


def cmd_report_support(args) -> int:
    rows = support_rows(args.cfg)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"{'actor':<16} {'kind':<14} {'local support':<34} {'contact (cases)':<34} {'phone':<14} handlers")
    for r in rows:
        print(f"{r['id']:<16} {r['kind']:<14} {r['local_support'] or ('MANGLER' if r['lacks_local_support'] else '-'):<34} {r['contact'] or '-':<34} "
              f"{r['phone'] or '-':<14} {', '.join(r['handlers']) or '-'}")
    lacking = [r for r in rows if r["lacks_local_support"]]
    if lacking:
        print(f"\nUten dokumentert lokal brukerstøtte ({len(lacking)}): "
              + ", ".join(f"{r['id']} ({r['name']})" for r in lacking))
    else:
        print("\nAlle kilder og konsumenter har dokumentert lokal brukerstøtte.")
    nhn = args.cfg.nhn
    print(f"Sakene når NHN via kundesenteret: {nhn.intake_address or 'ingen [nhn].intake_address'}, "
          f"telefon {nhn.phone or '-'}")
    return 0


def cmd_digest(args) -> int:
    from ..schedule import digest

    now = _moment(args.at, "--at")
    if now is None:
        return 2
    args.read_only = args.dry_run  # a preview reads and creates nothing
    rt = open_runtime(args)
    try:
        if args.dry_run:
            subject, text, html = digest.preview(rt, now)
            if args.html:
                sys.stdout.write(html or "")
            else:
                print(f"Subject: {subject}\nTo: {', '.join(rt.config.digest.recipients) or '(no [digest] recipients)'}"
                      f"\n\n{text}", end="")
            return 0
        if not rt.config.digest.recipients:
            print("no [digest] recipients configured: nothing sent", file=sys.stderr)
            return 1
        slot = digest.send_due_digest(rt, now)
        print(f"digest queued for {slot.isoformat()}" if slot else "no digest due (the latest one is sent)")
        return 0
    finally:
        rt.close()
