"""Our Message-IDs, and recognising them in replies.

Decides what makes a Message-ID ours. Each carries the case id and an HMAC of that case id under
a local secret: `<SAK-2026-000001.k3j2...r8.7f9a...@domain>`. A reply whose In-Reply-To or
References carries such an id is threaded to that case; a stranger who has not seen our mail
cannot make one for another case.

Decides, too, what makes an address a handler's command address: our own address with a
plus-part carrying the case and an HMAC of the handler and the case,
`brukerstotte+sak-2026-000001.4be1...@domain`. It is handed out only in mail to that handler,
so a command sent to it proves that its sender reads the handler's mail.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_OURS = re.compile(r"^(SAK-\d{4}-\d{6})\.([0-9a-z]+)\.([0-9a-f]{20})@(.+)$")
_COMMAND = re.compile(r"^[^@+]+\+(sak-\d{4}-\d{6})\.([0-9a-f]{20})@(.+)$", re.IGNORECASE)


class Tokens:
    def __init__(self, secret: bytes | None, domain: str):
        """SECRET None: a command that only reads, before any daemon made the secret; it makes and
        checks no token."""
        self._given = secret
        self.domain = domain

    @property
    def _secret(self) -> bytes:
        if self._given is None:
            raise RuntimeError("no token secret: a command that only reads makes and checks no token")
        return self._given

    def _mac(self, case_id: str) -> str:
        return hmac.new(self._secret, case_id.encode(), hashlib.sha256).hexdigest()[:20]

    def message_id(self, case_id: str | None) -> str:
        """A fresh Message-ID (without <>) for a mail about CASE_ID."""
        nonce = secrets.token_hex(8)
        if case_id is None:
            return f"sakspost.{nonce}@{self.domain}"
        return f"{case_id}.{nonce}.{self._mac(case_id)}@{self.domain}"

    def case_of(self, message_id: str) -> str | None:
        """The case a Message-ID of ours belongs to, if its token is genuine."""
        m = _OURS.match(message_id or "")
        if not m:
            return None
        case_id, _, mac = m.group(1), m.group(2), m.group(3)
        return case_id if hmac.compare_digest(mac, self._mac(case_id)) else None

    def _command_mac(self, handler: str, case_id: str) -> str:
        key = f"command\0{handler.lower()}\0{case_id.upper()}".encode()
        return hmac.new(self._secret, key, hashlib.sha256).hexdigest()[:20]

    def command_address(self, base: str, handler: str, case_id: str) -> str:
        """The address HANDLER sends commands on CASE_ID to: BASE (our own address) with a plus-part."""
        local, _, domain = base.rpartition("@")
        return f"{local}+{case_id.lower()}.{self._command_mac(handler, case_id)}@{domain}"

    def command_case(self, address: str, handler: str) -> str | None:
        """The case ADDRESS is HANDLER's command address for, if it is one of ours and genuine."""
        m = _COMMAND.match((address or "").strip())
        if not m or not handler:
            return None
        case_id, mac = m.group(1).upper(), m.group(2).lower()
        return case_id if hmac.compare_digest(mac, self._command_mac(handler, case_id)) else None
