"""What a mail proves about its sender, and where an automatic answer to it may go.

A `From:` header is only a claim. A command changes a case only when the mail proves that its
sender is the handler it claims to be, in one of two ways:

- **Authentication-Results** (RFC 8601) from our own border MTA, with `[security]
  trusted_authserv_id` set. Only the form our border writes can prove: a field
  `Authentication-Results: <our id>;` with the id first on its first line (folding after the
  `;`, as OpenDKIM does, is fine), read as written (`ParsedMail.authentication_results`: the
  name as spelled, the value folded and not decoded). The topmost such field decides; fields
  in that form further down, and fields with any other id, were there before our border saw
  the mail and are ignored. It proves the From domain with `dmarc=pass` whose `header.from` is
  that domain (a `dmarc=pass` naming no `header.from` is no proof), or `dkim=pass` whose
  `header.d` is aligned with it (the same domain or a parent of it). A `dmarc` result other
  than `pass` or `none` (`fail` above all), or one whose `header.from` is missing or another
  domain, means the header proves nothing at all, whatever `dkim` result stands beside it: the
  border judged the mail, or another From than ours, and did not pass it.
- **The handler's command address**: every mail we send to a handler about a case carries a
  `Reply-To` of our own address with a plus-part holding an HMAC of the handler and the case
  (`registry.tokens`). A mail sent to it from that handler's From address proves that its sender
  reads the handler's mail; a stranger cannot make one.

**The proof fails closed.** Our authserv-id is looked for in every spelling RFC 8601 and RFC
5322 allow: after a comment or folding, with white space before the colon of the name, in an
RFC 2047 encoded word (the id or the whole value), as a quoted string, in a field that begins
after a bare CR (the stdlib's parser starts a field there; a border filter sees one line). An
Authentication-Results field that carries our id in any other form than the one above, or
that cannot be read while it may carry our id, or a field in our form that cannot be read, is
a forgery attempt (`Proof.forged` says which): wherever it stands, the mail proves nothing,
neither by a header nor by the command address, and the decision never passes to another
field. Our border removes every Authentication-Results field that arrives from outside
(README: the border example), so such a field reaches us only from someone trying.

Either way the From header must hold exactly one mailbox that parses strictly (no control
characters once encoded words are decoded: `rfc5322.read_mailbox`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.header import decode_header, make_header

import authres

_NAME = "authentication-results"
_FOLD = re.compile(r"\r\n|\r|\n")
_QUOTED_PAIR = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Proof:
    """How MAIL's sender is proven (`how`), or why it is not (`problem`); `forged` describes an
    Authentication-Results field that spells our authserv-id as our border never writes it
    (a forgery attempt, for the caller to audit), else ""."""

    how: str = ""
    problem: str = ""
    forged: str = ""
    dmarc_failed: bool = False  # our border said dmarc=fail for the From domain (a forged sender)

    def __bool__(self) -> bool:
        return bool(self.how)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def aligned(signing_domain: str, from_domain: str) -> bool:
    """DMARC's relaxed alignment: the From domain is the signing domain or below it."""
    d = signing_domain.lower().strip(".")
    return bool(d) and "." in d and (from_domain == d or from_domain.endswith("." + d))


def authentication_results(mail, trusted_id: str) -> Proof:
    """What our border's Authentication-Results header says of MAIL's From domain (see the
    module's docstring): every field is looked at, so that a forged one anywhere is found."""
    if not trusted_id:
        return Proof(problem="no [security] trusted_authserv_id is configured")
    ours = trusted_id.strip().lower()
    canonical = re.compile(rf"{_NAME}:[ \t]*{re.escape(ours)};", re.IGNORECASE)
    decides = None
    for field in getattr(mail, "authentication_results", ()):
        if not canonical.match(field):
            forged = _forgery(field, ours)
            if forged:
                return _forged(forged)
            continue  # another border's header, with no spelling of our id: ignored
        value = _FOLD.sub("", field.partition(":")[2]).strip()
        if "=?" in value:
            return _forged(f"Authentication-Results from {ours} holding an encoded word")
        try:
            header = authres.AuthenticationResultsHeader.parse_value(value)
        except Exception:
            return _forged(f"an unreadable Authentication-Results from {ours}")
        if (header.authserv_id or "").lower() != ours:
            return _forged(f"an unreadable Authentication-Results from {ours}")
        if decides is None:
            decides = header  # the topmost in our form decides; the rest are ignored
    if decides is None:
        return Proof(problem=f"no Authentication-Results header from {ours}")
    return _verdict(decides, domain_of(mail.from_addr))


def _forged(description: str) -> Proof:
    return Proof(problem=f"forged Authentication-Results ({description}): the mail proves nothing",
                 forged=description)


def _forgery(field: str, ours: str) -> str:
    """What FIELD, not in the form our border writes, does with our id OURS, or "" when it
    carries no spelling of it (another border's header)."""
    name, _, value = field.partition(":")
    readings = [_FOLD.sub("", value).strip()]
    for _ in range(3):  # an encoded word, and one inside one
        if "=?" not in readings[-1]:
            break
        try:
            readings.append(str(make_header(decode_header(readings[-1]))).strip())
        except Exception:
            break
    readings += [_QUOTED_PAIR.sub(r"\1", r) for r in readings if "\\" in r]
    ours_in = re.compile(rf"(?<![a-z0-9.-]){re.escape(ours)}(?![a-z0-9-]|\.[a-z0-9-])", re.IGNORECASE)
    unreadable = False
    for reading in readings:
        try:
            header = authres.AuthenticationResultsHeader.parse_value(reading)
        except Exception:
            unreadable = unreadable or bool(ours_in.search(reading))
            continue
        if (header.authserv_id or "").strip('"').lower() == ours or ours_in.search(reading.split(";", 1)[0]):
            return f"Authentication-Results with {ours} {_spelling(field, name, value)}"
    return f"an unreadable Authentication-Results that may carry {ours}" if unreadable else ""


def _spelling(field: str, name: str, value: str) -> str:
    start = value.lstrip(" \t")
    if field.startswith("\r"):
        return "after a bare CR, inside the header above it"
    if name != name.rstrip():
        return "and white space before the colon"
    if "=?" in value:
        return "in an encoded word"
    if start[:1] in ("\r", "\n"):
        return "folded before the id"
    if start.startswith("("):
        return "after a comment"
    if start.startswith('"'):
        return "as a quoted string"
    return "in a form our border does not write"


def _values(result, name: str) -> list[str]:
    """RESULT's values of the property NAME (`header.from`), lower case."""
    return [(p.value or "").strip().lower() for p in (result.properties or [])
            if f"{p.type}.{p.name}".lower() == name]


def _verdict(header, domain: str) -> Proof:
    """What HEADER, in our form and from our id, proves of DOMAIN (see the module's docstring)."""
    ours = header.authserv_id
    dmarc = [r for r in header.results if (r.method or "").lower() == "dmarc"]
    for result in dmarc:
        outcome, froms = (result.result or "").lower(), _values(result, "header.from")
        if outcome not in ("pass", "none"):
            return Proof(problem=f"{ours}: dmarc={outcome}, which is never proof, whatever else it says",
                         dmarc_failed=outcome == "fail" and froms == [domain])
        if not froms:
            return Proof(problem=f"{ours}: dmarc={outcome} names no header.from")
        if any(f != domain for f in froms):
            return Proof(problem=f"{ours}: dmarc={outcome} is for header.from={','.join(froms)}, not {domain}")
    if any((r.result or "").lower() == "pass" for r in dmarc):
        return Proof(how=f"{ours}: dmarc=pass for {domain}")
    for result in header.results:
        if (result.method or "").lower() == "dkim" and (result.result or "").lower() == "pass":
            signers = _values(result, "header.d")
            if signers and all(aligned(d, domain) for d in signers):
                return Proof(how=f"{ours}: dkim=pass header.d={signers[0]}")
    return Proof(problem=f"{ours} does not say dmarc=pass or aligned dkim=pass for {domain}")


def command_address(mail, tokens, case_id: str) -> Proof:
    """Whether MAIL was sent to its From address's command address for CASE_ID."""
    for rcpt in (*mail.envelope_rcpts, *mail.to, *mail.cc):
        if tokens.command_case(rcpt, mail.from_addr) == case_id:
            return Proof(how="sent to the handler's command address")
    return Proof(problem="not sent to the handler's command address")


def prove(mail, config, tokens, case_id: str) -> Proof:
    """Whether MAIL proves that its From address sent it (see the module's docstring). A forged
    Authentication-Results field leaves nothing to prove it, not even the command address."""
    by_header = authentication_results(mail, config.security.trusted_authserv_id)
    if mail.from_problem or not mail.from_addr:
        return Proof(problem=f"From does not hold exactly one valid address ({mail.from_problem or 'none'})",
                     forged=by_header.forged)
    if by_header or by_header.forged:
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
