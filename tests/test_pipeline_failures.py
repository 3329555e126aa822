"""A message that fails in the pipeline is dead-lettered on its own: the messages applied in the
same transaction before and after it are registered as if it had not been there."""

from __future__ import annotations

import shutil
import sqlite3

from conftest import ROOT, incident_mail
from daemon import config as config_mod
from daemon.pipeline.process import run_until_empty
from daemon.registry.models import utcnow
from daemon.registry.store import Incoming, store_group
from daemon.runtime import Runtime

INCOMPLETE = "Hei,\n\nNoe er feil med dokumentdelingen.\n\nHilsen Kari\n"  # what, when, where ... missing


def test_a_failing_message_is_dead_lettered_and_the_rest_of_its_transaction_is_kept(tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    # An operator's broken template: every acknowledgement fails to render. A complete report is
    # acknowledged, so it fails; an incomplete one is asked for details (another template).
    ack = templates / "nb" / "acknowledgement.txt"
    ack.write_text(ack.read_text(encoding="utf-8") + "{{ no_such_variable.attribute }}\n", encoding="utf-8")
    cfg = config_mod.parse({"database": {"url": f"sqlite:///{tmp_path}/sakspost.db"},
                            "paths": {"var_dir": str(tmp_path / "var"), "templates_dir": str(templates)}})
    rt = Runtime.open(cfg)
    try:
        mails = []
        for i in range(4):
            mails.append(("incomplete", incident_mail(subject=f"Feil {i}", body=INCOMPLETE,
                                                      message_id=f"<incomplete-{i}@sykehus.example>")))
            mails.append(("complete", incident_mail(subject=f"Feil i XCA-oppslag {i}",
                                                    message_id=f"<complete-{i}@sykehus.example>")))
        stored = store_group(rt.engine, [Incoming(raw, "test") for _, raw in mails])
        outcomes = run_until_empty(rt)
    finally:
        rt.close()
    kinds = {s.pk: kind for s, (kind, _) in zip(stored, mails)}
    assert {pk: outcome for pk, outcome in outcomes.items()} == {
        pk: ("failed" if kind == "complete" else "new_report") for pk, kind in kinds.items()}
    db = sqlite3.connect(tmp_path / "sakspost.db")
    rows = dict(((pk, (status, error, case_id)) for pk, status, error, case_id in db.execute(
        "select id, status, error, case_id from message where direction = 'in'")))
    for pk, kind in kinds.items():
        status, error, case_id = rows[pk]
        if kind == "complete":
            assert status == "failed" and "UndefinedError" in error and case_id is None
        else:
            assert status == "processed" and error == "" and case_id
    # the failed reports left nothing behind: no case, no audit event, no queued mail
    assert db.execute('select count(*) from "case"').fetchone()[0] == 4
    assert db.execute("select count(distinct case_id) from auditevent").fetchone()[0] == 4
    # and each kept case has its whole trail, though a message after it was rolled back
    trails = {}
    for case_id, action in db.execute("select case_id, action from auditevent order by id"):
        trails.setdefault(case_id, []).append(action)
    for actions in trails.values():
        assert actions[:3] == ["opened", "message_received", "state_changed"] and "mail_queued" in actions, actions
    assert db.execute("select purpose, count(*) from outboxmail group by purpose").fetchall() == [("info_request", 4)]
    year = utcnow().year  # numbers taken by the rolled-back cases are given out again: no gaps
    assert db.execute('select min(id), max(id) from "case"').fetchone() == (f"SAK-{year}-000001", f"SAK-{year}-000004")


def test_a_message_whose_raw_copy_is_gone_is_dead_lettered_with_the_reason(tmp_path):
    cfg = config_mod.parse({"database": {"url": f"sqlite:///{tmp_path}/sakspost.db"},
                            "paths": {"var_dir": str(tmp_path / "var")}})
    rt = Runtime.open(cfg)
    try:
        gone, kept = store_group(rt.engine, [Incoming(incident_mail(subject=f"Feil {i}"), "test") for i in range(2)])
        db = sqlite3.connect(tmp_path / "sakspost.db")
        db.execute("delete from rawmessage where message_pk = ?", (gone.pk,))
        db.commit()
        assert run_until_empty(rt) == {gone.pk: "failed", kept.pk: "new_report"}
    finally:
        rt.close()
    assert db.execute("select error from message where id = ?", (gone.pk,)).fetchone() == (
        "no raw copy of this message is stored",)


def test_a_claim_whose_lease_has_expired_is_taken_again_and_counted(tmp_path):
    """A message claimed by a daemon that died is claimed again once its lease has expired; one
    claimed within the lease is left to the daemon that has it; each claim counts an attempt."""
    from datetime import timedelta

    from daemon.pipeline.process import claim

    cfg = config_mod.parse({"database": {"url": f"sqlite:///{tmp_path}/sakspost.db"},
                            "paths": {"var_dir": str(tmp_path / "var")}})
    rt = Runtime.open(cfg)
    try:
        stored = store_group(rt.engine, [Incoming(incident_mail(subject=f"Feil {i}",
                                                                message_id=f"<lease-{i}@sykehus.example>"), "test")
                                         for i in range(3)])
        pks = [s.pk for s in stored]
        assert claim(rt, 10) == pks  # all three, oldest first
        assert claim(rt, 10) == []  # within their lease: nobody else's
        lease = timedelta(seconds=cfg.pipeline.claim_lease_seconds)
        db = sqlite3.connect(tmp_path / "sakspost.db")
        with db:  # the daemon holding the first two died long ago
            db.execute("update message set claimed_at = ? where id in (?, ?)",
                       ((utcnow() - 2 * lease).strftime("%Y-%m-%d %H:%M:%S.%f"), pks[0], pks[1]))
        assert claim(rt, 1) == [pks[0]]  # LIMIT holds
        assert claim(rt, 10) == [pks[1]]
        attempts = dict(db.execute("select id, attempts from message where direction = 'in'").fetchall())
        assert attempts == {pks[0]: 2, pks[1]: 2, pks[2]: 1}
    finally:
        rt.close()
