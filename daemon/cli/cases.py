"""Commands that read cases: cases list/show/export, report escalations, actors.

What an operator reads is in bokmål: state names, actors by display name, times in Europe/Oslo.
What senders wrote (a subject, an address, a message's text, NHN's reference) is printed through
`inert.visible`: a control character, an ESC sequence or a bidirectional override shows as its
escape and never acts on the terminal.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, time, timezone

from sqlmodel import Session, select

from ..outbound.wording import OSLO, actor_name, state_name

from .. import views
from ..inert import json_text, visible
from ..pii import mask_identity_numbers
from .common import case_data, date_arg, open_runtime


def cmd_cases_list(args) -> int:
    from datetime import timedelta

    from sqlalchemy import or_

    from ..pipeline.handlers import held
    from ..registry import states
    from ..registry.models import Case

    day = date_arg(args.today, "--today")
    if day is None:
        return 2
    closed_since = date_arg(args.closed_since, "--closed-since") if args.closed_since else None
    if args.closed_since and closed_since is None:
        return 2
    rt = open_runtime(args)
    try:
        with Session(rt.engine) as session:
            stmt = select(Case).order_by(Case.created_at, Case.id)
            if args.state:
                stmt = stmt.where(Case.state == args.state)
            if args.kind:
                stmt = stmt.where(Case.kind == args.kind)
            if args.lead:
                stmt = stmt.where(Case.lead_actor == args.lead)
            if args.severity:
                stmt = stmt.where(Case.severity == args.severity)
            if args.held:  # what waits for a handler's #godta (`pipeline.handlers.held`)
                stmt = stmt.where(Case.state.in_(states.ACTIVE),
                                  or_(*(Case.flags.contains(flag) for flag in held.WAITING)))
            if closed_since is not None:
                stmt = stmt.where(Case.closed_at >= datetime.combine(closed_since, time(), OSLO))
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
                print(json_text([views.case_json(c, args.show_pii) for c in rows]))
                return 0
            print(f"{'sak':<16} {'type':<12} {'status':<22} {'gr':<2} {'opprettet':<16} {'alder':>5} "
                  f"{'siste aktivitet':<16} {'leder':<20} {'NHN-ref':<12} emne")
            now = datetime.now(OSLO)
            for c in rows:
                subject = c.subject if args.show_pii else mask_identity_numbers(c.subject)
                marks = f"frist {c.deadline} eier {c.owner_actor or '-'}  " if c.kind == "citizen_form" else ""
                print(visible(f"{c.id:<16} {c.kind:<12} {state_name(c.state):<22} {c.severity or '-':<2} "
                              f"{when(c.created_at):<16} {age(c.created_at, now):>5} {when(c.updated_at):<16} "
                              f"{(actor_name(rt.config, c.lead_actor) or '-')[:20]:<20} "
                              f"{c.nhn_reference or '-':<12} {marks}{subject[:60]}"))
            return 0
    finally:
        rt.close()


def cmd_cases_show(args) -> int:
    data = case_data(args, lambda session, case: views.case_detail(session, case, args.show_pii or args.full,
                                                                   full_text=args.full))
    if data is None:
        return 1
    if args.json:
        print(json_text(data))
        return 0
    print_case(args.cfg, data)
    return 0


def print_case(config, data: dict) -> None:
    """The case as an operator reads it: its particulars, working group, then the timeline, with
    each message's text under the event that brought or sent it."""
    state = data["state"]
    rows = [("sak", data["id"]), ("type", data["kind"]), ("status", f"{state_name(state)} ({state})"),
            ("alvorlighetsgrad", data.get("severity")), ("melder", data.get("reporter")),
            ("emne", data.get("subject")), ("opprettet", when(data.get("created_at"))),
            ("siste aktivitet", when(data.get("updated_at"))), ("leder", actor_name(config, data.get("lead_actor"))),
            ("kanal", data.get("channel")), ("NHN-referanse", data.get("nhn_reference")),
            ("NHNs klassifisering", data.get("nhn_classification")),
            ("meldt til NHN", when(data.get("escalated_at"))), ("frist", data.get("deadline")),
            ("eier", actor_name(config, data.get("owner_actor"))), ("flagg", ", ".join(data.get("flags") or []))]
    for label, value in rows:
        if value not in (None, "", []):
            print(visible(f"{label:>20}: {value}"))
    group = data.get("working_group") or []
    print("\narbeidsgruppe:" + ("" if group else " ingen"))
    for member in group:
        role = "leverandør" if member["role"] == "vendor" else "medlem"
        print(visible(f"  {actor_name(config, member['actor'])} ({member['actor']}, {role})"))
    if "form" in data:
        print("\nskjema:")
        for key, value in data["form"]["fields"].items():
            print(visible(f"  {key:>18}: {value}"))
        print(visible(f"  {'mangler':>18}: {', '.join(data['form']['missing']) or '-'}"))
    messages = {m["id"]: m for m in data["messages"]}
    shown = set()
    print("\ntidslinje:")
    for e in data["audit"]:
        detail = json.dumps(e["detail"], ensure_ascii=False)
        print(visible(f"  {when(e['at'])}  {e['who']:<30} {e['action']:<22} {detail}"))
        m = messages.get(e["message"])
        if m is not None and m["id"] not in shown:
            shown.add(m["id"])
            print_message(m)
    for m in data["messages"]:
        if m["id"] not in shown:
            print(f"  {when(m['received_at'])}  (melding uten hendelse)")
            print_message(m)


def print_message(m: dict) -> None:
    arrow = "inn" if m["direction"] == "in" else "ut"
    print(visible(f"      [{arrow} #{m['id']} {m['status']}] fra {m['from']}: {m['subject']}"))
    if m.get("unproven"):
        print("      !! UBEKREFTET AVSENDER: ikke fulgt opp eller sendt videre; godta med #godta "
              "(sakspost cases accept)")
    for line in (m.get("text") or "").strip().splitlines():
        print(f"      | {visible(line)}")


def when(iso) -> str:
    """An ISO time (UTC, as the views give it) in Europe/Oslo, `2026-12-02 11:14`."""
    if not iso:
        return ""
    moment = iso if isinstance(iso, datetime) else datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(OSLO).strftime("%Y-%m-%d %H:%M")


def age(created, now) -> str:
    """How old a case is: hours under two days, days after."""
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    hours = (now - created).total_seconds() / 3600
    return f"{hours:.0f}t" if hours < 48 else f"{hours / 24:.0f}d"


def cmd_cases_export(args) -> int:
    from ..incident import report

    data = case_data(args, lambda session, case: report.export(session, case, args.show_pii))
    if data is None:
        return 1
    if args.format == "json":
        print(json_text(data))
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
            print(json_text(rows))
            return 0
        if fmt in ("md", "csv"):
            sys.stdout.write(report.escalations_markdown(rows) if fmt == "md" else report.escalations_csv(rows))
            return 0
        print(f"{'case':<16} {'sev':<3} {'route':<13} {'received':<20} {'NHN told':<20} {'NHN ref':<14} "
              f"{'min→told':>8} {'min→ref':>8} {'state':<10}")
        for r in rows:
            print(visible(f"{r['id']:<16} {r['severity'] or '-':<3} {r['route']:<13} {r['received_at'] or '-':<20} "
                          f"{r['nhn_told_at'] or r['forward_status']:<20} {r['nhn_reference'] or '-':<14} "
                          f"{'-' if r['minutes_to_nhn_told'] is None else r['minutes_to_nhn_told']:>8} "
                          f"{'-' if r['minutes_to_nhn_reference'] is None else r['minutes_to_nhn_reference']:>8} "
                          f"{r['state']:<10}"))
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
