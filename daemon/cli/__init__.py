"""The `sakspost` command line: the daemon, its registry of cases, and the operator's commands.

Exit codes: 0 fine, 1 failed, 2 bad configuration or usage, 75 (EX_TEMPFAIL) when storage failed
and the caller (an MTA) should try again."""

from __future__ import annotations

import argparse
import sys

from .. import config as config_mod
from .. import __version__, logs
from .cases import cmd_actors, cmd_cases_export, cmd_cases_list, cmd_cases_show, cmd_report_escalations
from .citizen import (cmd_cases_answer, cmd_cases_extend, cmd_cases_letter, cmd_forms_complete,
                      cmd_forms_register, cmd_reminders_send)
from .casework import cmd_cases_accept, cmd_cases_attachments, cmd_cases_command
from ..registry.states import STATES
from .common import EX_TEMPFAIL, configuration_error
from .meeting import cmd_digest, cmd_report_meeting, cmd_report_support
from .operate import cmd_db_current, cmd_db_revision, cmd_db_upgrade, cmd_example_config, cmd_purge
from .mail import (cmd_check_config, cmd_ingest, cmd_mailbox_test, cmd_mailboxes_check, cmd_reprocess, cmd_run,
                   cmd_stats)


def _log_level(value: str) -> str:
    try:
        return logs.level(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    summary, _, codes = __doc__.partition("\n\n")
    parser = Parser(prog="sakspost", description=summary, epilog=codes,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"sakspost {__version__}",
                        help="print the version and exit")
    parser.add_argument("--config", metavar="PATH", help="TOML configuration (default: $SAKSPOST_CONFIG, "
                        "else the embedded default)")
    parser.add_argument("--log-level", default="INFO", type=_log_level, metavar="LEVEL",
                        help="debug, info (the default), warning, error or critical")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the daemon: receive, process and send until stopped (SIGTERM)"
                   ).set_defaults(func=cmd_run)
    sub.add_parser("check-config", help="check the configuration, its secrets, database driver and templates, "
                   "and say what it sets up; changes nothing").set_defaults(func=cmd_check_config)

    sub.add_parser("example-config", help="print the shipped example configuration, to start one from"
                   ).set_defaults(func=cmd_example_config, needs_config=False)

    p = sub.add_parser("ingest", help="import mail files, mbox archives or - (standard input)")
    p.add_argument("files", nargs="+", metavar="FILE", help="a mail (.eml), an mbox archive, or - for standard input")
    p.add_argument("--role", action="append", choices=config_mod.ROLES,
                   help="the role the mail arrived in (default: support)")
    p.add_argument("--no-process", action="store_true", help="only store; the running daemon processes")
    p.add_argument("-q", "--quiet", action="store_true", help="say only what failed, not each message stored")
    p.set_defaults(func=cmd_ingest)

    db = sub.add_parser("db", help="the registry's schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="create the schema, or upgrade it to this release's").set_defaults(
        func=cmd_db_upgrade)
    db.add_parser("current", help="the schema's revision and this release's").set_defaults(func=cmd_db_current, read_only=True)
    p = db.add_parser("revision", help="(development) write the migration from the registry's schema to the models'")
    p.add_argument("-m", "--message", required=True, help="what the migration changes (its file name)")
    p.set_defaults(func=cmd_db_revision)

    p = sub.add_parser("purge", help="remove closed cases past the retention, with an audit record")
    p.add_argument("--before", metavar="DATE", help="cases closed before DATE (default: [retention] closed_case_days)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("reprocess", help="run failed (dead-lettered) messages through the pipeline again")
    p.add_argument("ids", nargs="*", type=int, metavar="MESSAGE", help="message ids (default: every failed one)")
    p.set_defaults(func=cmd_reprocess)

    p = sub.add_parser("stats", help="counts of messages, cases, outbox and mailboxes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats, read_only=True)

    cases = sub.add_parser("cases", help="list, show and answer cases").add_subparsers(dest="cases_command", required=True)
    mailboxes = sub.add_parser("mailboxes", help="the configured IMAP mailboxes").add_subparsers(
        dest="mailboxes_command", required=True)
    p = mailboxes.add_parser("check", help="log in to each mailbox and list its folders, changing nothing")
    p.set_defaults(func=cmd_mailboxes_check)
    mailbox = sub.add_parser("mailbox", help="one configured IMAP mailbox").add_subparsers(
        dest="mailbox_command", required=True)
    p = mailbox.add_parser("test", help="log in to mailbox NAME once and say in one line how it went")
    p.add_argument("name", metavar="NAME", help="the [[mailbox]] name")
    p.set_defaults(func=cmd_mailbox_test)

    p = cases.add_parser("list", help="the cases, oldest first, with filters")
    p.add_argument("--state", choices=STATES, help="cases in this state")
    p.add_argument("--kind", choices=("incident", "citizen_form"), help="incident reports or citizen cases")
    p.add_argument("--overdue", action="store_true", help="open citizen cases past their deadline")
    p.add_argument("--due-within", type=int, metavar="DAYS", help="open citizen cases due within DAYS days")
    p.add_argument("--today", metavar="DATE", help="count deadlines from DATE instead of today")
    p.add_argument("--lead", metavar="ACTOR", help="cases led by ACTOR (an [[actor]] id)")
    p.add_argument("--severity", choices=("A", "B", "C", "D"), type=str.upper, help="incidents of this severity")
    p.add_argument("--closed-since", metavar="DATE", help="cases closed on or after DATE")
    p.add_argument("--held", action="store_true",
                   help="cases where something waits for a handler's #godta (held, unproven or capped)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--show-pii", action="store_true", help="show identity numbers unmasked")
    p.set_defaults(func=cmd_cases_list, read_only=True)
    p = cases.add_parser("show", help="one case: its fields, messages, events and outbox")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.add_argument("--full", action="store_true", help="message texts as they came, not redacted")
    p.add_argument("--show-pii", action="store_true", help="show identity numbers unmasked")
    p.set_defaults(func=cmd_cases_show, read_only=True)
    p = cases.add_parser("export", help="the whole audit trail of a case")
    p.add_argument("id")
    p.add_argument("--format", choices=("md", "json"), default="md", help="Markdown (the default) or JSON")
    p.add_argument("--show-pii", action="store_true", help="show identity numbers unmasked")
    p.set_defaults(func=cmd_cases_export, read_only=True)
    p = cases.add_parser("command", help="run mail commands on a case as the operator ('#lukk' '#notat …')")
    p.add_argument("id")
    p.add_argument("lines", nargs="+", metavar="COMMAND", help="one command line each, e.g. '#lukk'")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cases_command)
    p = cases.add_parser("accept", help="release what is held on a case, as '#godta' by mail does")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cases_accept)

    p = cases.add_parser("attachments", help="list a case's attachments, or extract them with --save DIR")
    p.add_argument("id")
    p.add_argument("--save", metavar="DIR", help="write each attachment into DIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cases_attachments, read_only=True)
    p = cases.add_parser("answer", help="a citizen case was answered by post: record it and close the case")
    p.add_argument("id")
    p.add_argument("--by", choices=("post",), required=True, help="answers go by post, never by e-mail")
    p.add_argument("--date", metavar="DATE", help="when the answer was posted (default: today)")
    p.add_argument("--refused", action="store_true", help="the answer refuses the request")
    p.add_argument("--reason", help="why it was refused (required with --refused)")
    p.add_argument("--statsforvalter-notice", action="store_true",
                   help="the answer told the citizen of the right to complain to the Statsforvalter "
                        "(required with --refused)")
    p.add_argument("--letter", metavar="FILE.pdf", help="the letter that was posted (as `cases letter` wrote it): "
                   "kept on the case")
    p.set_defaults(func=cmd_cases_answer)
    p = cases.add_parser("letter", help="write a citizen case's letter (answer, extension or referral) as PDF")
    p.add_argument("id")
    p.add_argument("--pdf", required=True, metavar="FILE", help="where to write the PDF")
    p.add_argument("--kind", choices=("answer", "extension", "referral"),
                   help="which letter (default: the one the case needs now)")
    p.add_argument("--text", help="the answer's own words, printed in the letter")
    p.add_argument("--today", metavar="DATE", help="the letter's date (default: today)")
    p.set_defaults(func=cmd_cases_letter)
    p = cases.add_parser("extend", help="extend a citizen case's deadline (up to two months, with a reason)")
    p.add_argument("id")
    p.add_argument("--reason", required=True, help="why; it stays on the case and goes into the extension "
                   "letter (`cases letter`), never into a mail")
    p.add_argument("--months", type=int, help="how many more months (default: all that remain of two)")
    p.add_argument("--today", metavar="DATE", help="act as if it were DATE")
    p.set_defaults(func=cmd_cases_extend)

    forms = sub.add_parser("forms", help="citizens' forms that came by post").add_subparsers(
        dest="forms_command", required=True)
    p = forms.add_parser("register", help="register a paper form as a citizen case")
    p.add_argument("--type", required=True, choices=config_mod.FORM_TYPES, help="which form it is")
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
    p.add_argument("--type", choices=config_mod.FORM_TYPES, help="which form it is, where it could not be told")
    p.add_argument("--field", action="append", metavar="KEY=VALUE", help="a field read from the form, as for "
                   "`forms register`")
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
    p.add_argument("--actor", metavar="ACTOR", help="cases of this actor (an [[actor]] id) only")
    p.add_argument("--since", metavar="DATE", help="cases received on or after DATE")
    p.add_argument("--format", choices=("table", "json", "md", "csv"), default="table",
                   help="a table (the default), JSON, Markdown or CSV")
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.set_defaults(func=cmd_report_escalations, read_only=True)
    p = report.add_parser("meeting", help="for NHN's management meeting: open cases, cases closed since DATE, "
                          "citizen cases near their deadline, a chart")
    p.add_argument("--since", metavar="DATE", help="closed cases from this day on (default: a week ago)")
    p.add_argument("--format", choices=("html", "md", "csv"), default="html", help="HTML (the default), Markdown or CSV")
    p.add_argument("--output", metavar="FILE", help="write it here (default: standard output)")
    p.add_argument("--subjects", action="store_true", help="show each case's subject too (identity numbers "
                   "redacted; it can name a patient, and every actor is at the meeting)")
    p.set_defaults(func=cmd_report_meeting, read_only=True)
    p = report.add_parser("support", help="each actor's local user support and contact points; who lacks them")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report_support)

    p = sub.add_parser("digest", help="the meeting digest: queue the one due now, or print it (--dry-run)")
    p.add_argument("--dry-run", action="store_true", help="print the digest instead of sending it")
    p.add_argument("--html", action="store_true", help="with --dry-run: print its HTML part")
    p.add_argument("--at", metavar="TIME", help="act as if it were TIME (YYYY-MM-DDTHH:MM, Norwegian time)")
    p.set_defaults(func=cmd_digest)
    _described(parser)
    return parser


def _described(parser: argparse.ArgumentParser) -> None:
    """Every command's help line is its description too (`sakspost run --help`), and the options
    every command words alike have their help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, command in action.choices.items():
                command.description = command.description or helps.get(name)
                _described(command)
        elif action.help is None:
            action.help = COMMON_HELP.get(action.dest)


COMMON_HELP = {
    "json": "JSON for scripts instead of text",
    "id": "the case's id",
}


class Parser(argparse.ArgumentParser):
    """argparse's parser, with a usage error said in one line (exit code 2) instead of the usage
    and the error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    from .. import files
    from ..registry.schema import SchemaError

    parser = build_parser()
    args = parser.parse_args(argv)
    logs.setup(args.log_level)
    if not getattr(args, "needs_config", True):
        return args.func(args)
    try:
        args.cfg = config_mod.load(args.config)
    except config_mod.ConfigError as exc:  # one line for each problem found
        logs.setup(args.log_level, config_mod.log_format(args.config))
        configuration_error(exc)
        return 2
    logs.setup(args.log_level, args.cfg.logging.format)
    if args.func is not cmd_check_config:  # which changes nothing
        files.apply(args.cfg, directories=not getattr(args, "read_only", False))
    try:
        return args.func(args)
    except config_mod.ConfigError as exc:  # found once the command began (a registry that is not there)
        configuration_error(exc)
        return 2
    except SchemaError as exc:
        logs.problem(str(exc))
        return EX_TEMPFAIL if args.func is cmd_ingest else 1  # an MTA's pipe keeps the mail and tries again
    except BrokenPipeError:  # output piped into head, less that quit early
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
