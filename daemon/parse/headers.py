"""Header values read as `policy.default` reads them, within bounds (see `daemon.parse`)."""

from __future__ import annotations

import functools
import re
from email import policy
from email.header import decode_header, make_header
from email.utils import getaddresses

from ..rfc5322 import readable

_LINESEP = re.compile(r"\r\n|\r|\n")
# Headers whose value policy.default rewrites (addresses, dates, MIME parameters); any other
# header, if it is plain ASCII without encoded words, reads the same raw as parsed. The
# structured headers in _AS_WRITTEN are read by policy.default to exactly their unfolded value
# when that is plain ASCII (all of them, over the 2,857 messages of shared/corpus and the
# benchmark's corpus), so they skip its parser too.
_AS_WRITTEN = frozenset({"message-id", "mime-version", "content-transfer-encoding"})
_STRUCTURED = frozenset(policy.default.header_factory.registry) - {"subject"} - _AS_WRITTEN
MAX_ADDRESSES = 1000  # in one header value
MAX_VALUE_CHARS = 64 * 1024  # of one header value given to the stdlib's parser


def _bounded(value: str) -> str:
    """VALUE up to its MAX_ADDRESSES-th comma and MAX_VALUE_CHARS characters."""
    value = value[:MAX_VALUE_CHARS]
    cut = -1
    for _ in range(MAX_ADDRESSES):
        cut = value.find(",", cut + 1)
        if cut < 0:
            return value
    return value[:cut]


def _header_value(name: str, value) -> str:
    """A header's value as `policy.default` reads it, decoded, on one line — never an exception."""
    if isinstance(value, str) and len(value) > 1000 and value.count(",", 0, MAX_VALUE_CHARS) >= MAX_ADDRESSES:
        value = _bounded(value)  # what the stdlib's parser would take minutes over
    elif isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        value = value[:MAX_VALUE_CHARS]
    if isinstance(value, str):
        if "=?" not in value and value.isascii() and name.lower() not in _STRUCTURED:
            return " ".join(value.split())
        value = readable(value)
        if len(value) <= _REMEMBERED_LENGTH:
            return _remembered_header(name.lower(), value)
    return _read_header(name, value)


_REMEMBERED_LENGTH = 1000


@functools.lru_cache(maxsize=1024)
def _remembered_header(name: str, value: str) -> str:
    """_read_header, remembered: the same To, From and Content-Type values come again and again."""
    return _read_header(name, value)


def _read_header(name: str, value) -> str:
    """A header's value through policy.default's parser, or raw when it cannot read it."""
    try:
        text = str(policy.default.header_fetch_parse(name, value))
    except Exception:  # policy.default cannot read it: the raw value, encoded words decoded below
        try:
            text = _LINESEP.sub("", str(value))
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except Exception:
            text = ""
    if "=?" in text:
        try:
            text = str(make_header(decode_header(text)))
        except Exception:
            pass
    return " ".join(text.split())


def _addresses(value: str) -> list[str]:
    try:
        return [a.lower() for _, a in getaddresses([_bounded(value)]) if "@" in a]
    except Exception:
        return []
