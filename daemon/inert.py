"""What a sender wrote, made inert for where our own people read it: a terminal, a spreadsheet,
a Markdown renderer.

Decides which characters and which openings of a value would act on the reader instead of being
read, and how each is shown instead:

* on a terminal (`visible`): control characters (C0 but TAB, DEL, C1, ESC and CSI among them),
  the line and paragraph separators and the bidirectional marks, embeddings, overrides and
  isolates (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) are shown as their escapes
  (`\\x1b`, `\\u202e`), so a subject cannot move the cursor, recolour or clear the screen, and
  `\\u202etxt.exe` is not read as `exe.txt`;
* in a spreadsheet (`spreadsheet_cell`): a cell that begins with TAB, CR, LF or NUL, or after
  any white space with `=`, `+`, `-` or `@` (or their full-width forms), is prefixed with a
  single quote, as OWASP advises, so that it is text and never a formula; a plain number is
  left as it is, and the cell's characters are shown as on a terminal;
* in Markdown (`markdown_text`): one line, every character that opens a link, an image, an
  autolink, raw HTML, an entity, emphasis or code, and the table's `|`, backslash-escaped
  (CommonMark lets any ASCII punctuation be escaped), so the text renders as written.
"""

from __future__ import annotations

import re

_UNSEEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # after any white space
_CONTROL_START = ("\t", "\r", "\n", "\0")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_MARKDOWN = re.compile(r"([\\`*_~\[\]<>&|])")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def visible(text) -> str:
    """TEXT with every character that would act on a terminal shown as its escape (`\\x1b`,
    `\\n`, `\\u202e`), as Python writes it in a string's repr."""
    return _UNSEEN.sub(lambda m: repr(m.group())[1:-1], str(text))


def spreadsheet_cell(value):
    """A CSV cell's VALUE as a spreadsheet should take it: text that could start a formula gets a
    leading `'`; what would act on a terminal is shown as its escape (`visible`). Anything but
    text (a number we counted) is given back as it is."""
    if not isinstance(value, str):
        return value
    formula = value.startswith(_CONTROL_START) or (value.lstrip().startswith(_FORMULA_START)
                                                    and not _NUMBER.fullmatch(value))
    return "'" + visible(value) if formula else visible(value)


def markdown_text(text) -> str:
    """TEXT for a Markdown document, on one line: what would make a link, an image, HTML or
    markup of it escaped, what would act on a terminal shown as its escape."""
    return _MARKDOWN.sub(r"\\\1", visible(" ".join(_LINE_BREAKS.split(str(text)))))
