"""The one guard every header we write passes on its way out.

Decides what of a header's value may be written. Much of what we write comes from senders
(a reporter's address and name, a subject, Message-IDs to thread on, an attachment's name, NHN's
reference), so nothing is written as it came: an address must be one address in the RFC 5322
grammar (`rfc5322`), else it is dropped; a display name, a subject and any other text lose their
control characters (a CR or LF would start a header of the sender's choosing) and their identity
numbers; a Message-ID that is not a valid msg-id, or that holds an identity number or an RFC
2047 encoded word (a reader that decodes it would find a line break there), is left out of
In-Reply-To and References; an attachment's name is reduced to a safe file name.
`render.Renderer.compose` hands every header of every mail to `guard` and writes what it gets.
"""

from __future__ import annotations

import base64
import functools
import re
import unicodedata
from email.charset import BASE64, Charset
from email.header import Header
from email.utils import formataddr

from ..pii import contains_identity_number, redact_identity_numbers
from ..rfc5322 import is_address, is_msg_id, without_controls

ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to", "sender"})
MSG_ID_HEADERS = frozenset({"message-id", "in-reply-to", "references"})
OUR_OWN = frozenset({"date", "auto-submitted", "x-auto-response-suppress", "content-language", "mime-version"})
MAX_REFERENCES = 20
_CASE_ID = re.compile(r"SAK-\d{4}-\d{6}")
_UNSAFE_IN_NAME = re.compile(r"[^\w .()+,=-]+")
UTF8_HEADER = Charset("utf-8")
UTF8_HEADER.header_encoding = BASE64  # "shortest of Q and B" took half the time of the whole mail


def address_list(values) -> list[tuple[str, str]]:
    """(display name, address) of each valid address in VALUES (addresses, or (name, address)
    pairs), each once, display names without control characters."""
    out: dict[str, tuple[str, str]] = {}
    for value in values:
        name, address = value if isinstance(value, tuple) else ("", value)
        address = (address or "").strip()
        if is_address(address) and address.lower() not in out:
            out[address.lower()] = (text(name or ""), address)
    return list(out.values())


def msg_ids(values, *, ours: bool = False) -> list[str]:
    """The valid Message-IDs among VALUES (without angle brackets), each once; one that holds an
    identity number (redacting it would make it another id) or an encoded word is left out. OURS: ids we made
    (`tokens`), only checked for their grammar."""
    out = []
    for value in values:
        value = (value or "").strip().strip("<>")
        if (is_msg_id(value) if ours else _their_msg_id(value)) and value not in out:
            out.append(value)
    return out


@functools.lru_cache(maxsize=4096)
def _their_msg_id(value: str) -> bool:
    """Whether VALUE, a sender's Message-ID, may be written: valid, with no identity number and
    nothing a reader would decode as an encoded word in it (`=?`, as `_plain` decides).
    Remembered: a thread's ids come again in In-Reply-To and References of every answer."""
    return is_msg_id(value) and "=?" not in value and not contains_identity_number(value)


@functools.lru_cache(maxsize=4096)
def text(value: str) -> str:
    """An unstructured value (a subject): one line, no control characters, no identity number.
    Remembered: the same display names and subjects come again and again."""
    return without_controls(redact_identity_numbers(value or ""))


def guard(name: str, value) -> str:
    """The value to write for header NAME given VALUE, or "" to leave the header out. Address
    headers take a list of addresses or (name, address) pairs, Message-ID headers a list of ids;
    any other header takes a string."""
    key = name.lower()
    if key in ADDRESS_HEADERS:
        return ", ".join(_mailbox(n, a) for n, a in address_list(value))
    if key in MSG_ID_HEADERS:
        ids = msg_ids(value, ours=key == "message-id")
        if key == "references":
            ids = ids[-MAX_REFERENCES:]
        elif ids:
            ids = ids[:1]
        return " ".join(f"<{i}>" for i in ids)
    if key == "x-sakspost-case":
        return value if value and _CASE_ID.fullmatch(value) else ""
    if key in OUR_OWN:  # values we make, never a sender's: only kept to one line
        return without_controls(str(value))
    value = text(str(value))
    return value if _plain(value) else Encoded(value)


class Encoded(str):
    """A header value to be written as RFC 2047 encoded words (`encoded_words`)."""


# UTF-8 bytes in one encoded word: what `email.header.Header(value, UTF8_HEADER)` puts on a line
# of 78 (and 77 after the continuation space): 78 - 12 (`=?utf-8?b?` and `?=`) base64 characters
BYTES_PER_WORD = 48


def encoded_words(value: str, linesep: str = "\r\n") -> str:
    """VALUE (one line) as base64 encoded words, folded: byte for byte what
    `Header(value, UTF8_HEADER).encode(linesep=LINESEP, maxlinelen=78)` makes of it, which
    measures the line again for every character it adds (a test holds the two equal)."""
    data = value.encode("utf-8")
    words, start = [], 0
    while start < len(data):
        end = start + BYTES_PER_WORD
        if end < len(data):
            while data[end] & 0xC0 == 0x80:  # not inside a character: back to where it begins
                end -= 1
        words.append(data[start:end])
        start = end
    return (linesep + " ").join(
        f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


def _plain(value: str) -> bool:
    """Whether VALUE can be written as it is: ASCII, and nothing a reader would decode as an
    encoded word (a sender's literal `=?utf-8?q?=0D=0A?=` would come back as a line break)."""
    return value.isascii() and "=?" not in value


@functools.lru_cache(maxsize=4096)
def _mailbox(name: str, address: str) -> str:
    if "=?" not in name:  # formataddr quotes what needs quoting and encodes what is not ASCII
        return formataddr((name, address))
    return f"{Header(name, UTF8_HEADER).encode()} <{address}>"


def filename(name: str, fallback: str = "vedlegg") -> str:
    """NAME as a safe file name: compatibility forms folded (NFKC), no control characters, no
    path, nothing but letters, digits and a few marks, no identity number, at most 100
    characters with its extension kept; FALLBACK if nothing is left."""
    name = unicodedata.normalize("NFKC", name or "")
    name = redact_identity_numbers(without_controls(name)).replace("[fnr fjernet]", "fnr-fjernet")
    name = name.replace("\\", "/").rpartition("/")[2]
    name = _UNSAFE_IN_NAME.sub("_", name).strip(" ._")
    if len(name) > 100:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 99 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:100]
    return name or fallback
