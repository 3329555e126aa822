"""Commands that read cases: cases list/show/export, report escalations, actors."""

from __future__ import annotations

import json
import sys

from sqlmodel import Session, select

from .. import views
from ..pii import mask_identity_numbers
from .citizen import print_follow_ups
from .common import case_data, date_arg, open_runtime


def cmd_cases_list(args) -> int:
    from datetime import timedelta

    from sqlalchemy import or_

    from ..registry import states
    from ..registry.models import Case

    day = date_arg(args.today, "--today")
    if day is None:
        return 2
    rt = open_runtime(args)
    try:
        with Session(rt.engine) as session:
            stmt = select(Case).order_by(Case.created_at, Case.id)
            if args.state:
                stmt = stmt.where(Case.state == args.state)
            if args.kind:
                stmt = stmt.where(Case.kind == args.kind)
            if args.overdue or args.due_within is not None:
                due = []
                if args.overdue:
                    due.append(Case.deadline < day)
                if args.due_within is not None:
                    due.append(Case.deadline.between(day, day + timedelta(days=args.due_within)))
                stmt = (stmt.where(Case.deadline.is_not(None), Case.state.in_(states.ACTIVE), or_(*due))
                        .order_by(None).order_by(Case.deadline, Case.id))
            rows = list(session.exec(stmt))
            if args.json:
                print(json.dumps([views.case_json(c, args.show_pii) for c in rows], ensure_ascii=False, indent=2))
                return 0
            for c in rows:
                subject = c.subject if args.show_pii else mask_identity_numbers(c.subject)
                marks = f"frist {c.deadline} eier {c.owner_actor or '-'}  " if c.kind == "citizen_form" else ""
                print(f"{c.id}  {c.kind:<12} {c.state:<13} {c.severity or '-':<2} "
                      f"{c.created_at:%Y-%m-%d %H:%M}  {marks}{subject[:60]}")
            return 0
    finally:
        rt.close()


def cmd_cases_show(args) -> int:
    data = case_data(args, lambda session, case: views.case_detail(session, case, args.show_pii))
    if data is None:
        return 1
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    for key in ("id", "kind", "state", "severity", "reporter", "subject", "created_at", "updated_at",
                "lead_actor", "nhn_reference", "form_type", "owner_actor", "answering_actor", "received_at",
                "deadline", "flags"):
        if data.get(key) not in (None, []):
            print(f"{key:>14}: {data[key]}")
    if "form" in data:
        print("\nform:")
        for key, value in data["form"]["fields"].items():
            print(f"  {key:>18}: {value}")
        print(f"  {'missing':>18}: {', '.join(data['form']['missing']) or '-'}")
    print("\nmessages:")
    for m in data["messages"]:
        print(f"  #{m['id']} {m['direction']:<3} {m['status']:<9} {m['received_at']} {m['from']} {m['subject'][:60]}")
    print_follow_ups(data)
    print("\naudit trail:")
    for e in data["audit"]:
        detail = json.dumps(e["detail"], ensure_ascii=False)
        print(f"  {e['at']} {e['who']:<30} {e['action']:<20} {detail[:120]}")
    return 0


def cmd_cases_export(args) -> int:
    from ..incident import report

    data = case_data(args, lambda session, case: report.export(session, case, args.show_pii))
    if data is None:
        return 1
    if args.format == "json":
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(report.export_markdown(data), end="")
    return 0


def cmd_report_escalations(args) -> int:
    from datetime import datetime, timezone

    from ..incident import report

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            print(f"--since: {args.since!r} is not an ISO date (YYYY-MM-DD)", file=sys.stderr)
            return 2
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    rt = open_runtime(args)
    try:
        with Session(rt.engine) as session:
            rows = report.escalations(session, actor=args.actor, since=since)
        fmt = "json" if args.json else args.format
        if fmt == "json":
            print(json.dumps(rows, ensure_ascii=False, indent=2))
            return 0
        if fmt in ("md", "csv"):
            sys.stdout.write(report.escalations_markdown(rows) if fmt == "md" else report.escalations_csv(rows))
            return 0
        print(f"{'case':<16} {'sev':<3} {'route':<13} {'received':<20} {'NHN told':<20} {'NHN ref':<14} "
              f"{'min→told':>8} {'min→ref':>8} {'state':<10}")
        for r in rows:
            print(f"{r['id']:<16} {r['severity'] or '-':<3} {r['route']:<13} {r['received_at'] or '-':<20} "
                  f"{r['nhn_told_at'] or r['forward_status']:<20} {r['nhn_reference'] or '-':<14} "
                  f"{'-' if r['minutes_to_nhn_told'] is None else r['minutes_to_nhn_told']:>8} "
                  f"{'-' if r['minutes_to_nhn_reference'] is None else r['minutes_to_nhn_reference']:>8} "
                  f"{r['state']:<10}")
        return 0
    finally:
        rt.close()


def cmd_actors(args) -> int:
    cfg = args.cfg
    if args.json:
        print(json.dumps([{"id": a.id, "name": a.name, "kind": a.kind, "contact": a.contact,
                           "handlers": list(a.handlers), "local_support": a.local_support, "phone": a.phone,
                           "this_organisation": a.id == cfg.identity.actor} for a in cfg.actor],
                         ensure_ascii=False, indent=2))
        return 0
    print(f"{'id':<16} {'kind':<14} {'name':<32} {'contact':<36} local support / handlers")
    for a in cfg.actor:
        mark = " (this organisation)" if a.id == cfg.identity.actor else ""
        print(f"{a.id:<16} {a.kind:<14} {a.name[:32]:<32} {a.contact:<36} "
              f"{a.local_support or '-'} / {', '.join(a.handlers) or '-'}{mark}")
    nhn = cfg.nhn
    if nhn.intake_address or nhn.phone:
        print(f"\nNHN kundesenter: {nhn.intake_address or '-'}  telefon {nhn.phone or '-'}  "
              f"(sender domains: {', '.join(nhn.sender_domains) or '-'})")
    return 0
