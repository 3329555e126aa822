"""The registry's schema across releases: a database made by the release before migrations is
upgraded by `sakspost db upgrade` with its cases kept, `run` refuses it until then and says what to
run, an empty one is made by `run` itself, and the models and the migrations agree (a model change
without its migration fails here)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from conftest import Sakspost, incident_mail
from daemon.registry import schema
from daemon.registry.db import open_engine

DATA = Path(__file__).parent / "data"
CASE = ("INSERT INTO \"case\" (id, kind, state, reporter, reporter_name, subject, created_at, updated_at, "
        "description, service, discovered, contact, channel, resolution, flags) VALUES ('SAK-2026-000007', "
        "'incident', 'open', 'kari@sykehus.example', 'Kari', 'XCA feiler', '2026-11-25 08:15:00+00:00', "
        "'2026-11-25 08:15:00+00:00', '', '', '', '', 'email', '', '')")


def previous_release(url: str) -> None:
    """A registry as sakspost 0.1.0 left it: its create_all's tables, one case in them, no revision."""
    dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
    statements = [s for s in (DATA / f"release-0.1.0-{dialect}.sql").read_text().split(";\n") if s.strip()]
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql("\n".join(line for line in statement.splitlines() if not line.startswith("--")))
        conn.exec_driver_sql("INSERT INTO casecounter (year, last) VALUES (2026, 7)")
        conn.exec_driver_sql(CASE)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sakspost.db"
    return request.getfixturevalue("pg_database")


def test_a_previous_release_registry_is_refused_then_upgraded_with_its_cases(url, tmp_path):
    previous_release(url)
    d = Sakspost(tmp_path, {"database": {"url": url}})
    refused = d.cli("run", check=False)
    assert refused.returncode == 1
    assert "run `sakspost db upgrade`" in refused.stderr.decode()
    assert d.cli("ingest", "-", input=incident_mail(), check=False).returncode == 75  # the MTA keeps it
    assert d.cli("db", "current", check=False).stdout.decode().startswith("database: (none) (behind)")

    out = d.cli("db", "upgrade").stdout.decode()
    assert f"schema upgraded from (before migrations) to {schema.head()}" in out
    assert d.cli("db", "upgrade").stdout.decode().strip() == f"schema is current ({schema.head()})"
    assert [c["id"] for c in d.cases()] == ["SAK-2026-000007"]
    d.cli("ingest", "-", input=incident_mail())  # the next case is numbered on from the old counter
    assert sorted(c["id"] for c in d.cases()) == ["SAK-2026-000007", "SAK-2026-000008"]
    engine = open_engine(url)  # current: opens without a word
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    engine.dispose()


def test_the_models_and_the_migrations_agree(url):
    """Every table, column, type and index of the models is made by the migrations, and nothing else:
    a model changed without a migration (`alembic revision --autogenerate`) fails this test."""
    engine = open_engine(url, create=False)
    with engine.begin() as conn:  # an empty registry, made by running every migration
        assert schema.migrate(conn) == schema.head()
    with engine.connect() as conn:
        assert schema.state(conn) == "current"
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    engine.dispose()


def described(engine) -> dict:
    """Everything an inspector reads of ENGINE's schema, with the version table's rows."""
    seen = inspect(engine)
    out = {}
    for table in sorted(seen.get_table_names()):
        out[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], str(c.get("default")), c.get("autoincrement"))
                        for c in seen.get_columns(table)],
            "primary key": seen.get_pk_constraint(table),
            "foreign keys": sorted(map(repr, seen.get_foreign_keys(table))),
            "indexes": sorted(map(repr, seen.get_indexes(table))),
            "unique": sorted(map(repr, seen.get_unique_constraints(table))),
            "checks": sorted(map(repr, seen.get_check_constraints(table))),
        }
    with engine.connect() as conn:
        out["versions"] = conn.execute(text("select version_num from alembic_version")).all()
    return out


@pytest.fixture
def second_url(url, request, tmp_path):
    if url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/second.db"
    return request.getfixturevalue("pg_database_2")


def test_an_empty_registry_made_by_create_all_is_the_one_the_migrations_make(url, second_url):
    """`run` on an empty database makes the models' tables and stamps them with the head
    revision instead of running every migration: every table, column, type, default, key, index
    and constraint, and the revision, are what the migrations make."""
    created = open_engine(url)  # an empty registry: create_all and stamp
    migrated = open_engine(second_url, create=False)
    with migrated.begin() as conn:
        schema.migrate(conn)
    made, expected = described(created), described(migrated)
    assert made == expected
    assert made["versions"] == [(schema.head(),)] and "rateevent" in made
    with created.connect() as conn:
        assert schema.state(conn) == "current"
    for e in (created, migrated):
        e.dispose()


def test_run_makes_an_empty_registry_and_refuses_a_newer_one(sakspost):
    d = sakspost({})
    d.stop()
    db = sqlite3.connect(d.db_path)
    assert db.execute("select version_num from alembic_version").fetchall() == [(schema.head(),)]
    db.execute("update alembic_version set version_num = '9999'")
    db.commit()
    refused = d.cli("stats", check=False)
    assert refused.returncode == 1 and "upgraded by a newer release of sakspost" in refused.stderr.decode()


def test_an_empty_registry_made_meanwhile_is_not_made_again(tmp_path):
    url = f"sqlite:///{tmp_path}/r.db"
    engines = [open_engine(url, create=False) for _ in range(2)]
    assert [schema.upgrade(e, only_if_empty=True)[1] for e in engines] == [schema.head()] * 2
    with engines[0].connect() as conn:
        assert conn.execute(text("select count(*) from alembic_version")).scalar() == 1
    for e in engines:
        e.dispose()


def test_the_newest_revision_by_file_name_is_alembics_head():
    """`schema.ensure` recognises a current registry by the migrations' file names, without
    loading Alembic; that must be the revision Alembic takes for the head."""
    from daemon.registry import schema

    assert schema.newest_file() == schema.head()
