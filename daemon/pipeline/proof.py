"""What a mail proves about its sender, and where an automatic answer to it may go.

A `From:` header is only a claim. A command changes a case only when the mail proves that its
sender is the handler it claims to be, in one of two ways:

- **Authentication-Results** (RFC 8601) from our own border MTA: with `[security]
  trusted_authserv_id` set, the topmost `Authentication-Results` header carrying that
  authserv-id decides (headers with that id further down, and headers with any other id, were
  there before our border saw the mail, and are ignored). It proves the From domain with
  `dmarc=pass` for that domain, or `dkim=pass` whose `header.d` is aligned with it (the same
  domain or a parent of it). The border must add its header to every mail it accepts, and should
  remove any that arrive with its own id (OpenDKIM and OpenDMARC do both).
- **The handler's command address**: every mail we send to a handler about a case carries a
  `Reply-To` of our own address with a plus-part holding an HMAC of the handler and the case
  (`registry.tokens`). A mail sent to it from that handler's From address proves that its sender
  reads the handler's mail; a stranger cannot make one.

Either way the From header must hold exactly one mailbox that parses strictly (no control
characters once encoded words are decoded: `rfc5322.read_mailbox`).
"""

from __future__ import annotations

from dataclasses import dataclass

import authres

_HEADER = "authentication-results"


@dataclass(frozen=True)
class Proof:
    """How MAIL's sender is proven (`how`), or why it is not (`problem`)."""

    how: str = ""
    problem: str = ""

    def __bool__(self) -> bool:
        return bool(self.how)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def aligned(signing_domain: str, from_domain: str) -> bool:
    """DMARC's relaxed alignment: the From domain is the signing domain or below it."""
    d = signing_domain.lower().strip(".")
    return bool(d) and "." in d and (from_domain == d or from_domain.endswith("." + d))


def authentication_results(mail, trusted_id: str) -> Proof:
    """What our border's Authentication-Results header says of MAIL's From domain."""
    if not trusted_id:
        return Proof(problem="no [security] trusted_authserv_id is configured")
    domain = domain_of(mail.from_addr)
    for name, value in mail.headers:
        if name.lower() != _HEADER:
            continue
        try:
            header = authres.AuthenticationResultsHeader.parse_value(value)
        except Exception:
            continue  # unreadable, so not one our border wrote
        if (header.authserv_id or "").lower() != trusted_id.lower():
            continue
        return _verdict(header, domain)  # the topmost with our id decides; the rest are ignored
    return Proof(problem=f"no Authentication-Results header from {trusted_id}")


def _verdict(header, domain: str) -> Proof:
    for result in header.results:
        method, outcome = (result.method or "").lower(), (result.result or "").lower()
        props = {f"{p.type}.{p.name}".lower(): (p.value or "").lower() for p in (result.properties or [])}
        if method == "dmarc" and outcome == "pass" and props.get("header.from", domain) == domain:
            return Proof(how=f"{header.authserv_id}: dmarc=pass for {domain}")
        if method == "dkim" and outcome == "pass" and aligned(props.get("header.d", ""), domain):
            return Proof(how=f"{header.authserv_id}: dkim=pass header.d={props['header.d']}")
    return Proof(problem=f"{header.authserv_id} does not say dmarc=pass or aligned dkim=pass for {domain}")


def command_address(mail, tokens, case_id: str) -> Proof:
    """Whether MAIL was sent to its From address's command address for CASE_ID."""
    for rcpt in (*mail.envelope_rcpts, *mail.to, *mail.cc):
        if tokens.command_case(rcpt, mail.from_addr) == case_id:
            return Proof(how="sent to the handler's command address")
    return Proof(problem="not sent to the handler's command address")


def prove(mail, config, tokens, case_id: str) -> Proof:
    """Whether MAIL proves that its From address sent it (see the module's docstring)."""
    if mail.from_problem or not mail.from_addr:
        return Proof(problem=f"From does not hold exactly one valid address ({mail.from_problem or 'none'})")
    by_header = authentication_results(mail, config.security.trusted_authserv_id)
    if by_header:
        return by_header
    by_address = command_address(mail, tokens, case_id)
    if by_address:
        return by_address
    return Proof(problem=f"{by_header.problem}; {by_address.problem}")


def reply_address(mail) -> str:
    """The one address an automatic answer to MAIL goes to: its From address, or its Reply-To
    where that is in the From address's own domain (never an address in another domain that a
    sender named to have our mail sent there)."""
    if mail.reply_to and mail.from_addr and domain_of(mail.reply_to) == domain_of(mail.from_addr):
        return mail.reply_to
    return mail.from_addr
