"""Commands that look after the installation: `db upgrade`, `db current`, `purge`, `example-config`."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, time, timedelta

from .common import acting_user, date_arg

log = logging.getLogger("sakspost")


def cmd_db_upgrade(args) -> int:
    from ..registry import db, schema

    engine = db.open_engine(args.cfg.database.url, create=False)
    try:
        before, after = schema.upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"schema is current ({after})")
    else:
        print(f"schema upgraded from {before or '(empty)'} to {after}")
    return 0


def cmd_db_current(args) -> int:
    from ..registry import db, schema

    db.require_file(args.cfg.database.url)
    engine = db.open_engine(args.cfg.database.url, create=False)
    try:
        with engine.connect() as conn:
            found, state = schema.revision(conn), schema.state(conn)
    finally:
        engine.dispose()
    print(f"database: {found or '(none)'} ({state}); this release: {schema.head()}")
    return 0 if state == "current" else 1


def cmd_db_revision(args) -> int:
    from ..registry import db, schema

    engine = db.open_engine(args.cfg.database.url)
    try:
        path = schema.new_revision(engine, args.message)
    finally:
        engine.dispose()
    print(f"wrote {path}")
    return 0


def cmd_purge(args) -> int:
    from ..citizen.deadlines import OSLO
    from ..registry import db, purge

    cfg = args.cfg
    if args.before:
        day = date_arg(args.before, "--before")
        if day is None:
            return 2
        cutoff = datetime.combine(day, time(0), OSLO)
    elif cfg.retention.closed_case_days:
        cutoff = datetime.now(OSLO) - timedelta(days=cfg.retention.closed_case_days)
    else:
        print("sakspost purge: give --before DATE or set [retention] closed_case_days", file=sys.stderr)
        return 2
    engine = db.open_existing(cfg.database.url) if args.dry_run else db.open_engine(cfg.database.url)
    try:
        if args.dry_run:
            result = {"closed_before": cutoff.isoformat(), "case_ids": purge.due(engine, cutoff), "counts": {}}
        else:
            result = purge.purge(engine, cutoff, who=acting_user())
            log.info("purged %d closed case(s) closed before %s", len(result["case_ids"]), cutoff.date(),
                     extra={"event": "purged", "case_ids": result["case_ids"]})
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps({**result, "dry_run": args.dry_run}, ensure_ascii=False))
    else:
        verb = "would remove" if args.dry_run else "removed"
        print(f"{verb} {len(result['case_ids'])} case(s) closed before {cutoff.date()}: "
              f"{', '.join(result['case_ids']) or '-'}")
        for table, n in sorted(result["counts"].items()):
            print(f"  {table}: {n}")
    return 0


def cmd_example_config(args) -> int:
    """The shipped example configuration on standard output (`sakspost example-config >
    /etc/sakspost/sakspost.toml`), as this release ships it."""
    from ..resources import shipped

    sys.stdout.write((shipped("config") / "sakspost.toml").read_text(encoding="utf-8"))
    return 0
