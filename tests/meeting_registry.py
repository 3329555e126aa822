"""A registry with incidents of given ages and states, for the meeting report and digest tests
(cases are made through `registry.cases`; their times are then set as if they had passed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from daemon import config
from daemon.registry import cases, states
from daemon.registry.writer import unit_of_work
from daemon.registry.models import Case
from daemon.runtime import Runtime

HANDLER = "kari.drift@sykehus.example"
DIGEST_TO = "forvaltning@sykehus.example"


def settings(tmp_path, database: str | None = None, **extra) -> dict:
    return {
        "database": {"url": database or f"sqlite:///{tmp_path}/registry.db"},
        "paths": {"var_dir": str(tmp_path / "var")},
        "identity": {"address": "brukerstotte@sykehus.example", "actor": "sykehus", "secret_file": str(_secret(tmp_path))},
        "actor": [{"id": "sykehus", "name": "Sykehuset Eksempel HF", "kind": "consumer", "handlers": [HANDLER],
                   "local_support": "brukerstotte@sykehus.example"},
                  {"id": "helse-vest", "name": "Helse Vest RHF", "kind": "source",
                   "contact": "innsyn@helse-vest.example"}],
        "digest": {"recipients": [DIGEST_TO]},
        **extra,
    }


def _secret(tmp_path):
    path = tmp_path / "secret"
    if not path.exists():
        path.write_text("meeting-test-secret")
    return path


def runtime(tmp_path, database: str | None = None, **extra) -> Runtime:
    return Runtime.open(config.parse(settings(tmp_path, database, **extra)))


def incident(rt, *, severity: str | None, age: timedelta, subject: str = "XCA-oppslag feiler",
             closed_ago: timedelta | None = None, resolved_by: str | None = None, lead: str = "sykehus",
             nhn_reference: str | None = None, now: datetime | None = None) -> str:
    """An incident received AGE before NOW; open, or closed CLOSED_AGO before NOW (after a
    `#løst` by RESOLVED_BY if given)."""
    now = now or datetime.now(timezone.utc)
    with unit_of_work(rt.engine) as session:
        case = cases.open_case(session, "incident", who="test", severity=severity, subject=subject,
                               lead_actor=lead, nhn_reference=nhn_reference, service="XCA-gateway")
        cases.transition(session, case, states.OPEN)
        if closed_ago is not None:
            if resolved_by:
                cases.transition(session, case, states.RESOLVED, who=resolved_by)
            cases.transition(session, case, states.CLOSED)
        case_id = case.id
    created = now - age
    times = {"created_at": created, "updated_at": created if closed_ago is None else now - closed_ago}
    if closed_ago is not None:
        times["closed_at"] = now - closed_ago
        if resolved_by:
            times["resolved_at"] = now - closed_ago - timedelta(hours=24)
    with unit_of_work(rt.engine) as session:
        session.connection().execute(update(Case).where(Case.id == case_id).values(**times))
    return case_id
