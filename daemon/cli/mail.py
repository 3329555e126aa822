"""Commands that run the daemon or move mail: run, check-config, ingest, reprocess, stats, mailboxes,
mailbox test."""

from __future__ import annotations

import json
import sys

from sqlmodel import Session

from .. import config as config_mod
from .. import views
from ..pii import mask_identity_numbers
from .common import EX_TEMPFAIL, configuration_error, open_runtime

BATCH_TRANSACTION_SECONDS = 0.5  # no receiver waits on this process's write lock
BULK = 16  # from this many messages on, a batch command starts the parse helper (one mail: not worth it)


def usable(cfg) -> None:
    """What `check-config` and `run` ask beyond the file itself: the database's driver is
    installed, every secret can be read and the templates are there (ConfigError says which is not)."""
    from ..outbound.render import Renderer
    from ..registry.db import check_driver
    from ..resources import MissingFiles, check_templates

    check_driver(cfg.database.url)
    config_mod.check_secrets(cfg)
    try:
        check_templates(cfg.templates_dir, env=Renderer(cfg, tokens=None).env)
    except MissingFiles as exc:
        raise config_mod.ConfigError(f"[paths].templates_dir: {exc}") from None


def cmd_check_config(args) -> int:
    from ..app import describe

    cfg = args.cfg
    try:
        usable(cfg)
    except config_mod.ConfigError as exc:
        configuration_error(exc)
        return 2
    print(f"configuration OK: {cfg.source}")
    for line in describe(cfg):
        print(f"  {line}")
    for warning in config_mod.warnings(cfg):
        print(f"sakspost: warning: {warning}", file=sys.stderr)
    return 0


def cmd_run(args) -> int:
    """Exit codes: 2 for a configuration that cannot work (the unit's RestartPreventExitStatus=2:
    starting again will not mend it), 1 for an address to listen on that is taken or not ours (it
    may be free after the restart)."""
    import errno

    from .. import app, logs

    try:
        usable(args.cfg)
    except config_mod.ConfigError as exc:
        configuration_error(exc)
        return 2
    rt = open_runtime(args)
    try:
        return app.run(rt)
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        logs.problem(f"cannot listen: {exc.strerror if exc.strerror and '(' in exc.strerror else exc}")
        return 1
    finally:
        rt.close()


def cmd_ingest(args) -> int:
    from ..pipeline.process import run_until_empty
    from ..receive.files import ingest
    from ..registry.models import Message
    from ..registry.store import StorageError

    rt = open_runtime(args)
    if len(args.files) >= BULK and not args.no_process:
        rt.parsers.start()  # it imports while the files are stored
    roles = tuple(args.role) if args.role else ("support",)
    origin: dict[int, str] = {}
    problems = 0
    try:
        try:
            for name, result in ingest(rt, args.files, roles=roles, stdin=sys.stdin.buffer):
                if isinstance(result, str):
                    print(f"{name}: {result}", file=sys.stderr)
                    problems += 1
                    continue
                origin.setdefault(result.pk, name)
                if not args.quiet:
                    print(f"{name}: {'already stored as' if result.duplicate else 'stored as'} message {result.pk}")
        except StorageError as exc:
            print(f"temporary storage failure; what is not listed as stored was not stored: {exc}",
                  file=sys.stderr)
            return EX_TEMPFAIL
        if args.no_process:
            return 1 if problems else 0
        if len(origin) >= BULK:
            rt.parsers.start()  # an mbox archive: many messages from few files
        outcomes = run_until_empty(rt, transaction_seconds=BATCH_TRANSACTION_SECONDS)
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
    from ..pipeline.process import requeue_failed, run_until_empty

    rt = open_runtime(args)
    try:
        n = requeue_failed(rt, args.ids or None)
        if n >= BULK:
            rt.parsers.start()
        outcomes = run_until_empty(rt, transaction_seconds=BATCH_TRANSACTION_SECONDS)
        failed = sum(1 for v in outcomes.values() if v == "failed")
        print(f"reprocessed {n} message(s): {n - failed} done, {failed} still failing")
        return 1 if failed else 0
    finally:
        rt.close()


def cmd_stats(args) -> int:
    rt = open_runtime(args)
    try:
        from ..registry.leases import live

        with Session(rt.engine) as session:
            data = views.stats(session)
        data["instances"] = live(rt.engine)
        if args.json:
            print(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))
            return 0
        print(f"messages: {data['messages']['total']}  " +
              "  ".join(f"{k}={v}" for k, v in sorted(data["messages"]["by_status"].items())))
        print(f"cases:    {data['cases']['total']}  " +
              "  ".join(f"{k}={v}" for k, v in sorted(data["cases"]["by_state"].items())))
        if data["cases"]["escalation_impossible"]:
            print(f"          A/B cases not escalated to NHN (no [nhn] intake_address): "
                  f"{data['cases']['escalation_impossible']}")
        print("outbox:   " + "  ".join(f"{k}={v}" for k, v in sorted(data["outbox"]["by_status"].items())))
        for name, m in data["mailboxes"].items():
            error = f"  last error: {m['last_error']}" if m["last_error"] else ""
            print(f"mailbox {name}: {m['state']} since {m['since']}  ingested={m['ingested']} "
                  f"duplicates={m['duplicates']} last_uid={m['last_uid']}{error}")
        for instance in data["instances"]:
            print(f"instance {instance['id']}: seen {instance['seen_at']}  holds {', '.join(instance['holds']) or '-'}")
        return 0
    finally:
        rt.close()


def cmd_mailboxes_check(args) -> int:
    from ..receive.imap_check import check_mailbox

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


def cmd_mailbox_test(args) -> int:
    """Log in to one mailbox once and say in one line what worked or what the server answered."""
    from contextlib import suppress

    from ..receive.imap import connect, explain

    mailbox = next((m for m in args.cfg.mailbox if m.name == args.name), None)
    if mailbox is None:
        names = ", ".join(m.name for m in args.cfg.mailbox) or "none"
        print(f"sakspost: no [[mailbox]] named {args.name!r} in {args.cfg.source} (mailboxes: {names})",
              file=sys.stderr)
        return 2
    how = (f"XOAUTH2 with a token from {mailbox.oauth2_token_url}" if mailbox.auth == "xoauth2" else "password")
    try:
        client = connect(mailbox)
    except Exception as exc:
        print(f"{mailbox.name}: FAILED: {explain(exc, mailbox)}")
        return 1
    with suppress(Exception):
        client.logout()
    print(f"{mailbox.name}: OK: logged in to {mailbox.host}:{mailbox.port} as {mailbox.username} by {how}")
    return 0
