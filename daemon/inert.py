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
* in JSON for the command line (`json_text`): the same characters written as `\\uXXXX`
  escapes, which a JSON reader reads back as the very same value;
* in Markdown (`markdown_text`): one line, every character that opens a link, an image, an
  autolink, raw HTML, an entity, emphasis or code, and the table's `|`, backslash-escaped
  (CommonMark lets any ASCII punctuation be escaped), so the text renders as written.
"""

from __future__ import annotations

import csv
import json
import re

_BEYOND_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"  # DEL, C1, bidi, separators
_UNSEEN = re.compile(f"[\x00-\x08\x0a-\x1f{_BEYOND_C0}]")
_UNSEEN_IN_JSON = re.compile(f"[{_BEYOND_C0}]")  # json.dumps escapes C0 itself; a raw LF is its layout
_FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # after any white space
_CONTROL_START = ("\t", "\r", "\n", "\0")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_MARKDOWN = re.compile(r"([\\`*_~\[\]<>&|])")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def visible(text) -> str:
    """TEXT with every character that would act on a terminal shown as its escape (`\\x1b`,
    `\\n`, `\\u202e`), as Python writes it in a string's repr."""
    return _UNSEEN.sub(lambda m: repr(m.group())[1:-1], str(text))


def json_text(data) -> str:
    """DATA as indented JSON (`ensure_ascii` off, so æøå stay as they are) with every character
    `visible` would escape written as a `\\uXXXX` escape (json.dumps escapes C0 controls itself; a
    raw line feed is its layout, never inside a string)."""
    return _UNSEEN_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}",
                               json.dumps(data, ensure_ascii=False, indent=2))


def spreadsheet_cell(value):
    """A CSV cell's VALUE as a spreadsheet should take it: text that could start a formula gets a
    leading `'`; what would act on a terminal is shown as its escape (`visible`). Anything but
    text (a number we counted) is given back as it is."""
    if not isinstance(value, str):
        return value
    formula = value.startswith(_CONTROL_START) or (value.lstrip().startswith(_FORMULA_START)
                                                    and not _NUMBER.fullmatch(value))
    return "'" + visible(value) if formula else visible(value)


class SpreadsheetWriter(csv.DictWriter):
    """A `csv.DictWriter` whose every cell is one a spreadsheet takes as text (`spreadsheet_cell`)."""

    def writerow(self, rowdict):
        return super().writerow({key: spreadsheet_cell(value) for key, value in rowdict.items()})


def markdown_text(text) -> str:
    """TEXT for a Markdown document, on one line: what would make a link, an image, HTML or
    markup of it escaped, what would act on a terminal shown as its escape."""
    return _MARKDOWN.sub(r"\\\1", visible(" ".join(_LINE_BREAKS.split(str(text)))))
