"""Where each key of a TOML file is written: its line, for error messages (tomllib gives none).

A reader of positions only, run over text tomllib has already accepted: it follows table headers
(`[nhn]`, `[[address]]` counted from 0, `[[citizen.route]]`), dotted keys, inline tables and arrays
(an array's entries by index), and skips strings and comments. Paths are written the way pydantic
names a location: ("nhn", "intake_address"), ("address", 2, "email"), ("digest", "recipients", 1).
"""

from __future__ import annotations

import bisect

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.found: dict[tuple, int] = {}  # path -> offset in the text
        self.arrays: dict[tuple, int] = {}  # an array of tables (by its names) -> index of its last table

    def skip(self, i: int, newlines: bool = False) -> int:
        """I past blanks (and comments and line ends, with NEWLINES)."""
        text = self.text
        while i < len(text):
            c = text[i]
            if c in " \t\r" or (newlines and c == "\n"):
                i += 1
            elif newlines and c == "#":
                i = text.find("\n", i)
                i = len(text) if i < 0 else i
            else:
                break
        return i

    def string(self, i: int) -> tuple[str, int]:
        """The string starting at I (raw, escapes left in), and the offset past it."""
        text, quote = self.text, self.text[i]
        if text.startswith(quote * 3, i):
            end = text.index(quote * 3, i + 3)
            while text.startswith(quote, end + 3):  # up to two quotes may close the content
                end += 1
            return text[i + 3:end], end + 3
        j = i + 1
        while text[j] != quote:
            j += 2 if quote == '"' and text[j] == "\\" else 1
        return text[i + 1:j], j + 1

    def key(self, i: int) -> tuple[tuple[str, ...], int]:
        """A (dotted) key at I, and the offset past it."""
        names = []
        while True:
            i = self.skip(i)
            if self.text[i] in "\"'":
                name, i = self.string(i)
            else:
                j = i
                while i < len(self.text) and self.text[i] in _BARE:
                    i += 1
                name = self.text[j:i]
            names.append(name)
            i = self.skip(i)
            if i >= len(self.text) or self.text[i] != ".":
                return tuple(names), i
            i += 1

    def value(self, i: int, path: tuple) -> int:
        """Past the value at I, noting where the entries of arrays and inline tables are."""
        text = self.text
        i = self.skip(i)
        c = text[i]
        if c in "\"'":
            return self.string(i)[1]
        if c == "[":
            i, index = self.skip(i + 1, newlines=True), 0
            while text[i] != "]":
                self.found.setdefault((*path, index), i)
                i = self.skip(self.value(i, (*path, index)), newlines=True)
                if text[i] == ",":
                    i, index = self.skip(i + 1, newlines=True), index + 1
            return i + 1
        if c == "{":
            i = self.skip(i + 1)
            while text[i] != "}":
                names, i = self.key(i)
                self.found.setdefault((*path, *names), i)
                i = self.skip(self.value(i + 1, (*path, *names)))
                if text[i] == ",":
                    i = self.skip(i + 1)
            return i + 1
        while i < len(text) and text[i] not in ",]}\n#":
            i += 1
        return i

    def table(self, names: tuple[str, ...], array: bool) -> tuple:
        """The path of a table header: the index of every array of tables in it inserted."""
        path: list = []
        for k, name in enumerate(names):
            path.append(name)
            if array and k == len(names) - 1:
                self.arrays[names] = self.arrays.get(names, -1) + 1
                path.append(self.arrays[names])
            elif names[:k + 1] in self.arrays:
                path.append(self.arrays[names[:k + 1]])
        return tuple(path)

    def read(self) -> dict[tuple, int]:
        text, i, table = self.text, 0, ()
        while (i := self.skip(i, newlines=True)) < len(text):
            start = i
            if text[i] == "[":
                array = text.startswith("[[", i)
                names, i = self.key(i + (2 if array else 1))
                i += 2 if array else 1
                table = self.table(names, array)
                self.found.setdefault(table, start)
            else:
                names, i = self.key(i)
                self.found.setdefault((*table, *names), start)
                i = self.value(i + 1, (*table, *names))
        return self.found


def key_lines(text: str) -> dict[tuple, int]:
    """The line (from 1) of every table and key in the TOML TEXT, by its path. What the reader does
    not understand ends it early: a key it did not reach is reported without a line."""
    reader = _Reader(text)
    try:
        reader.read()
    except (ValueError, IndexError):
        pass
    ends = [i for i, c in enumerate(text) if c == "\n"]
    return {path: bisect.bisect_left(ends, offset) + 1 for path, offset in reader.found.items()}


def line_of(lines: dict[tuple, int], path: tuple) -> int | None:
    """The line of PATH, else of the nearest table or key that holds it."""
    for k in range(len(path), 0, -1):
        if path[:k] in lines:
            return lines[path[:k]]
    return None
