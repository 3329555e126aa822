"""A throw-away Dovecot IMAP server for integration tests.

``Dovecot`` writes a self-contained ``dovecot.conf`` into a short temporary
directory under ``/tmp`` (unix socket paths are limited to 108 bytes, and
pytest's ``tmp_path`` is both long and mode 0700, which the unprivileged mail
user could not traverse), runs ``dovecot -F -c <conf>`` in the foreground on a
free 127.0.0.1 port, and offers a few helpers (based on ``imapclient``) to
seed and inspect mailboxes::

    with Dovecot(tmp_path, {"alice": "secret"}) as dv:
        uid = dv.append("alice", b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
        connect_ingester(dv.host, dv.port, "alice", "secret")

Authentication is plain LOGIN without TLS (``ssl = no``,
``disable_plaintext_auth = no``) against a passwd-file; all users share one
static userdb uid/gid.  With ``oauth2_introspection_url`` it also takes
``XOAUTH2`` and ``OAUTHBEARER`` logins, validated by an ``oauth2`` passdb at that
RFC 7662 endpoint (``introspection_mode = post``; the answer's ``username``
must be the user logging in; an HTTPS endpoint's certificate is checked against
``oauth2_ca_file``); the passwords still log the helpers in.  When
running as root, Dovecot refuses to run
``imap-login`` or mail processes as root, so the internal/login users are the
Debian package's ``dovecot``/``dovenull`` and mail is owned by
``nobody:nogroup``.  Otherwise everything runs as the current user.

Requires the ``dovecot-imapd`` package (Dovecot 2.3).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Iterable, Iterator, Sequence

from imapclient import IMAPClient, imap_utf7

__all__ = ["Dovecot", "dovecot_binary"]

HOST = "127.0.0.1"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
CLIENT_TIMEOUT = 10.0

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", re.IGNORECASE)


def dovecot_binary() -> str | None:
    """Path of the ``dovecot`` executable (``/usr/sbin`` is often not on PATH)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("dovecot", path=path)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    """Whether a process (not a zombie) of process group ``pgid`` still runs."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


def _parse_uid_set(text: str) -> list[int]:
    uids: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition(":")
        uids.extend(range(int(first), int(last or first) + 1))
    return uids


def _appended_uids(response: object) -> list[int]:
    # append() returns the bytes of the tagged OK; multiappend() returns
    # imaplib's ("OK", [bytes]) pair.
    if isinstance(response, tuple):
        response = b" ".join(response[1])
    assert isinstance(response, bytes), response
    match = _APPENDUID.search(response)
    if match is None:
        raise RuntimeError(f"APPEND response without APPENDUID: {response!r}")
    return _parse_uid_set(match.group(2).decode("ascii"))


class Dovecot:
    """A private Dovecot instance listening on ``host``:``port``.

    ``tmp_root`` (typically pytest's ``tmp_path``) receives a copy of the
    Dovecot log when the instance is closed; the live files are kept in a
    short directory under ``/tmp`` that is removed by :meth:`close`.
    """

    def __init__(self, tmp_root: Path, users: dict[str, str], oauth2_introspection_url: str = "",
                 oauth2_ca_file: Path | None = None) -> None:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot not found: the IMAP tests need a real Dovecot; "
                               "run `bash .ci/run` (it installs dovecot-imapd) or apt-get install dovecot-imapd")
        for name, password in users.items():
            for value in (name, password):
                if not value or any(c in value for c in ":\r\n\0"):
                    raise ValueError(f"unsupported user name or password: {value!r}")
        self.binary = binary
        self.tmp_root = Path(tmp_root)
        self.users = dict(users)
        self.oauth2_introspection_url = oauth2_introspection_url
        self.oauth2_ca_file = oauth2_ca_file
        self.host = HOST
        self.port = _free_port()

        if os.geteuid() == 0:
            for required in ("dovecot", "dovenull"):
                try:
                    pwd.getpwnam(required)
                except KeyError:
                    raise RuntimeError(
                        f"system user {required!r} missing; is dovecot-core installed?"
                    ) from None
            self.internal_user = "dovecot"
            self.internal_group = grp.getgrgid(pwd.getpwnam("dovecot").pw_gid).gr_name
            self.login_user = "dovenull"
            self.mail_uid = pwd.getpwnam("nobody").pw_uid
            self.mail_gid = grp.getgrnam("nogroup").gr_gid
        else:
            self.internal_user = pwd.getpwuid(os.getuid()).pw_name
            self.internal_group = grp.getgrgid(os.getgid()).gr_name
            self.login_user = self.internal_user
            self.mail_uid = os.getuid()
            self.mail_gid = os.getgid()

        self.dir = Path(tempfile.mkdtemp(prefix="dv", dir="/tmp"))
        self.dir.chmod(0o755)
        self.config_path = self.dir / "dovecot.conf"
        self.log_path = self.dir / "dovecot.log"
        self.stderr_path = self.dir / "stderr.log"
        self.base_dir = self.dir / "run"
        self.state_dir = self.dir / "state"
        self.mail_root = self.dir / "mail"
        self.passwd_path = self.dir / "passwd"
        for path in (self.base_dir, self.state_dir, self.mail_root):
            path.mkdir()
            path.chmod(0o755)  # independent of the umask
        os.chown(self.mail_root, self.mail_uid, self.mail_gid)

        self.passwd_path.write_text(
            "".join(f"{name}:{{PLAIN}}{pw}\n" for name, pw in self.users.items())
        )
        self.passwd_path.chmod(0o644)
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False

    # ------------------------------------------------------------------ #
    # lifecycle

    def _config(self) -> str:
        return f"""\
# generated by tests/peers/dovecot.py
base_dir = {self.base_dir}
state_dir = {self.state_dir}
log_path = {self.log_path}
instance_name = {self.dir.name}
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login{" xoauth2 oauthbearer" if self.oauth2_introspection_url else ""}
auth_verbose = yes
# answer failed logins after ~0.5 s instead of 2 s
auth_failure_delay = 0
default_internal_user = {self.internal_user}
default_internal_group = {self.internal_group}
default_login_user = {self.login_user}
first_valid_uid = {self.mail_uid}
last_valid_uid = {self.mail_uid}
first_valid_gid = {self.mail_gid}
last_valid_gid = {self.mail_gid}
mail_location = maildir:{self.mail_root}/%u
mail_plugins =

namespace inbox {{
  inbox = yes
}}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd_path}
  mechanisms = plain login
}}
{self._oauth2_passdb()}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={self.mail_root}/%u
}}

service anvil {{
  chroot =
  # mode 0 = no socket: disables the per-IP auth failure penalty, which
  # would otherwise delay every login from 127.0.0.1 by up to 15 s
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}

service stats {{
  # mail processes run as the mail uid, not in the dovecot group
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

    def _oauth2_passdb(self) -> str:
        if not self.oauth2_introspection_url:
            return ""
        settings = self.dir / "dovecot-oauth2.conf.ext"
        settings.write_text(f"""\
introspection_mode = post
introspection_url = {self.oauth2_introspection_url}
username_attribute = username
active_attribute = active
active_value = true
{f"tls_ca_cert_file = {self.oauth2_ca_file}" if self.oauth2_ca_file else ""}
""")
        settings.chmod(0o644)
        return f"""
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {settings}
}}
"""

    def start(self) -> None:
        """Start Dovecot and wait until it accepts an IMAP LOGIN."""
        if self._closed:
            raise RuntimeError("Dovecot instance already closed")
        if self._proc is not None:
            raise RuntimeError("Dovecot already running")
        self.config_path.write_text(self._config())
        with open(self.stderr_path, "ab") as stderr:
            self._proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group, see stop()
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"dovecot exited with status {self._proc.returncode}\n{self.logs()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    pass
                self._probe_login()
                return
            except Exception as exc:  # not up yet (refused, auth not ready, ...)
                last_error = exc
                time.sleep(0.05)
        raise RuntimeError(
            f"dovecot not ready on {self.host}:{self.port} after {START_TIMEOUT}s "
            f"(last error: {last_error!r})\n{self.logs()}"
        )

    def _probe_login(self) -> None:
        client = IMAPClient(self.host, self.port, ssl=False, timeout=2)
        try:
            if self.users:
                name, password = next(iter(self.users.items()))
                client.login(name, password)
            else:
                client.capabilities()
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def stop(self) -> None:
        """SIGTERM the master (SIGKILL its process group as a fallback), then
        end the mail processes that outlive it.

        A graceful Dovecot 2.3 shutdown takes about one second.  The ``imap``
        processes of connected clients survive the master's SIGTERM here, so
        a client would never notice a restart; a real server restart (systemd
        stops the whole unit) disconnects them, and so does this.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._end_process_group(proc.pid)
        self._wait_port_free()

    @staticmethod
    def _end_process_group(pgid: int, grace: float = 2.0) -> None:
        """SIGTERM what is left of the process group, then SIGKILL it."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not _group_alive(pgid):
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + grace
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def _wait_port_free(self, timeout: float = 5.0) -> None:
        """Wait until no leftover child still holds the listening socket."""
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self.host, self.port))
                    return
                except OSError:
                    if time.monotonic() >= deadline:
                        return  # let start() report the bind failure
            time.sleep(0.05)

    def restart(self) -> None:
        """Stop and start again on the same port, keeping all mail."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        """Stop the server, keep a copy of the log in ``tmp_root``, remove files."""
        if self._closed:
            return
        self.stop()
        self._closed = True
        with contextlib.suppress(OSError):
            self.tmp_root.mkdir(parents=True, exist_ok=True)
            (self.tmp_root / "dovecot.log").write_text(self.logs())
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def logs(self) -> str:
        """Dovecot's log file plus anything it printed before opening it."""
        parts = []
        for path in (self.stderr_path, self.log_path):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace")
                if text:
                    parts.append(f"--- {path.name} ---\n{text}")
        return "\n".join(parts) or "(no dovecot output)"

    # ------------------------------------------------------------------ #
    # mailbox helpers

    @contextlib.contextmanager
    def client(self, user: str) -> Iterator[IMAPClient]:
        """A logged-in ``IMAPClient`` for ``user`` (logged out on exit)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=CLIENT_TIMEOUT)
        try:
            client.login(user, self.users[user])
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        flags: Sequence[str | bytes] = (),
    ) -> int:
        """Append one message and return its UID."""
        with self.client(user) as client:
            response = client.append(folder, raw, flags=tuple(flags))
        return _appended_uids(response)[0]

    def append_many(
        self, user: str, messages: Iterable[bytes], folder: str = "INBOX"
    ) -> list[int]:
        """Append messages with one MULTIAPPEND command; return their UIDs."""
        messages = list(messages)
        if not messages:
            return []
        with self.client(user) as client:
            response = client.multiappend(folder, messages)
        uids = _appended_uids(response)
        if len(uids) != len(messages):
            raise RuntimeError(f"appended {len(messages)} messages, got UIDs {uids}")
        return uids

    def create_folder(self, user: str, name: str) -> None:
        with self.client(user) as client:
            client.create_folder(name)

    def folder_uids(self, user: str, folder: str = "INBOX") -> list[int]:
        with self.client(user) as client:
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def folder_count(self, user: str, folder: str = "INBOX") -> int:
        with self.client(user) as client:
            return int(client.select_folder(folder, readonly=True)[b"EXISTS"])

    def flags(self, user: str, folder: str, uid: int) -> set[str]:
        """Flags of one message, e.g. ``{"\\\\Seen"}``; KeyError if no such UID."""
        with self.client(user) as client:
            client.select_folder(folder, readonly=True)
            result = client.get_flags([uid])
        return {f.decode() if isinstance(f, bytes) else f for f in result[uid]}

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.client(user) as client:
            status = client.folder_status(folder, [b"UIDVALIDITY"])
        return int(status[b"UIDVALIDITY"])

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """Filesystem path of ``folder`` (Maildir++ layout, ``.`` separator)."""
        root = self.mail_root / user
        if folder.upper() == "INBOX":
            return root
        return root / ("." + imap_utf7.encode(folder).decode("ascii"))

    def reset_uidvalidity(self, user: str, folder: str = "INBOX") -> None:
        """Make ``folder`` present a new UIDVALIDITY, keeping its messages.

        Stops Dovecot, deletes the folder's ``dovecot-uidlist`` and index
        files (and the user's mailbox-list index, which caches UIDVALIDITY),
        then starts again; Dovecot rescans the maildir and assigns new UIDs
        from 1 under a new UIDVALIDITY.  The user's ``dovecot-uidvalidity*``
        counter files are kept on purpose: Dovecot allocates the new value by
        incrementing that counter, so it always differs from the old one
        (a value derived from the clock could repeat within one second).
        """
        was_running = self.running
        self.stop()
        maildir = self.maildir(user, folder)
        if not (maildir / "cur").is_dir():
            raise FileNotFoundError(f"no maildir for {user}/{folder}: {maildir}")
        doomed = [maildir / "dovecot-uidlist"]
        doomed += maildir.glob("dovecot.index*")
        doomed += (self.mail_root / user).glob("dovecot.list.index*")
        for path in doomed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if was_running:
            self.start()
