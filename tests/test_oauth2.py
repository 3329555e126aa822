"""Microsoft 365 mailboxes and relay over OAuth 2.0 (issue 30), against real servers on loopback:
a local token endpoint for the client-credentials grant and an RFC 7662 introspection endpoint
over HTTPS with a test CA (tests/peers/oauth.py), Dovecot with an `oauth2` passdb validating
XOAUTH2 logins there, and an aiosmtpd relay taking AUTH XOAUTH2 after STARTTLS.

The mailbox is read and its mail stored once; a token that expires is fetched anew before the
reconnect and a token the server refuses is fetched anew once, without losing a message; a
revoked client fails its mailbox alone (stats, metrics, /healthz, one log line, the handlers told
once) while another goes on; the relay takes mail by XOAUTH2; no token or secret is in any log
line; check-config names a missing secret by key and line; `sakspost mailbox test NAME` says in
one line what worked or what the server answered."""

from __future__ import annotations

import base64
import ssl
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import Relay, free_port, incident_mail, wait_until

from tests.peers.dovecot import Dovecot
from tests.peers.oauth import SCOPE, OAuthServer
from tests.test_imap import mailbox_stats, stored, wait_mailbox
from tests.test_watch import get

HANDLER = "drift@sykehus.example"


@pytest.fixture
def auth(monkeypatch):
    """The token and introspection endpoints, one client per mailbox; the daemon trusts its CA."""
    clients = {f"app-{name}": (f"secret-{name}-{i}x9Q", name) for i, name in enumerate(("alpha", "beta", "relay"))}
    with OAuthServer(clients) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
        yield server


@pytest.fixture
def dovecot(auth, tmp_path):
    with Dovecot(tmp_path / "dovecot", {"alpha": "pw-alpha", "beta": "pw-beta"},
                 oauth2_introspection_url=auth.introspection_url, oauth2_ca_file=auth.ca_file) as server:
        yield server


def oauth_mailbox(server: Dovecot, auth: OAuthServer, user: str, directory: Path, **overrides) -> dict:
    """A [[mailbox]] logging in to USER by XOAUTH2 as client app-USER, its secret in a file."""
    secret = directory / f"{user}.secret"
    secret.write_text(auth.clients[f"app-{user}"]["secret"] + "\n")
    return {"name": user, "host": server.host, "port": server.port, "tls": "none", "username": user,
            "auth": "xoauth2", "oauth2_token_url": auth.token_url, "oauth2_client_id": f"app-{user}",
            "oauth2_client_secret_file": str(secret), "oauth2_scope": SCOPE, **overrides}


def assert_nothing_secret_logged(d, auth: OAuthServer) -> None:
    log = d.log()
    assert auth.issued, "no token was issued"
    for token in auth.issued:
        assert token not in log
    for client in auth.clients.values():
        assert client["secret"] not in log


def test_mailbox_is_read_over_xoauth2_and_its_mail_stored_once(auth, dovecot, sakspost, tmp_path):
    d = sakspost({"mailbox": [oauth_mailbox(dovecot, auth, "alpha", tmp_path)]})
    wait_mailbox(d, "alpha", state="idle")
    dovecot.append("alpha", incident_mail(subject="Kom via Microsoft 365"))
    wait_until(lambda: stored(d, "imap:alpha") == 1, 10, what="the mail stored")
    assert d.wait_cases(1)[0]["subject"] == "Kom via Microsoft 365"
    time.sleep(1.5)  # a second look finds nothing new
    assert stored(d) == 1 and dovecot.folder_count("alpha") == 1
    assert "\\Seen" in dovecot.flags("alpha", "INBOX", dovecot.folder_uids("alpha")[0])
    assert auth.fetches_by("app-alpha") == 1
    assert "method=XOAUTH2" in dovecot.logs()

    out = d.cli("mailbox", "test", "alpha")
    assert out.stdout.decode().splitlines() == [
        f"alpha: OK: logged in to 127.0.0.1:{dovecot.port} as alpha by XOAUTH2 with a token from {auth.token_url}"]
    assert_nothing_secret_logged(d, auth)


def test_mailbox_test_says_in_one_line_what_the_server_answered(auth, dovecot, sakspost, tmp_path, monkeypatch):
    d = sakspost({"mailbox": [oauth_mailbox(dovecot, auth, "alpha", tmp_path),
                              oauth_mailbox(dovecot, auth, "beta", tmp_path)]}, start=False)
    auth.revoke("app-beta")
    out = d.cli("mailbox", "test", "beta", check=False)
    assert out.returncode == 1
    assert out.stdout.decode().splitlines() == [
        f"beta: FAILED: token endpoint {auth.token_url} refused the client 'app-beta': "
        "invalid_client: AADSTS7000215: Invalid client secret provided."]

    out = d.cli("mailbox", "test", "nosuch", check=False)
    assert out.returncode == 2 and "no [[mailbox]] named 'nosuch'" in out.stderr.decode()

    # the token endpoint's certificate is checked: without the test CA it is not trusted
    monkeypatch.delenv("SSL_CERT_FILE")
    out = d.cli("mailbox", "test", "alpha", check=False)
    assert out.returncode == 1
    line, = out.stdout.decode().splitlines()
    assert line.startswith(f"alpha: FAILED: cannot reach token endpoint {auth.token_url}: certificate not accepted")
    assert auth.fetches_by("app-alpha") == 0  # the secret never went to an untrusted server


def test_a_token_that_expires_is_fetched_anew_before_the_reconnect(auth, dovecot, sakspost, tmp_path):
    auth.lifetime = 3.0  # renewed after half of it
    d = sakspost({"mailbox": [oauth_mailbox(dovecot, auth, "alpha", tmp_path)]})
    wait_mailbox(d, "alpha", state="idle")
    dovecot.append("alpha", incident_mail(subject="Før utløpet"))
    wait_until(lambda: stored(d) == 1, 10, what="the first mail")
    assert auth.fetches_by("app-alpha") == 1
    time.sleep(3.5)  # the token has expired; the session it opened goes on

    dovecot.stop()
    dovecot.start()
    dovecot.append("alpha", incident_mail(subject="Etter utløpet"))
    wait_until(lambda: stored(d) == 2, 20, what="the mail after the reconnect")
    assert auth.fetches_by("app-alpha") == 2
    assert "refused the access token" not in d.log()  # fetched before it was needed, not after a refusal
    assert sorted(c["subject"] for c in d.wait_cases(2)) == ["Etter utløpet", "Før utløpet"]
    assert_nothing_secret_logged(d, auth)


def test_a_token_the_server_refuses_is_fetched_anew_once_and_no_mail_is_lost(auth, dovecot, sakspost, tmp_path):
    d = sakspost({"mailbox": [oauth_mailbox(dovecot, auth, "alpha", tmp_path)]})
    wait_mailbox(d, "alpha", state="idle")
    auth.forget_tokens()  # the cached token still looks fresh to the daemon; the server no longer takes it
    dovecot.stop()
    dovecot.start()
    dovecot.append("alpha", incident_mail(subject="Etter ny token"))
    wait_until(lambda: stored(d) == 1, 20, what="the mail after the token was refused")
    assert auth.fetches_by("app-alpha") == 2
    assert "mailbox alpha: the server refused the access token; fetching a new one" in d.log()
    assert mailbox_stats(d, "alpha")["state"] == "idle"
    assert_nothing_secret_logged(d, auth)


def refusal_notices(relay) -> list[dict]:
    return [m for m in relay.messages if str(m["msg"]["Subject"]) == "Postkassen beta kan ikke leses: innloggingen avvises"]


def test_a_revoked_client_fails_its_mailbox_alone_and_the_handlers_are_told_once(auth, dovecot, sakspost,
                                                                                 tmp_path, relay):
    metrics = f"127.0.0.1:{free_port()}"
    d = sakspost({"mailbox": [oauth_mailbox(dovecot, auth, "alpha", tmp_path),
                              oauth_mailbox(dovecot, auth, "beta", tmp_path)],
                  "relay": {"host": "127.0.0.1", "port": relay.port, "starttls": False},
                  "identity": {"actor": "sykehus"},
                  "actor": [{"id": "sykehus", "name": "Sykehuset", "kind": "source", "handlers": [HANDLER],
                             "local_support": "it@sykehus.example"}],
                  "metrics": {"listen": metrics}})
    wait_mailbox(d, "alpha", state="idle")
    wait_mailbox(d, "beta", state="idle")
    auth.revoke("app-beta")
    dovecot.stop()  # both reconnect: beta's token is no longer active, nor can it get a new one
    dovecot.start()

    beta = wait_until(lambda: "invalid_client" in (s := mailbox_stats(d, "beta")).get("last_error", "") and s,
                      20, interval=0.2, what=f"beta refused\n{d.log()[-3000:]}")
    assert beta["state"] == "failing"
    assert f"token endpoint {auth.token_url} refused the client 'app-beta': invalid_client" in beta["last_error"]
    notices = wait_until(lambda: refusal_notices(relay), 10, what="the handlers told")
    assert [m["rcpt_tos"] for m in notices] == [[HANDLER]]
    assert "invalid_client" in notices[0]["msg"].get_body(("plain",)).get_content()

    dovecot.append("alpha", incident_mail(subject="Alpha går videre"))
    wait_until(lambda: stored(d, "imap:alpha") == 1, 10, what="alpha still ingesting")
    time.sleep(4)  # beta retries after 1, 2 and 4 s: still refused
    assert len(refusal_notices(relay)) == 1
    refused_lines = [line for line in d.log().splitlines() if "mailbox beta:" in line and "invalid_client" in line]
    assert len(refused_lines) == 1, refused_lines
    assert (mailbox_stats(d, "alpha")["state"], mailbox_stats(d, "beta")["state"]) == ("idle", "failing")

    status, body = get(f"http://{metrics}/healthz")
    assert status == 503 and '"mailbox beta": "failing: token endpoint' in body and "mailbox alpha" not in body
    _, text = get(f"http://{metrics}/metrics")
    assert 'sakspost_mailbox_lag_seconds{mailbox="beta"}' in text
    assert 'sakspost_mailbox_lag_seconds{mailbox="alpha"} 0.0' in text
    assert_nothing_secret_logged(d, auth)


class OAuthRelay(Relay):
    """The relay as Exchange Online's submission: STARTTLS required, then AUTH XOAUTH2 with a
    token the authorization server says is active for that sender."""

    def __init__(self, auth: OAuthServer):
        super().__init__()
        self.auth = auth
        self.refused = 0

    async def auth_XOAUTH2(self, server, args):
        data = base64.b64decode(args[1]) if len(args) == 2 else await server.challenge_auth("")
        fields = dict(part.split("=", 1) for part in data.decode().split("\x01") if "=" in part)
        token = fields.get("auth", "").removeprefix("Bearer ")
        if self.auth.username_of(token) == fields.get("user"):
            return AuthResult(success=True, auth_data=fields["user"])
        self.refused += 1
        await server.challenge_auth('{"status":"401","schemes":"bearer","scope":"' + SCOPE + '"}')
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        self.messages[-1]["auth"] = session.auth_data
        return answer

    def start(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.auth.cert_file, self.auth.key_file)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, tls_context=context,
                                     require_starttls=True, auth_required=True, auth_require_tls=True)
        self.controller.start()
        return self


def test_the_relay_takes_mail_with_xoauth2_after_starttls(auth, sakspost, tmp_path):
    relay = OAuthRelay(auth).start()
    try:
        secret = tmp_path / "relay.secret"
        secret.write_text(auth.clients["app-relay"]["secret"])
        auth.clients["app-relay"]["username"] = "relay@sykehus.example"
        d = sakspost({"relay": {"host": "127.0.0.1", "port": relay.port, "starttls": True, "auth": "xoauth2",
                                "username": "relay@sykehus.example", "oauth2_token_url": auth.token_url,
                                "oauth2_client_id": "app-relay", "oauth2_client_secret_file": str(secret),
                                "oauth2_scope": SCOPE}})
        d.send(incident_mail(subject="Sendes ut med XOAUTH2"))
        first = relay.wait_for(1)[0]
        assert first["auth"] == "relay@sykehus.example" and first["rcpt_tos"] == ["kari.nordmann@sykehus.example"]

        auth.forget_tokens()  # the relay no longer takes the cached token: fetched anew once, then sent
        d.send(incident_mail(subject="Andre melding"))
        relay.wait_for(2)
        assert relay.refused == 1 and auth.fetches_by("app-relay") == 2
        assert all(m["auth"] == "relay@sykehus.example" for m in relay.messages)
        assert_nothing_secret_logged(d, auth)
    finally:
        relay.stop()


def test_check_config_names_a_missing_secret_by_key_and_line(auth, sakspost, tmp_path):
    d = sakspost({"mailbox": [{"name": "m365", "host": "outlook.office365.com", "username": "postmottak@sykehus.no",
                               "auth": "xoauth2", "oauth2_token_url": auth.token_url, "oauth2_client_id": "app",
                               "oauth2_client_secret_file": str(tmp_path / "missing.secret"),
                               "oauth2_scope": SCOPE}]}, start=False)
    line = next(n for n, text in enumerate(d.config_path.read_text().splitlines(), 1)
                if text.startswith("oauth2_client_secret_file"))
    out = d.cli("check-config", check=False)
    assert out.returncode == 2
    assert (f"{d.config_path} line {line}: [[mailbox]] m365.oauth2_client_secret_file: cannot read "
            f"'{tmp_path / 'missing.secret'}': No such file or directory") in out.stderr.decode()

    incomplete = sakspost({"mailbox": [{"name": "m365", "host": "outlook.office365.com", "username": "x@sykehus.no",
                                        "auth": "xoauth2", "oauth2_token_url": "http://login.example/token",
                                        "oauth2_client_id": "app", "oauth2_client_secret_file": "m365.secret",
                                        "oauth2_scope": SCOPE}]}, start=False)
    out = incomplete.cli("check-config", check=False)
    assert out.returncode == 2 and "[[mailbox]][0].oauth2_token_url: 'http://login.example/token' is not an https://" \
        in out.stderr.decode()
