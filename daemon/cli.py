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
                          f"{message.error} (raw copy kept; see `sakspost reprocess`)", file=sys.stderr)
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


def cmd_cases_list(args) -> int:
    from .registry.models import Case

    rt = _runtime(args)
    try:
        with Session(rt.engine) as session:
            stmt = select(Case).order_by(Case.created_at, Case.id)
            if args.state:
                stmt = stmt.where(Case.state == args.state)
            if args.kind:
                stmt = stmt.where(Case.kind == args.kind)
            rows = list(session.exec(stmt))
            if args.json:
                print(json.dumps([views.case_json(c, args.show_pii) for c in rows], ensure_ascii=False, indent=2))
                return 0
            for c in rows:
                subject = c.subject if args.show_pii else mask_identity_numbers(c.subject)
                print(f"{c.id}  {c.kind:<12} {c.state:<13} {c.severity or '-':<2} "
                      f"{c.created_at:%Y-%m-%d %H:%M}  {subject[:60]}")
            return 0
    finally:
        rt.close()


def cmd_cases_show(args) -> int:
    from .registry.models import Case

    rt = _runtime(args)
    try:
        with Session(rt.engine) as session:
            case = session.get(Case, args.id)
            if case is None:
                print(f"no case {args.id}", file=sys.stderr)
                return 1
            data = views.case_detail(session, case, args.show_pii)
        if args.json:
            print(json.dumps(data, ensure_ascii=False, indent=2))
            return 0
        for key in ("id", "kind", "state", "severity", "reporter", "subject", "created_at", "updated_at",
                    "lead_actor", "nhn_reference", "form_type", "owner_actor", "deadline"):
            if data.get(key) is not None:
                print(f"{key:>14}: {data[key]}")
        print("\nmessages:")
        for m in data["messages"]:
            print(f"  #{m['id']} {m['direction']:<3} {m['status']:<9} {m['received_at']} {m['from']} {m['subject'][:60]}")
        print("\naudit trail:")
        for e in data["audit"]:
            detail = json.dumps(e["detail"], ensure_ascii=False)
            print(f"  {e['at']} {e['who']:<30} {e['action']:<20} {detail[:120]}")
        return 0
    finally:
        rt.close()


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

    mailboxes = sub.add_parser("mailboxes", help="the configured IMAP mailboxes").add_subparsers(
        dest="mailboxes_command", required=True)
    p = mailboxes.add_parser("check", help="log in to each mailbox and list its folders, changing nothing")
    p.set_defaults(func=cmd_mailboxes_check)

    cases = sub.add_parser("cases", help="list and show cases").add_subparsers(dest="cases_command", required=True)
    p = cases.add_parser("list")
    p.add_argument("--state")
    p.add_argument("--kind", choices=("incident", "citizen_form"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--show-pii", action="store_true", help="show identity numbers unmasked")
    p.set_defaults(func=cmd_cases_list)
    p = cases.add_parser("show")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.add_argument("--show-pii", action="store_true", help="show identity numbers unmasked")
    p.set_defaults(func=cmd_cases_show)
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
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
