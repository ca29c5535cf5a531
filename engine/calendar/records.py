"""What a calendar file says: timetables, their dated changes, holidays and special sessions.

Times here are times of day in the exchange's zone; :mod:`engine.calendar.session` turns them into
aware datetimes for one date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, time
from enum import StrEnum
from typing import Literal

Window = tuple[time, time]
"""A half-open [start, end) window of times of day."""


class CalendarSegment(StrEnum):
    CM = "CM"
    """Equity cash (capital market)."""
    FO = "FO"
    """Equity derivatives (futures and options)."""


class SessionKind(StrEnum):
    REGULAR = "regular"
    """An ordinary working day."""
    FULL_DAY = "full_day"
    """A special session on a day that would be closed (Budget Saturday/Sunday)."""
    MUHURAT = "muhurat"
    """The one-hour Diwali session; its hours differ each year."""


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an entry came from, so the UI can show it and a user can trace or override it."""

    origin: str
    """``packaged:<path>`` for the shipped file, else the override file's path."""
    source: str
    """The record's own ``source`` text (circular number, web page)."""


@dataclass(frozen=True, slots=True)
class Timetable:
    """One day's session times for one segment, as times of day."""

    open: time
    close: time
    pre_open: Window | None = None
    """Pre-open order entry; matching and the buffer run from its end to ``open``."""
    post_close: Window | None = None
    cas: Window | None = None
    """Closing auction session for CAS-eligible (F&O) stocks, CM only."""
    cts_close_cas_stocks: time | None = None
    """When continuous trading ends for CAS-eligible stocks."""

    def problem(self) -> str | None:
        """Why these times cannot be a session, or None when they are consistent."""
        if not self.open < self.close:
            return f"open {self.open:%H:%M} must be before close {self.close:%H:%M}"
        if self.pre_open is not None:
            start, end = self.pre_open
            if not start < end <= self.open:
                return f"pre_open {start:%H:%M}-{end:%H:%M} must end by open {self.open:%H:%M}"
        if self.post_close is not None:
            start, end = self.post_close
            if not self.close <= start < end:
                return f"post_close {start:%H:%M}-{end:%H:%M} must start at or after close"
        if (self.cas is None) != (self.cts_close_cas_stocks is None):
            return "cas and cts_close_cas_stocks must be given together"
        if self.cas is not None and self.cts_close_cas_stocks is not None:
            start, end = self.cas
            if not self.open < self.cts_close_cas_stocks <= start < end:
                return "cas must start at or after cts_close_cas_stocks, after open"
            if self.post_close is not None and end > self.post_close[0]:
                return "cas must end by the start of post_close"
        return None


TIMETABLE_FIELDS = ("open", "close", "pre_open", "post_close", "cas", "cts_close_cas_stocks")


@dataclass(frozen=True, slots=True)
class TimetableChange:
    """Fields of a segment's timetable that change from ``effective_from`` on (e.g. CAS)."""

    effective_from: date
    changes: Mapping[str, object]
    """Timetable field name → new value (None removes a window)."""
    provenance: Provenance

    def apply(self, timetable: Timetable) -> Timetable:
        return replace(timetable, **self.changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ExpiryWeekday:
    """The weekday index derivatives expire on, from ``effective_from`` (0 = Monday)."""

    effective_from: date
    weekday: int
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class Holiday:
    day: date
    segment: CalendarSegment
    name: str
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class SpecialSession:
    """A session on a day that would otherwise be closed, or with non-standard hours."""

    day: date
    segment: CalendarSegment
    kind: SessionKind
    times: Timetable | Literal["regular"] | None
    """``"regular"``: the timetable in force that day; None: times to be announced (closed)."""
    note: str
    provenance: Provenance

    @property
    def times_to_be_announced(self) -> bool:
        return self.times is None
