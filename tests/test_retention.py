"""Files and retention: the registry and what the daemon writes are readable by its user only (or
its group, when one is configured), `sakspost purge` removes closed cases past the retention and
keeps a record of what it removed, and secrets can come from systemd credentials."""

from __future__ import annotations

import grp
import json
import os
import sqlite3
import stat

from conftest import Sakspost, incident_mail


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def close_long_ago(d: Sakspost, case_id: str, when: str) -> None:
    db = sqlite3.connect(d.db_path)
    db.execute("update \"case\" set state = 'closed', closed_at = ? where id = ?", (when, case_id))
    db.commit()
    db.close()


def test_registry_secret_and_sent_mail_are_private(sakspost):
    d = sakspost({})
    d.send(incident_mail())
    d.wait_cases(1)
    sent = d.workdir / "var" / "sent" / "new"
    assert mode(d.db_path) == 0o600
    assert mode(d.workdir / "var" / "secret") == 0o600
    d.stop()
    assert [mode(p) for p in sent.iterdir()] == [0o600]
    assert all(mode(p) == 0o600 for p in d.db_path.parent.glob("sakspost.db*"))


def test_with_a_group_files_are_group_readable_and_a_wide_registry_is_narrowed(tmp_path):
    group = grp.getgrgid(os.getgid()).gr_name
    d = Sakspost(tmp_path, {"paths": {"var_dir": str(tmp_path / "var"), "group": group}})
    d.cli("ingest", "-", input=incident_mail())
    assert mode(d.db_path) == 0o640
    assert mode(tmp_path / "var") & 0o2000  # set-group-ID: files made there belong to the group
    os.chmod(d.db_path, 0o644)
    d.config_path.write_text(d.config_path.read_text().replace(f'group = "{group}"', ""))
    d.cli("stats")
    assert mode(d.db_path) == 0o600


def test_purge_removes_closed_cases_past_retention_and_records_it(tmp_path):
    d = Sakspost(tmp_path, {})
    for i in range(3):
        d.cli("ingest", "-", input=incident_mail(subject=f"Feil {i}", message_id=f"<p{i}@sykehus.example>"))
    old, recent, still_open = sorted(c["id"] for c in d.cases())
    close_long_ago(d, old, "2025-01-10 09:00:00.000000")
    close_long_ago(d, recent, "2026-11-01 09:00:00.000000")
    assert d.cli("purge", check=False).returncode == 2  # neither --before nor [retention]

    dry = json.loads(d.cli("purge", "--before", "2026-01-01", "--dry-run", "--json").stdout)
    assert dry["case_ids"] == [old] and len(d.cases()) == 3
    done = json.loads(d.cli("purge", "--before", "2026-01-01", "--json").stdout)
    assert done["case_ids"] == [old]
    assert done["counts"]["cases"] == 1 and done["counts"]["raw_messages"] == 2  # the report and its acknowledgement
    assert sorted(c["id"] for c in d.cases()) == [recent, still_open]
    assert d.cli("cases", "show", old, check=False).returncode != 0
    db = sqlite3.connect(d.db_path)
    assert db.execute("select count(*) from message where message_id = 'p0@sykehus.example'").fetchone() == (0,)
    (record,) = db.execute("select who, closed_before, case_ids, counts from purgerecord").fetchall()
    assert record[0].startswith("cli:") and record[1].startswith("2025-12-31 23:00")
    assert json.loads(record[2]) == [old] and json.loads(record[3])["audit_events"] > 0
    assert "Feil 0" not in repr(record)  # ids and counts, never content

    d.config_path.write_text(d.config_path.read_text() + "\n[retention]\nclosed_case_days = 7\n")
    assert json.loads(d.cli("purge", "--json").stdout)["case_ids"] == [recent]
    assert [c["id"] for c in d.cases()] == [still_open]


def test_a_secret_by_credential_name(tmp_path):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "relay.pw").write_text("s3cret\n")
    d = Sakspost(tmp_path, {"relay": {"host": "smtp.sykehus.example", "username": "sakspost",
                                      "password_file": "relay.pw"}})
    refused = d.cli("check-config", check=False)
    assert refused.returncode == 2 and "[relay].password_file" in refused.stderr.decode()
    os.environ["CREDENTIALS_DIRECTORY"] = str(credentials)
    try:
        out = d.cli("check-config")
    finally:
        del os.environ["CREDENTIALS_DIRECTORY"]
    assert b"configuration OK" in out.stdout and b"s3cret" not in out.stdout + out.stderr
