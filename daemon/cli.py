"""The `sakspost` command line. Exit codes: 0 fine, 1 failed, 2 bad configuration or usage,
75 (EX_TEMPFAIL) when storage failed and the caller (an MTA) should try again."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from sqlmodel import Session, select

from . import config as config_mod
from . import views
from .pii import mask_identity_numbers

EX_TEMPFAIL = 75
log = logging.getLogger("sakspost")

def _runtime(args):
    from .runtime import Runtime

    return Runtime.open(args.cfg)


def cmd_check_config(args) -> int:
    from .app import describe

    cfg = args.cfg
    try:
        config_mod.check_secrets(cfg)
    except config_mod.ConfigError as exc:
        print(f"sakspost: configuration error: {exc}", file=sys.stderr)
        return 2
    print(f"configuration OK: {cfg.source}")
    for line in describe(cfg):
        print(f"  {line}")
    return 0


def cmd_run(args) -> int:
    from . import app

    try:
        config_mod.check_secrets(args.cfg)
    except config_mod.ConfigError as exc:
        print(f"sakspost: configuration error: {exc}", file=sys.stderr)
        return 2
    rt = _runtime(args)
    try:
        return app.run(rt)
    finally:
        rt.close()


def cmd_ingest(args) -> int:
    from .pipeline.process import run_until_empty
    from .receive.files import ingest_bytes, ingest_path
    from .registry.models import Message
    from .registry.store import StorageError

    rt = _runtime(args)
    roles = tuple(args.role) if args.role else ("support",)
    origin: dict[int, str] = {}
    problems = 0
    try:
        for name in args.files:
            try:
                if name == "-":
                    stored = ingest_bytes(rt, sys.stdin.buffer.read(), source="stdin", roles=roles)
                    error = ""
                else:
                    outcome = ingest_path(rt, name, roles=roles)
                    stored, error = outcome.stored, outcome.error
            except StorageError as exc:
                print(f"{name}: temporary storage failure, nothing stored: {exc}", file=sys.stderr)
                return EX_TEMPFAIL
            if error:
                print(f"{name}: {error}", file=sys.stderr)
                problems += 1
                continue
            for s in stored:
                origin.setdefault(s.pk, name)
                if not args.quiet:
                    print(f"{name}: {'already stored as' if s.duplicate else 'stored as'} message {s.pk}")
        if args.no_process:
            return 1 if problems else 0
        outcomes = run_until_empty(rt)
        with Session(rt.engine) as session:
            for pk, result in sorted(outcomes.items()):
                if result == "failed":
                    message = session.get(Message, pk)
                    print(f"{origin.get(pk, 'message')}: message {pk} could not be processed: "
                          f"{mask_identity_numbers(message.error)} (raw copy kept; see `sakspost reprocess`)",
                          file=sys.stderr)
        return 1 if problems else 0
    finally:
        rt.close()


def cmd_reprocess(args) -> int:
    from .pipeline.process import requeue_failed, run_until_empty

    rt = _runtime(args)
    try:
        n = requeue_failed(rt, args.ids or None)
        outcomes = run_until_empty(rt)
        failed = sum(1 for v in outcomes.values() if v == "failed")
        print(f"reprocessed {n} message(s): {n - failed} done, {failed} still failing")
        return 1 if failed else 0
    finally:
        rt.close()


def _date_arg(value: str | None, option: str):
    """A date from the command line (YYYY-MM-DD or DD.MM.YYYY; absent: today), or None after
    saying why."""
    from .citizen.deadlines import parse_date, today

    if not value:
        return today()
    try:
        return parse_date(value)
    except ValueError:
        print(f"{option}: {value!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return None


def cmd_cases_list(args) -> int:
    from datetime import timedelta

    from sqlalchemy import or_

    from .registry import states
    from .registry.models import Case

    day = _date_arg(args.today, "--today")
    if day is None:
        return 2
    rt = _runtime(args)
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


def _case_data(args, build):
    """BUILD(session, case) for the case named by args.id, or None (said on stderr) if there is none."""
    from .registry.models import Case

    rt = _runtime(args)
    try:
        with Session(rt.engine) as session:
            case = session.get(Case, args.id)
            if case is None:
                print(f"no case {args.id}", file=sys.stderr)
                return None
            return build(session, case)
    finally:
        rt.close()


def cmd_cases_show(args) -> int:
    data = _case_data(args, lambda session, case: views.case_detail(session, case, args.show_pii))
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
    print("\naudit trail:")
    for e in data["audit"]:
        detail = json.dumps(e["detail"], ensure_ascii=False)
        print(f"  {e['at']} {e['who']:<30} {e['action']:<20} {detail[:120]}")
    return 0


def cmd_cases_export(args) -> int:
    from .incident import report

    data = _case_data(args, lambda session, case: report.export(session, case, args.show_pii))
    if data is None:
        return 1
    if args.format == "json":
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(report.export_markdown(data), end="")
    return 0


def cmd_report_escalations(args) -> int:
    from datetime import datetime, timezone

    from .incident import report

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            print(f"--since: {args.since!r} is not an ISO date (YYYY-MM-DD)", file=sys.stderr)
            return 2
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    rt = _runtime(args)
    try:
        with Session(rt.engine) as session:
            rows = report.escalations(session, actor=args.actor, since=since)
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
            return 0
        print(f"{'case':<16} {'sev':<3} {'received':<20} {'NHN told':<20} {'NHN ref':<14} "
              f"{'min→told':>8} {'min→ref':>8} {'state':<10}")
        for r in rows:
            print(f"{r['id']:<16} {r['severity'] or '-':<3} {r['received_at'] or '-':<20} "
                  f"{r['nhn_told_at'] or r['forward_status']:<20} {r['nhn_reference'] or '-':<14} "
                  f"{'-' if r['minutes_to_nhn_told'] is None else r['minutes_to_nhn_told']:>8} "
                  f"{'-' if r['minutes_to_nhn_reference'] is None else r['minutes_to_nhn_reference']:>8} "
                  f"{r['state']:<10}")
        return 0
    finally:
        rt.close()


def _who() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _citizen_step(args, step) -> int:
    """Run STEP(session, rt, case, form) on the citizen case args.id and commit; 1 if refused."""
    from .citizen import workflow
    from .citizen.deadlines import NotAllowed
    from .registry.models import Case

    rt = _runtime(args)
    try:
        with Session(rt.engine, expire_on_commit=False) as session:
            case = session.get(Case, args.id)
            if case is None or case.kind != "citizen_form":
                print(f"no citizen case {args.id}", file=sys.stderr)
                return 1
            try:
                said = step(session, rt, case, workflow.form_of(session, case))
            except NotAllowed as exc:
                print(f"{args.id}: {exc}", file=sys.stderr)
                return 1
            session.commit()
        print(said)
        return 0
    finally:
        rt.close()


def cmd_cases_answer(args) -> int:
    from .citizen import workflow
    from .citizen.deadlines import today

    on = _date_arg(args.date, "--date")
    if on is None:
        return 2

    def step(session, rt, case, form):
        workflow.answer(session, rt, case, form, on=on, who=_who(), today_=today(), refused=args.refused,
                        reason=args.reason or "", statsforvalter_notice=args.statsforvalter_notice)
        return f"{case.id}: answered by post on {on.isoformat()}; closed"
    return _citizen_step(args, step)


def cmd_cases_extend(args) -> int:
    from .citizen import deadlines

    day = _date_arg(args.today, "--today")
    if day is None:
        return 2

    def step(session, rt, case, form):
        new = deadlines.extend(session, rt, case, form, months=args.months, reason=args.reason, who=_who(),
                               today_=day)
        told = "notice queued to the citizen" if form.reply_address else "notice due by post"
        return f"{case.id}: deadline extended to {new.isoformat()} ({told})"
    return _citizen_step(args, step)


def cmd_forms_register(args) -> int:
    from pathlib import Path

    from .citizen import workflow
    from .citizen.deadlines import NotAllowed, today

    received = _date_arg(args.received, "--received")
    if received is None:
        return 2
    try:
        fields = workflow.field_arguments(args.field or [])
    except NotAllowed as exc:
        print(f"sakspost: {exc}", file=sys.stderr)
        return 2
    scan = None
    if args.scan:
        try:
            scan = (Path(args.scan).name, Path(args.scan).read_bytes())
        except OSError as exc:
            print(f"--scan {args.scan}: cannot read: {exc.strerror}", file=sys.stderr)
            return 1
    rt = _runtime(args)
    try:
        with Session(rt.engine, expire_on_commit=False) as session:
            try:
                case, linked = workflow.register_paper(session, rt, form_type=args.type, received=received,
                                                       fields=fields, scan=scan, who=_who(), today_=today())
            except NotAllowed as exc:
                print(f"sakspost: {exc}", file=sys.stderr)
                return 1
            session.commit()
            data = views.case_json(case, args.show_pii)
        if args.json:
            print(json.dumps({**data, "linked": linked}, ensure_ascii=False, indent=2))
        elif linked:
            print(f"{case.id}: the same form was registered within "
                  f"{rt.config.citizen.duplicate_window_hours:g} hours; linked to it, no new case")
        else:
            print(f"{case.id}: {case.form_type}, owner {case.owner_actor or '-'}, deadline {case.deadline}"
                  f"{', flags ' + case.flags if case.flags else ''}")
        return 0
    finally:
        rt.close()


def cmd_forms_complete(args) -> int:
    from .citizen import workflow

    try:
        fields = workflow.field_arguments(args.field or [])
    except workflow.NotAllowed as exc:
        print(f"sakspost: {exc}", file=sys.stderr)
        return 2

    def step(session, rt, case, form):
        missing = workflow.complete(session, rt, case, form, form_type=args.type, fields=fields, who=_who())
        return f"{case.id}: " + (f"still missing {', '.join(missing)}" if missing else "complete")
    return _citizen_step(args, step)


def cmd_reminders_send(args) -> int:
    from .citizen.deadlines import send_due_reminders

    day = _date_arg(args.today, "--today")
    if day is None:
        return 2
    rt = _runtime(args)
    try:
        sent = send_due_reminders(rt, day)
    finally:
        rt.close()
    if args.json:
        print(json.dumps([{"id": case_id, "days_before": days} for case_id, days in sent], indent=2))
    else:
        for case_id, days in sent:
            print(f"{case_id}: reminder {days} day(s) before the deadline queued")
        print(f"{len(sent)} reminder(s) queued for {day.isoformat()}")
    return 0


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


def cmd_stats(args) -> int:
    rt = _runtime(args)
    try:
        with Session(rt.engine) as session:
            data = views.stats(session)
        if args.json:
            print(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))
            return 0
        print(f"messages: {data['messages']['total']}  " +
              "  ".join(f"{k}={v}" for k, v in sorted(data["messages"]["by_status"].items())))
        print(f"cases:    {data['cases']['total']}  " +
              "  ".join(f"{k}={v}" for k, v in sorted(data["cases"]["by_state"].items())))
        print("outbox:   " + "  ".join(f"{k}={v}" for k, v in sorted(data["outbox"]["by_status"].items())))
        for name, m in data["mailboxes"].items():
            error = f"  last error: {m['last_error']}" if m["last_error"] else ""
            print(f"mailbox {name}: {m['state']} since {m['since']}  ingested={m['ingested']} "
                  f"duplicates={m['duplicates']} last_uid={m['last_uid']}{error}")
        return 0
    finally:
        rt.close()


def cmd_mailboxes_check(args) -> int:
    from .receive.imap_check import check_mailbox

    mailboxes = args.cfg.mailbox
    if not mailboxes:
        print(f"no [[mailbox]] configured in {args.cfg.source}")
        return 0
    failed = 0
    for mailbox in mailboxes:
        report = check_mailbox(mailbox)
        failed += not report.ok
        print(report.render(), flush=True)
    if failed:
        print(f"{failed} of {len(mailboxes)} mailbox(es) cannot be used", file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sakspost", description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="PATH", help="TOML configuration (default: $SAKSPOST_CONFIG, "
                        "else the embedded default)")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the daemon").set_defaults(func=cmd_run)
    sub.add_parser("check-config", help="validate the configuration and exit").set_defaults(func=cmd_check_config)

    p = sub.add_parser("ingest", help="import mail files, mbox archives or - (standard input)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--role", action="append", choices=config_mod.ROLES,
                   help="the role the mail arrived in (default: support)")
    p.add_argument("--no-process", action="store_true", help="only store; the running daemon processes")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("reprocess", help="run failed (dead-lettered) messages through the pipeline again")
    p.add_argument("ids", nargs="*", type=int, metavar="MESSAGE")
    p.set_defaults(func=cmd_reprocess)

    p = sub.add_parser("stats", help="counts of messages, cases, outbox and mailboxes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    cases = sub.add_parser("cases", help="list, show and answer cases").add_subparsers(dest="cases_command", required=True)
    mailboxes = sub.add_parser("mailboxes", help="the configured IMAP mailboxes").add_subparsers(
        dest="mailboxes_command", required=True)
    p = mailboxes.add_parser("check", help="log in to each mailbox and list its folders, changing nothing")
    p.set_defaults(func=cmd_mailboxes_check)

    p = cases.add_parser("list")
    p.add_argument("--state")
    p.add_argument("--kind", choices=("incident", "citizen_form"))
    p.add_argument("--overdue", action="store_true", help="open citizen cases past their deadline")
    p.add_argument("--due-within", type=int, metavar="DAYS", help="open citizen cases due within DAYS days")
    p.add_argument("--today", metavar="DATE", help="count deadlines from DATE instead of today")
    p.add_argument("--json", action="store_true")
    p.add_argument("--show-pii", action="store_true", help="show identity numbers unmasked")
    p.set_defaults(func=cmd_cases_list)
    p = cases.add_parser("show")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.add_argument("--show-pii", action="store_true", help="show identity numbers unmasked")
    p.set_defaults(func=cmd_cases_show)
    p = cases.add_parser("export", help="the whole audit trail of a case")
    p.add_argument("id")
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument("--show-pii", action="store_true", help="show identity numbers unmasked")
    p.set_defaults(func=cmd_cases_export)
    p = cases.add_parser("answer", help="a citizen case was answered by post: record it and close the case")
    p.add_argument("id")
    p.add_argument("--by", choices=("post",), required=True, help="answers go by post, never by e-mail")
    p.add_argument("--date", metavar="DATE", help="when the answer was posted (default: today)")
    p.add_argument("--refused", action="store_true", help="the answer refuses the request")
    p.add_argument("--reason", help="why it was refused (required with --refused)")
    p.add_argument("--statsforvalter-notice", action="store_true",
                   help="the answer told the citizen of the right to complain to the Statsforvalter "
                        "(required with --refused)")
    p.set_defaults(func=cmd_cases_answer)
    p = cases.add_parser("extend", help="extend a citizen case's deadline (up to two months, with a reason)")
    p.add_argument("id")
    p.add_argument("--reason", required=True, help="why; it is sent to the citizen")
    p.add_argument("--months", type=int, help="how many more months (default: all that remain of two)")
    p.add_argument("--today", metavar="DATE", help="act as if it were DATE")
    p.set_defaults(func=cmd_cases_extend)

    forms = sub.add_parser("forms", help="citizens' forms that came by post").add_subparsers(
        dest="forms_command", required=True)
    p = forms.add_parser("register", help="register a paper form as a citizen case")
    p.add_argument("--type", required=True, choices=config_mod.FORM_TYPES)
    p.add_argument("--received", required=True, metavar="DATE", help="the day it arrived (YYYY-MM-DD)")
    p.add_argument("--scan", metavar="FILE.pdf", help="the scanned form, kept with the case (and read)")
    p.add_argument("--field", action="append", metavar="KEY=VALUE",
                   help="name, identity_number, address, phone, email, institution, period, free_text "
                        "(or the form's own labels, e.g. Fødselsnummer=...)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--show-pii", action="store_true", help="show identity numbers unmasked")
    p.set_defaults(func=cmd_forms_register)
    p = forms.add_parser("complete", help="fill in a form that could not be read fully")
    p.add_argument("id")
    p.add_argument("--type", choices=config_mod.FORM_TYPES)
    p.add_argument("--field", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_forms_complete)

    reminders = sub.add_parser("reminders", help="deadline reminders of citizen cases").add_subparsers(
        dest="reminders_command", required=True)
    p = reminders.add_parser("send", help="queue the reminders due today (the daemon does this hourly)")
    p.add_argument("--today", metavar="DATE", help="act as if it were DATE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reminders_send)

    p = sub.add_parser("actors", help="the configured actors and their contact points")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_actors)

    report = sub.add_parser("report", help="reports").add_subparsers(dest="report_command", required=True)
    p = report.add_parser("escalations", help="each A/B case: received, NHN told, NHN's reference, durations")
    p.add_argument("--actor")
    p.add_argument("--since", metavar="DATE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report_escalations)
    return parser


def main(argv: list[str] | None = None) -> int:
    from . import logs

    parser = build_parser()
    args = parser.parse_args(argv)
    logs.setup(args.log_level.upper())
    try:
        args.cfg = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        print(f"sakspost: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into head, less that quit early
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
