"""Tests of the ``tests.peers.dovecot`` helper (a real Dovecot IMAP server)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.peers.dovecot import Dovecot

USERS = {"alice": "secret", "bob": "hunter2"}

# Each Dovecot shutdown takes ~1 s (the master sleeps while its log process
# drains), so tests that don't restart the server share one instance and
# keep out of each other's way by using their own user or folder.
SHARED_USERS = {"carol": "pw-carol", "dave": "pw-dave", "erin": "pw-erin"}

# Dovecot stores LF line endings and serves CRLF, so use CRLF messages for
# byte-exact round trips.
MESSAGE = (
    b"From: Sender <sender@example.org>\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n"
    b"Message-ID: <roundtrip-1@example.org>\r\n"
    b"Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Gr\xc3\xbc\xc3\x9fe aus dem Test.\r\n"
)


def make_message(n: int) -> bytes:
    return (
        f"From: bulk@example.org\r\nSubject: bulk {n}\r\n"
        f"Message-ID: <bulk-{n}@example.org>\r\n\r\nmessage {n}\r\n"
    ).encode()



@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    """A fresh server, for tests that stop or restart it."""
    with Dovecot(tmp_path, USERS) as server:
        yield server


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dovecot]:
    """One server for the whole module; never stop it in a test."""
    with Dovecot(tmp_path_factory.mktemp("dovecot"), SHARED_USERS) as server:
        yield server


def fetch_body(server: Dovecot, user: str, folder: str, uid: int) -> bytes:
    with server.client(user) as client:
        client.select_folder(folder, readonly=True)
        return client.fetch([uid], [b"BODY.PEEK[]"])[uid][b"BODY[]"]


def test_starts_on_loopback_and_accepts_login(shared: Dovecot) -> None:
    assert shared.host == "127.0.0.1"
    assert shared.running
    with shared.client("erin") as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_close_stops_server(tmp_path: Path) -> None:
    server = Dovecot(tmp_path, USERS)
    with server:
        port = server.port
    assert not server.running
    assert not server.dir.exists()
    assert "starting up" in (tmp_path / "dovecot.log").read_text()
    with pytest.raises(OSError):
        socket.create_connection((server.host, port), timeout=1).close()


def test_wrong_password_is_rejected(shared: Dovecot) -> None:
    client = IMAPClient(shared.host, shared.port, ssl=False, timeout=10)
    try:
        with pytest.raises(LoginError):
            client.login("erin", "not-the-password")
    finally:
        client.logout()


def test_capabilities_include_idle_and_move(shared: Dovecot) -> None:
    with shared.client("erin") as client:
        caps = set(client.capabilities())
    assert {b"IDLE", b"MOVE", b"UIDPLUS"} <= caps


def test_append_fetch_round_trip(shared: Dovecot) -> None:
    uid = shared.append("carol", MESSAGE)
    assert shared.folder_uids("carol", "INBOX") == [uid]
    assert fetch_body(shared, "carol", "INBOX", uid) == MESSAGE
    assert "\\Seen" not in shared.flags("carol", "INBOX", uid)
    assert shared.folder_count("erin", "INBOX") == 0


def test_folders_and_flags(shared: Dovecot) -> None:
    shared.create_folder("carol", "Archive")
    uid = shared.append("carol", MESSAGE, "Archive", flags=["\\Seen", "\\Flagged"])
    assert shared.folder_uids("carol", "Archive") == [uid]
    assert {"\\Seen", "\\Flagged"} <= shared.flags("carol", "Archive", uid)
    assert shared.maildir("carol", "Archive").is_dir()


def test_append_many_is_fast(shared: Dovecot) -> None:
    messages = [make_message(n) for n in range(500)]
    started = time.monotonic()
    uids = shared.append_many("dave", messages)
    assert time.monotonic() - started < 5
    assert uids == list(range(1, 501))
    assert shared.folder_count("dave", "INBOX") == 500
    assert fetch_body(shared, "dave", "INBOX", uids[-1]) == messages[-1]


def test_restart_keeps_messages_and_port(dovecot: Dovecot) -> None:
    uids = dovecot.append_many("alice", [make_message(n) for n in range(3)])
    port = dovecot.port
    validity = dovecot.uidvalidity("alice")

    dovecot.restart()

    assert dovecot.port == port
    assert dovecot.folder_uids("alice") == uids
    assert dovecot.uidvalidity("alice") == validity


def test_reset_uidvalidity_keeps_messages(dovecot: Dovecot) -> None:
    dovecot.append_many("alice", [make_message(n) for n in range(5)])
    dovecot.create_folder("alice", "Archive")
    dovecot.append("alice", MESSAGE, "Archive")
    inbox_before = dovecot.uidvalidity("alice")
    archive_before = dovecot.uidvalidity("alice", "Archive")

    dovecot.reset_uidvalidity("alice")

    assert dovecot.uidvalidity("alice") != inbox_before
    assert dovecot.folder_count("alice") == 5
    assert len(dovecot.folder_uids("alice")) == 5
    # other folders are untouched
    assert dovecot.uidvalidity("alice", "Archive") == archive_before

    dovecot.reset_uidvalidity("alice", "Archive")
    assert dovecot.uidvalidity("alice", "Archive") != archive_before
    assert dovecot.folder_count("alice", "Archive") == 1
