"""What a mail's sender wrote themselves: its body up to the first quoted or forwarded part.

Commands (`pipeline.commands`) are read from it, and both workflows read replies by it, so quoted
text of earlier mails never counts as what the sender says now.
"""

from __future__ import annotations

import re

QUOTE_START = re.compile(
    r"^(\s*>|-{2,}\s*(original message|opprinnelig melding|videresendt melding|forwarded message)|"
    r"\s*(fra|from)\s*:.*|\s*on .+ wrote:\s*$|\s*den .+ skrev .+:\s*$|.+ skrev følgende:\s*$)",
    re.IGNORECASE,
)


def own_text(text: str) -> str:
    """The part of a mail body its sender wrote: up to the first quoted or forwarded part."""
    lines = []
    for line in text.splitlines():
        if QUOTE_START.match(line):
            break
        lines.append(line)
    return "\n".join(lines).strip()
