"""Mailboxes over IMAP (issue 3), against a real Dovecot: mail appended while the daemon idles
is registered within 2 seconds; a backlog appended while it is down is ingested once; a daemon
killed right after a commit creates no second case; a Dovecot restart and a UIDVALIDITY change
are survived without loss or duplicates; a refused login is reported while the other mailboxes
and the SMTP receiver go on; `sakspost mailboxes check` says what is wrong and changes nothing."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from conftest import incident_mail, wait_until

from tests.peers.dovecot import Dovecot

# One user per test on the shared server, so the tests keep out of each other's way.
USERS = {name: f"pw-{name}" for name in ("idle", "backlog", "killed", "polling", "good", "bad", "check")}
OWN_USERS = {"alice": "pw-alice"}



@pytest.fixture(scope="module")
def imap(tmp_path_factory) -> Dovecot:
    """One Dovecot for the module; never restarted by a test."""
    with Dovecot(tmp_path_factory.mktemp("dovecot"), USERS) as server:
        yield server


@pytest.fixture
def own_imap(tmp_path) -> Dovecot:
    """A Dovecot of the test's own, for tests that restart it."""
    with Dovecot(tmp_path / "dovecot", OWN_USERS) as server:
        yield server


def mailbox(server: Dovecot, user: str, directory: Path, password: str | None = None, **overrides) -> dict:
    """A [[mailbox]] entry for USER on SERVER, its password in a file under DIRECTORY."""
    secret = directory / (f"{user}.pw" if password is None else f"{user}-other.pw")
    secret.write_text((password or server.users[user]) + "\n")
    return {"name": user, "host": server.host, "port": server.port, "tls": "none", "username": user,
            "password_file": str(secret), **overrides}


def stored(d, source: str | None = None) -> int:
    """Inbound messages in the daemon's registry, read straight from its database."""
    db = sqlite3.connect(d.db_path)
    try:
        if source:
            return db.execute("select count(*) from message where direction = 'in' and source = ?",
                              (source,)).fetchone()[0]
        return db.execute("select count(*) from message where direction = 'in'").fetchone()[0]
    except sqlite3.OperationalError:  # the daemon has not created its tables yet
        return 0
    finally:
        db.close()


def mailbox_stats(d, name: str) -> dict:
    return d.stats()["mailboxes"].get(name, {})


def wait_mailbox(d, name: str, timeout: float = 15.0, **expected) -> dict:
    def reached():
        state = mailbox_stats(d, name)
        return state if all(state.get(k) == v for k, v in expected.items()) else None
    return wait_until(reached, timeout, interval=0.2, what=f"mailbox {name} {expected}\n{d.log()[-3000:]}")


def test_mail_appended_while_idling_is_registered_within_2_seconds(imap, sakspost, tmp_path):
    d = sakspost({"mailbox": [mailbox(imap, "idle", tmp_path, move_to="Behandlet")]})
    wait_mailbox(d, "idle", state="idle")

    latencies = []
    for n in range(3):
        started = time.monotonic()
        imap.append("idle", incident_mail(subject=f"XCA-oppslag feiler, melding {n}"))
        wait_until(lambda: stored(d) == n + 1, 2.0, interval=0.01, what=f"message {n} in the registry")
        latencies.append(time.monotonic() - started)
    print(f"IDLE arrival latencies: {', '.join(f'{s:.3f} s' for s in latencies)}")

    cases = d.wait_cases(3)
    assert sorted(c["subject"] for c in cases) == [f"XCA-oppslag feiler, melding {n}" for n in range(3)]
    # the same pipeline as SMTP: each report is acknowledged (no relay: into the sent maildir)
    sent = d.workdir / "var" / "sent" / "new"
    wait_until(lambda: sent.is_dir() and len(list(sent.iterdir())) == 3, 10, what="3 acknowledgements")
    # stored messages are moved out of the watched folder, unread
    wait_until(lambda: imap.folder_count("idle", "Behandlet") == 3, 5, what="messages moved")
    assert imap.folder_count("idle", "INBOX") == 0
    uid = imap.folder_uids("idle", "Behandlet")[0]
    assert "\\Seen" not in imap.flags("idle", "Behandlet", uid)
    state = mailbox_stats(d, "idle")
    assert (state["state"], state["ingested"], state["duplicates"], state["last_uid"]) == ("idle", 3, 0, 3)


def test_backlog_appended_while_down_is_ingested_once(imap, sakspost, tmp_path):
    d = sakspost({"mailbox": [mailbox(imap, "backlog", tmp_path)]}, start=False)
    imap.append_many("backlog", [incident_mail(subject=f"Restanse {n}", message_id=f"<restanse-{n}@sykehus.example>",
                                               sender=f"lege{n % 50}@sykehus.example") for n in range(500)])

    started = time.monotonic()
    d.start()
    wait_until(lambda: stored(d) >= 500, 60, interval=0.1, what=f"500 messages stored\n{d.log()[-3000:]}")
    print(f"500-message backlog stored in {time.monotonic() - started:.1f} s")
    state = wait_mailbox(d, "backlog", ingested=500)
    assert (state["duplicates"], state["last_uid"]) == (0, 500)
    assert stored(d) == 500
    # without move_to every stored message is marked \Seen plus our keyword, left in place
    with imap.client("backlog") as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search(["UNKEYWORD", "SakspostDone"]) == []
        assert client.search(["UNSEEN"]) == []
    cases = d.wait_cases(500, timeout=60)
    assert len({c["subject"] for c in cases}) == 500
    print(f"500-message backlog made into cases in {time.monotonic() - started:.1f} s")

    # a restart resumes after the last UID done: nothing is fetched twice
    d.stop()
    d.start()
    imap.append("backlog", incident_mail(subject="Etter omstart"))
    wait_until(lambda: stored(d) == 501, 10, what="the new message after the restart")
    state = wait_mailbox(d, "backlog", ingested=501)
    assert state["duplicates"] == 0


def test_daemon_killed_right_after_a_commit_makes_no_duplicate(imap, sakspost, tmp_path, monkeypatch):
    # the daemon waits after each commit, before the move, so the test can kill it in that window
    monkeypatch.setenv("SAKSPOST_TEST_HOLD_AFTER_COMMIT", "60")
    d = sakspost({"mailbox": [mailbox(imap, "killed", tmp_path, move_to="Behandlet")]})
    wait_mailbox(d, "killed", state="idle")
    uid = imap.append("killed", incident_mail(subject="Innsynslogg mangler oppføringer"))
    wait_until(lambda: stored(d) == 1, 5, what="the commit")
    (case,) = d.wait_cases(1)
    assert imap.folder_uids("killed", "INBOX") == [uid], "killed after the commit, before the move"

    d.kill()
    monkeypatch.delenv("SAKSPOST_TEST_HOLD_AFTER_COMMIT")
    d.start()

    # the restarted daemon finishes the job: moved now, not stored again
    wait_until(lambda: imap.folder_count("killed", "INBOX") == 0, 10, what="the message moved after restart")
    assert imap.folder_count("killed", "Behandlet") == 1
    assert "1 message(s) stored earlier but not yet moved" in d.log()
    state = wait_mailbox(d, "killed", state="idle")
    assert (state["ingested"], state["duplicates"]) == (1, 0)
    assert stored(d) == 1
    assert [c["id"] for c in d.cases()] == [case["id"]]


def test_dovecot_restarted_under_the_daemon_is_reconnected_to(own_imap, sakspost, tmp_path):
    d = sakspost({"mailbox": [mailbox(own_imap, "alice", tmp_path)]})
    wait_mailbox(d, "alice", state="idle")
    own_imap.append("alice", incident_mail(subject="Før omstart"))
    d.wait_cases(1)

    own_imap.restart()

    state = wait_until(lambda: (s := mailbox_stats(d, "alice"))["state"] == "idle" and s["last_error"] and s,
                       15, interval=0.2, what="reconnected and idling again")
    assert "connection to 127.0.0.1" in state["last_error"] and "lost" in state["last_error"]
    assert "mailbox alice: connection to" in d.log()
    own_imap.append("alice", incident_mail(subject="Etter omstart"))
    wait_until(lambda: stored(d) == 2, 5, what="the message appended after the restart")
    assert sorted(c["subject"] for c in d.wait_cases(2)) == ["Etter omstart", "Før omstart"]


def test_uidvalidity_change_rescans_without_duplicates(own_imap, sakspost, tmp_path):
    d = sakspost({"mailbox": [mailbox(own_imap, "alice", tmp_path)]})
    own_imap.append_many("alice", [incident_mail(subject=f"Melding {n}") for n in range(3)])
    d.wait_cases(3)
    before = wait_mailbox(d, "alice", ingested=3)
    d.stop()

    # the mailbox is rebuilt (as after a server migration): new UIDVALIDITY, new UIDs from 1,
    # and our \Seen and keyword marks lost, so every old message looks new to the server
    own_imap.reset_uidvalidity("alice")
    with own_imap.client("alice") as client:
        client.select_folder("INBOX")
        client.remove_flags(client.search("ALL"), [b"\\Seen", b"SakspostDone"])
    d.start()
    own_imap.append("alice", incident_mail(subject="Ny etter endringen"))

    state = wait_mailbox(d, "alice", ingested=4, duplicates=3)
    assert state["uidvalidity"] == own_imap.uidvalidity("alice") != before["uidvalidity"]
    assert state["last_uid"] == 4
    assert stored(d) == 4
    wait_until(lambda: d.stats()["messages"]["by_status"] == {"processed": 4}, 10, what="all 4 processed")
    cases = d.cases()
    assert len(cases) == 4 == len({c["subject"] for c in cases})
    assert "UIDVALIDITY changed" in d.log()


def test_wrong_password_is_reported_and_the_rest_keeps_working(imap, sakspost, tmp_path):
    d = sakspost({"mailbox": [mailbox(imap, "bad", tmp_path, password="not-the-password"),
                              mailbox(imap, "good", tmp_path, role="nhn")]})
    bad = wait_until(lambda: (s := mailbox_stats(d, "bad")).get("state") == "failing" and s, 10,
                     interval=0.2, what="the bad mailbox failing")
    assert "login refused for 'bad'" in bad["last_error"] and bad["since"]
    assert "mailbox bad: login refused for 'bad'" in d.log()
    assert "not-the-password" not in d.log()

    imap.append("good", incident_mail(subject="Svar fra NHN", sender="kundesenter@nhn.example"))
    wait_until(lambda: stored(d, "imap:good") == 1, 5, what="the good mailbox ingesting")
    d.send(incident_mail(subject="Meldt over SMTP"))
    wait_until(lambda: stored(d) == 2, 5, what="the SMTP receiver storing")

    stats = d.stats()["mailboxes"]
    assert (stats["good"]["state"], stats["good"]["ingested"]) == ("idle", 1)
    assert (stats["bad"]["state"], stats["bad"]["ingested"]) == ("failing", 0)


def test_polling_when_idle_is_off(imap, sakspost, tmp_path):
    d = sakspost({"mailbox": [mailbox(imap, "polling", tmp_path, idle=False, poll_seconds=0.5)]})
    wait_mailbox(d, "polling", state="polling")
    imap.append("polling", incident_mail(subject="Hentet ved polling"))
    wait_until(lambda: stored(d) == 1, 5, what="the polled message")
    assert d.wait_cases(1)[0]["subject"] == "Hentet ved polling"


def test_mailboxes_check_says_what_is_wrong_and_changes_nothing(imap, sakspost, tmp_path):
    uid = imap.append("check", incident_mail(subject="Ulest"))
    fine = mailbox(imap, "check", tmp_path, move_to="Behandlet")
    d = sakspost({"mailbox": [
        fine,
        {**mailbox(imap, "check", tmp_path, password="wrong"), "name": "wrongpw"},
        {**fine, "name": "nofolder", "folder": "Skjemaer"},
        {**fine, "name": "notls", "tls": "implicit"},
    ]}, start=False)

    out = d.cli("mailboxes", "check", check=False)
    text = out.stdout.decode()
    assert out.returncode == 1, text + out.stderr.decode()
    assert f"check (check at 127.0.0.1:{imap.port}, tls none): OK" in text
    assert "INBOX: 1 messages, 1 unseen  <- watched" in text
    assert "Behandlet: does not exist yet" in text
    assert "server offers: IDLE, MOVE, UIDPLUS" in text
    assert "wrongpw (check at " in text and "FAILED: login refused for 'check'" in text
    assert "nofolder (check at " in text and "FAILED: no such folder 'Skjemaer' (folders: INBOX)" in text
    assert "notls (check at " in text and "FAILED: TLS failure with 127.0.0.1" in text
    assert "3 of 4 mailbox(es) cannot be used" in out.stderr.decode()
    # nothing changed: still unread, no folder created
    assert "\\Seen" not in imap.flags("check", "INBOX", uid)
    with imap.client("check") as client:
        assert not client.folder_exists("Behandlet")

    only_fine = sakspost({"mailbox": [fine]}, start=False)
    assert only_fine.cli("mailboxes", "check", check=False).returncode == 0


def test_plaintext_imap_is_refused_for_a_remote_host(sakspost, tmp_path):
    d = sakspost({"mailbox": [{"name": "ekstern", "host": "imap.sykehus.example", "tls": "none",
                               "username": "u", "password_env": "X"}]}, start=False)
    out = d.cli("check-config", check=False)
    assert out.returncode == 2
    assert "[[mailbox]][0].tls" in out.stderr.decode() and "loopback" in out.stderr.decode()
