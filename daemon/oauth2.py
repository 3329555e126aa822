"""OAuth 2.0 access tokens for SASL `XOAUTH2` logins (Microsoft 365's IMAP and SMTP).

Decides when a token is fetched: once, then again only shortly before it expires (`EARLY`
seconds, at most half its lifetime), or when the server refused it (`Tokens.refused`: the next
`token()` fetches anew). Tokens come from the client-credentials grant at the configured token
URL, by authlib's OAuth 2.0 client over httpx2, over HTTPS with the certificate checked against
the system's authorities (or those in `SSL_CERT_FILE`, as OpenSSL reads it). A token or a
client secret is never put into a log line or an error: an error says what the endpoint
answered (its `error` and `error_description`), or why it could not be reached.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from dataclasses import dataclass

from .config import ConfigError

# httpx2 (once imported) writes a line for every request; a refused client retried is not news
# each time (our own line says what the endpoint answered)
logging.getLogger("httpx2").setLevel(logging.WARNING)

EARLY = 300.0  # a token is renewed this long before it expires (at most half its lifetime)
TIMEOUT_SECONDS = 30.0


class TokenError(Exception):
    """No token could be had: the endpoint is unreachable or answered with an error."""


class ClientRefused(TokenError):
    """The token endpoint refused this client (`invalid_client`, `unauthorized_client`, a
    revoked or expired secret): it will not mend itself, an operator must act."""


@dataclass(frozen=True)
class Grant:
    """What a client-credentials grant needs; SECRET reads the client secret when it is needed."""

    token_url: str
    client_id: str
    scope: str
    secret: object  # () -> str
    where: str  # "[[mailbox]] NAME" or "[relay]", for messages


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64), as Google and Microsoft document it."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


class Tokens:
    """One grant's token, cached; safe to use from several threads."""

    def __init__(self, grant: Grant):
        self.grant = grant
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.fetched = 0  # how many tokens this process fetched (for `mailbox test` and tests)

    def token(self) -> str:
        """A token that has not expired: the cached one, else a new one. Raises TokenError."""
        with self._lock:
            if self._token is None or time.time() >= self._renew_at:
                self._token, self._renew_at = self._fetch()
                self.fetched += 1
            return self._token

    def refused(self) -> None:
        """The server refused the current token: forget it, so the next `token()` fetches anew."""
        with self._lock:
            self._token, self._renew_at = None, 0.0

    def _fetch(self) -> tuple[str, float]:
        # imported here: authlib and httpx2 weigh about 25 MB in each process, and only a daemon
        # with an xoauth2 mailbox or relay fetches a token at all
        import httpx2
        from authlib.integrations.base_client.errors import OAuthError
        from authlib.integrations.httpx_client import OAuth2Client

        g = self.grant
        try:
            secret = g.secret()
        except ConfigError as exc:
            raise TokenError(str(exc)) from None
        try:
            with OAuth2Client(g.client_id, secret, scope=g.scope, token_endpoint_auth_method="client_secret_post",
                              verify=ssl.create_default_context(), timeout=TIMEOUT_SECONDS) as client:
                token = client.fetch_token(g.token_url, grant_type="client_credentials")
        except OAuthError as exc:
            said = exc.error + (f": {exc.description}" if exc.description else "")
            kind = ClientRefused if exc.error in ("invalid_client", "unauthorized_client", "invalid_grant",
                                                  "invalid_scope", "access_denied") else TokenError
            raise kind(f"token endpoint {g.token_url} refused the client {g.client_id!r}: {said}") from None
        except httpx2.HTTPStatusError as exc:
            raise TokenError(f"token endpoint {g.token_url} answered HTTP {exc.response.status_code}") from None
        except httpx2.HTTPError as exc:
            reason = _reason(exc)
            raise TokenError(f"cannot reach token endpoint {g.token_url}: {reason}") from None
        except ValueError as exc:  # a body that is not JSON
            raise TokenError(f"token endpoint {g.token_url} answered something that is not a token: "
                             f"{type(exc).__name__}") from None
        access = token.get("access_token")
        if not access:
            raise TokenError(f"token endpoint {g.token_url} answered without an access_token")
        now = time.time()
        lifetime = float(token.get("expires_at", now + 3600)) - now
        return access, now + max(lifetime - min(EARLY, lifetime / 2), 0.0)


def _reason(exc) -> str:
    """Why EXC, an httpx2.HTTPError, failed: a certificate not accepted, or what it says."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not isinstance(cause, ssl.SSLError) and (cause.__cause__ or cause.__context__):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"certificate not accepted ({cause.verify_message})"
    return str(exc) or type(exc).__name__


_SOURCES: dict[tuple, Tokens] = {}
_SOURCES_LOCK = threading.Lock()


def tokens_for(login) -> Tokens:
    """The one `Tokens` of this process for LOGIN, a `[[mailbox]]` or the `[relay]` with
    `auth = "xoauth2"` (one for each mailbox, one for the relay)."""
    grant = Grant(login.oauth2_token_url, login.oauth2_client_id, login.oauth2_scope,
                  login.oauth2_client_secret, login.where())
    key = (grant.token_url, grant.client_id, grant.scope, grant.where)
    with _SOURCES_LOCK:
        if key not in _SOURCES:
            _SOURCES[key] = Tokens(grant)
        return _SOURCES[key]
