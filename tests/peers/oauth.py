"""A throw-away OAuth 2.0 authorization server for integration tests: a token endpoint for the
client-credentials grant (RFC 6749 4.4) and a token-introspection endpoint (RFC 7662), as
Microsoft's identity platform and an `oauth2` passdb of Dovecot see them.

It listens on 127.0.0.1 on a free port, over HTTPS with a certificate of its own test CA
(`ca_file`: the daemon trusts it by `SSL_CERT_FILE`, Dovecot by `tls_ca_cert_file`). Clients are registered with a secret
and the one mailbox their token may log in to (Dovecot's `username_attribute`); a test can make
tokens short-lived, forget every token issued so far, or revoke a client::

    with OAuthServer({"app": ("s3cret", "alice")}) as auth:
        auth.token_url, auth.introspection_url, auth.ca_file
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

HOST = "127.0.0.1"
SCOPE = "https://outlook.office365.com/.default"


def make_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 signed by it (openssl's command line):
    (ca.pem, server.pem, server.key)."""
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                   "basicConstraints=CA:FALSE\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), "-days", "2", "-subj", "/CN=sakspost test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


class OAuthServer:
    """Token and introspection endpoints; CLIENTS is {client_id: (secret, username)}."""

    def __init__(self, clients: dict[str, tuple[str, str]], lifetime: float = 3600.0):
        # under /tmp and world-readable: Dovecot's auth process (another user, as root) reads the CA
        self.dir = Path(tempfile.mkdtemp(prefix="oa", dir="/tmp"))
        self.dir.chmod(0o755)
        self.ca_file, self.cert_file, self.key_file = make_ca(self.dir)
        self.ca_file.chmod(0o644)
        self.clients = {cid: {"secret": s, "username": u, "revoked": False} for cid, (s, u) in clients.items()}
        self.lifetime = lifetime
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (client_id, expires at)
        self.issued: list[str] = []  # every token handed out, for "never in a log"
        self.fetches: list[str] = []  # the client id of every token request, refused ones too
        self.introspections = 0
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []

    # -- what a test changes
    def revoke(self, client_id: str) -> None:
        """The client's secret is revoked: no more tokens, and its tokens are no longer active."""
        with self._lock:
            self.clients[client_id]["revoked"] = True

    def forget_tokens(self) -> None:
        """Every token issued so far is inactive from now on (the clients may fetch new ones)."""
        with self._lock:
            self.tokens.clear()

    def username_of(self, token: str) -> str | None:
        """Whom an active TOKEN may log in as; None for an unknown, expired or revoked one."""
        with self._lock:
            client_id, expires = self.tokens.get(token, (None, 0.0))
            if client_id is None or time.time() >= expires or self.clients[client_id]["revoked"]:
                return None
            return self.clients[client_id]["username"]

    def fetches_by(self, client_id: str) -> int:
        return self.fetches.count(client_id)

    # -- the endpoints
    def _token(self, form: dict, headers) -> tuple[int, dict]:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        with self._lock:
            self.fetches.append(client_id)
            client = self.clients.get(client_id)
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}
            if client is None or client["revoked"] or not secrets.compare_digest(client["secret"], secret):
                return 401, {"error": "invalid_client",
                             "error_description": "AADSTS7000215: Invalid client secret provided."}
            if form.get("scope") != SCOPE:
                return 400, {"error": "invalid_scope", "error_description": f"scope {form.get('scope')!r}"}
            token = secrets.token_urlsafe(32)
            self.tokens[token] = (client_id, time.time() + self.lifetime)
            self.issued.append(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}

    def _introspect(self, form: dict) -> tuple[int, dict]:
        self.introspections += 1
        username = self.username_of(form.get("token", ""))
        return 200, ({"active": True, "username": username} if username else {"active": False})

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path == "/token":
                    status, body = server._token(form, self.headers)
                elif self.path == "/introspect":
                    status, body = server._introspect(form)
                else:
                    status, body = 404, {"error": "not_found"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):
                pass

        return Handler

    # -- lifecycle
    def start(self) -> OAuthServer:
        https = ThreadingHTTPServer((HOST, 0), self._handler())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        https.socket = context.wrap_socket(https.socket, server_side=True)
        https.daemon_threads = True
        self._servers = [https]
        threading.Thread(target=https.serve_forever, daemon=True).start()
        self.port = https.server_address[1]
        return self

    @property
    def token_url(self) -> str:
        return f"https://{HOST}:{self.port}/token"

    @property
    def introspection_url(self) -> str:
        return f"https://{HOST}:{self.port}/introspect"

    def stop(self) -> None:
        for s in self._servers:
            s.shutdown()
            s.server_close()
        self._servers = []
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> OAuthServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
