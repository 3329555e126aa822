"""What a parse gives: a mail's headers, text and attachments (`ParsedMail`)."""

from __future__ import annotations

from dataclasses import dataclass, field

NAME_BYTES = 255  # of an attachment's name: what a file system takes for one name (ext4, XFS, tmpfs)
EXTENSION_MAX = 16  # characters after a name's last dot that are kept as its extension when it is cut


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


def shortened(name: str, limit: int = NAME_BYTES) -> str:
    """NAME in at most LIMIT bytes of UTF-8, cut at a character boundary before its extension
    (what follows its last dot, when that is short), which is kept."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > EXTENSION_MAX:
        stem, dot, ext = name, "", ""
    room = max(limit - len((dot + ext).encode("utf-8")), 0)
    return stem.encode("utf-8")[:room].decode("utf-8", "ignore") + dot + ext


@dataclass
class ParsedMail:
    subject: str = ""
    from_addr: str = ""  # the From header's one address, read strictly ("" if it has not one)
    from_name: str = ""
    from_problem: str = ""  # why From does not hold exactly one strictly parsed mailbox, or ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    reply_to: str = ""
    message_id: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    date: str = ""
    content_type: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # each Authentication-Results field of the top-level header block exactly as written, top
    # first: its name in any spelling (white space before the colon kept), its value folded and
    # not decoded; one that the line before ended with a bare CR starts with that CR
    # (`proof.authentication_results` reads only these: `headers` are decoded and unfolded)
    authentication_results: list[str] = field(default_factory=list)
    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    report_type: str = ""  # multipart/report's report-type, e.g. delivery-status
    defects: list[str] = field(default_factory=list)
    not_mail: str = ""  # why this is not an e-mail message at all, else ""
    envelope_from: str = ""
    envelope_rcpts: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    # what the text documents as an incident report (`incident.fields.document`), when the
    # parse helper has worked it out; else it is worked out where it is needed
    documented: object = None
    # `headers` as the registry stores them (`headers_json`), when a helper or the receiving
    # front has encoded them; else they are encoded where they are stored
    encoded_headers: str = ""
    # a handler accepted this mail (`#godta`) after it was held as unproven: it acts in the role
    # it claims as a proven mail would (`pipeline.roles`)
    accepted: bool = False

    def header(self, name: str) -> str:
        return self._first().get(name.lower(), "")

    def has_header(self, name: str) -> bool:
        return name.lower() in self._first()

    def _first(self) -> dict[str, str]:
        """Each header name (lower case) and its first value, made once (again if `headers` changed)."""
        made = self.__dict__.get("_first_values")
        if made is None or made[0] is not self.headers or made[1] != len(self.headers):
            first = {k.lower(): v for k, v in reversed(self.headers)}  # the first of a name wins
            made = self.__dict__["_first_values"] = (self.headers, len(self.headers), first)
        return made[2]

    @property
    def thread_ids(self) -> list[str]:
        """Every Message-ID this mail says it follows, nearest first."""
        return list(dict.fromkeys([*self.in_reply_to, *reversed(self.references)]))
