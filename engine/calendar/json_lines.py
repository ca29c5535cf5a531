"""Where each field of a JSON text is, by the path the calendar schema names in its errors.

``json`` keeps no positions, so a trader told "holidays[3].date is not a date" would have to count
entries. :func:`field_lines` walks the text once and records the line of every member (its key)
and of every array element (its first character), under the schema's paths: ``covered_years[1]``,
``holidays[3].date``, ``segments.FO.timetable_changes[0].close``. It also notes the first key
repeated inside one object, which ``json`` would silently keep the last of.

A text nested deeper than Python's stack allows (no calendar is more than a few levels deep) is
refused as a :class:`CalendarDataError`, never a ``RecursionError`` out of an import or a start.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
from dataclasses import dataclass, field
from typing import Final

from engine.calendar.errors import CalendarDataError

TOO_DEEP: Final = "nested too deeply to be a calendar file (a calendar is a few levels deep)"
_SPACE = re.compile(r"[ \t\n\r]*")


@dataclass
class FieldLines:
    """Line numbers (1-based) of a JSON text's fields, by schema path."""

    lines: dict[str, int] = field(default_factory=dict)
    repeated: tuple[str, int] | None = None
    """The first key given twice in one object: its path and the line of the second one."""

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, else of the nearest enclosing field found (a merge error names
        ``timetable_changes[from=2026-08-03]``, which is no index), else None."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None


def field_lines(text: str, origin: str = "(text)") -> FieldLines:
    """The fields of ``text`` (the file ``origin``). Where it stops being JSON, the walk stops
    too (the decode error has that position) and what came before is kept."""
    walker = _Walker(text)
    try:
        with contextlib.suppress(ValueError, IndexError):
            walker.value(0, "")
    except RecursionError:
        raise CalendarDataError(origin, "(file)", TOO_DEEP) from None
    return walker.found


class _Walker:
    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder = json.JSONDecoder()
        self.found = FieldLines()
        self.newlines = [i for i, char in enumerate(text) if char == "\n"]

    def line(self, offset: int) -> int:
        return bisect.bisect_left(self.newlines, offset) + 1

    def skip(self, offset: int) -> int:
        match = _SPACE.match(self.text, offset)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    def expect(self, offset: int, char: str) -> int:
        if self.text[offset] != char:
            raise ValueError(f"expected {char!r} at {offset}")
        return self.skip(offset + 1)

    def value(self, offset: int, path: str) -> int:
        """Walk the value at ``offset``; the offset after it."""
        offset = self.skip(offset)
        opening = self.text[offset]
        if opening == "{":
            return self.members(offset, path)
        if opening == "[":
            return self.elements(offset, path)
        _, end = self.decoder.raw_decode(self.text, offset)
        return int(end)

    def members(self, offset: int, path: str) -> int:
        offset = self.skip(offset + 1)
        if self.text[offset] == "}":
            return offset + 1
        seen: set[str] = set()
        while True:
            key, after = self.decoder.raw_decode(self.text, offset)
            if not isinstance(key, str):
                raise ValueError(f"a key must be a string at {offset}")
            where = f"{path}.{key}" if path else key
            if key in seen and self.found.repeated is None:
                self.found.repeated = (where, self.line(offset))
            seen.add(key)
            self.found.lines.setdefault(where, self.line(offset))
            offset = self.skip(self.value(self.expect(self.skip(after), ":"), where))
            if self.text[offset] == "}":
                return offset + 1
            offset = self.expect(offset, ",")

    def elements(self, offset: int, path: str) -> int:
        offset = self.skip(offset + 1)
        if self.text[offset] == "]":
            return offset + 1
        index = 0
        while True:
            where = f"{path}[{index}]"
            self.found.lines.setdefault(where, self.line(offset))
            offset = self.skip(self.value(offset, where))
            if self.text[offset] == "]":
                return offset + 1
            offset = self.expect(offset, ",")
            index += 1
