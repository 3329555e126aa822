"""The grammar of the header values we read strictly and write only when valid (RFC 5322).

Decides what counts as one address, one Message-ID and a clean display name. Used on the way in
(a From or Reply-To that must name exactly one mailbox before the sender can be proven) and on
the way out (`outbound.headers`, which guards every header we write). Standard library only: the
receiving front and the parse helper import it too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from email import _header_value_parser as grammar  # the parser behind email.headerregistry
from email.header import decode_header, make_header

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATEXT}(?:\.{_ATEXT})*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# local@domain: a dot-atom local part (no quoted strings, no comments), a domain of DNS labels
# with a top-level part of letters; ASCII only (what every relay can carry)
ADDR_SPEC = re.compile(rf"{_DOT_ATOM}@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")
# msg-id = "<" id-left "@" id-right ">" (RFC 5322 3.6.4, without the obsolete forms): here
# without the angle brackets
MSG_ID = re.compile(rf"{_DOT_ATOM}@(?:{_DOT_ATOM}|\[[!-Z^-~]*\])")
# C0 controls but TAB, DEL, C1 controls, and the Unicode line and paragraph separators
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def is_address(value: str) -> bool:
    return bool(value) and len(value) <= 254 and ADDR_SPEC.fullmatch(value) is not None


def is_msg_id(value: str) -> bool:
    return bool(value) and len(value) <= 250 and MSG_ID.fullmatch(value) is not None


def without_controls(value: str) -> str:
    """VALUE with every control character (CR and LF included) turned into a space, on one line."""
    return " ".join(CONTROL.sub(" ", value).split())


@dataclass(frozen=True)
class Mailbox:
    """What an address header says: its one address (lower case; "" when there is not exactly
    one valid one), the display name (decoded, control characters removed), and why the header
    does not hold exactly one mailbox that parses strictly ("" when it does)."""

    address: str = ""
    name: str = ""
    problem: str = ""


def read_mailbox(values: list[str]) -> Mailbox:
    """The one mailbox of a From (or Reply-To) header, read strictly. VALUES are the header's raw
    values as they stand in the message (several when the header is repeated). Encoded words are
    decoded before the check: a display name that decodes to a CR or LF is a problem, as are
    group syntax, two addresses, a syntax error and an address outside the grammar."""
    if not values:
        return Mailbox(problem="no header")
    if len(values) > 1:
        return Mailbox(problem=f"{len(values)} headers")
    raw = _FOLD.sub("", str(values[0]))
    plain = _PLAIN.fullmatch(raw) if raw.isascii() and "=?" not in raw and len(raw) < 500 else None
    if plain is None and raw.isascii() and len(raw) < 500:
        encoded = _ENCODED_NAME.fullmatch(raw)
        if encoded and is_address(encoded.group("address")) and _padded(encoded.group("words")):
            # `=?utf-8?q?Kj=C3=A6re?= <addr>`, as most mail from Norway has it: the words decoded
            # as the parser decodes them (a test holds the two equal), checked for controls after
            try:
                name = str(make_header(decode_header(encoded.group("words"))))
            except Exception:
                name = None
            if name is not None and not CONTROL.search(name) and "\ufffd" not in name:
                return Mailbox(address=encoded.group("address").lower(), name=" ".join(name.split()))
    address = plain and (plain.group("address") or plain.group("bare"))
    if address and is_address(address):
        # the plain shapes nearly every mail has: `addr`, `<addr>`, `Name <addr>`, `"Name" <addr>`
        # (the parser reads them the same, a test holds; it costs a tenth of a message's parse)
        name = plain.group("quoted") if plain.group("quoted") is not None else (plain.group("atoms") or "")
        return Mailbox(address=address.lower(), name=" ".join(name.split()))
    return _read_mailbox(raw)


# a display name of atoms (letters, digits, spaces and - . ' _), or quoted without escapes
_PLAIN = re.compile(r'\s*(?:(?:"(?P<quoted>[^"\\\x00-\x1f\x7f]*)"|(?P<atoms>[A-Za-z0-9 _\'-]+?))?\s*<'
                    r'(?P<address>[^<>\s]+)>|(?P<bare>[^<>\s"(),:;]+))\s*')


_WORD = r"=\?[A-Za-z0-9_.:-]+\?[QqBb]\?[!->@-~]*\?="
_ENCODED_NAME = re.compile(rf"\s*(?P<words>{_WORD})\s+<(?P<address>[^<>\s]+)>\s*")


def _padded(word: str) -> bool:
    """Whether an encoded word is Q-encoded, or B-encoded with its padding (the parser notes a
    defect for base64 without it)."""
    _, _, encoding, text, _ = word.split("?")
    return encoding in "Qq" or len(text) % 4 == 0


@functools.lru_cache(maxsize=4096)
def _read_mailbox(raw: str) -> Mailbox:
    try:
        parsed, rest = grammar.get_address_list(raw)
        mailboxes = parsed.all_mailboxes
        kinds = [address[0].token_type for address in parsed.addresses]
        defects = sorted({type(d).__name__ for d in parsed.all_defects})
    except Exception as exc:  # the stdlib's parser raises IndexError and the like on odd input
        return Mailbox(problem=f"unreadable ({type(exc).__name__})")
    if len(mailboxes) != 1:
        return Mailbox(problem=f"{len(mailboxes)} addresses")
    box = mailboxes[0]
    address = (box.addr_spec or "").strip()
    name = box.display_name or ""
    problems = []
    if rest.strip():
        problems.append("text after the address")
    if kinds != ["mailbox"]:
        problems.append("group syntax" if "group" in kinds else "not a valid mailbox")
    if defects:
        problems.append("defects: " + ", ".join(defects))
    if CONTROL.search(name) or CONTROL.search(address):
        problems.append("control characters")
    if not is_address(address):
        problems.append("address outside the grammar")
        address = ""
    if "group" in kinds:
        address = ""  # group syntax in From hides which address is meant: trust none of them
    return Mailbox(address=address.lower(), name=without_controls(readable(name)), problem="; ".join(problems))


def readable(value: str) -> str:
    """A header written in raw 8-bit (the parser keeps its bytes as surrogates) read as UTF-8
    where it is that, else as Windows-1252, as its sender meant it."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")
