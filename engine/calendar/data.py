"""Layering calendar files: the packaged file first, then each override file on top.

Precedence, lowest to highest: the packaged file, then override files in the order
:func:`engine.calendar.locations.rank` gives (the later import wins). A file that declares a year
covered holds that year's whole holiday list: the holidays lower files gave that year, for each
segment the file lists, are dropped (a corrected list that moves Holi opens the old date again;
it does not add to the old list). Then, for a date and segment, the highest file that lists it in
``holidays`` or ``special_sessions`` decides that day alone; entries from lower files for that day
are dropped (so an override can turn a holiday into a session, announce Muhurat times, or cancel a
special session with a holiday). Special sessions are announcements of their own and outlive a
replaced list. Within one file a holiday and a special session may share a date: the session is
held (Muhurat on Diwali). Timetable changes and expiry weekdays merge by their ``from`` date, the
higher file winning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from engine.calendar import locations
from engine.calendar.errors import CalendarDataError
from engine.calendar.records import (
    CalendarSegment,
    ExpiryWeekday,
    Holiday,
    SpecialSession,
    Timetable,
    TimetableChange,
)
from engine.calendar.schema import CalendarDocument

DayKey = tuple[date, CalendarSegment]


@dataclass(frozen=True)
class CalendarData:
    """The merged calendar of one exchange; every entry keeps its provenance."""

    exchange: str
    tz: ZoneInfo
    covered_years: Mapping[int, str]
    """Covered year → the file that declared it covered."""
    regular: Mapping[CalendarSegment, Timetable]
    timetable_changes: Mapping[CalendarSegment, tuple[TimetableChange, ...]]
    """Sorted by ``effective_from``."""
    expiry_weekdays: Mapping[CalendarSegment, tuple[ExpiryWeekday, ...]]
    """Sorted by ``effective_from``."""
    holidays: Mapping[DayKey, Holiday]
    special_sessions: Mapping[DayKey, SpecialSession]
    origins: tuple[str, ...]
    """The files merged, lowest priority first."""


def merge_documents(documents: Sequence[CalendarDocument]) -> CalendarData:
    """Merge a base document and its overrides (in rising priority) into one calendar."""
    if not documents or not documents[0].is_base:
        raise ValueError("the first calendar document must be the base (packaged) file")
    base = documents[0]
    if base.tz is None:
        raise ValueError(f"{base.origin}: the base calendar has no time zone")
    for doc in documents[1:]:
        if doc.is_base:
            raise ValueError(f"{doc.origin}: only the first calendar document may be a base file")
        if doc.exchange != base.exchange:
            raise CalendarDataError(
                doc.origin, "exchange", f"{doc.exchange!r} does not match {base.exchange!r}"
            )

    covered: dict[int, str] = {}
    changes: dict[CalendarSegment, dict[date, TimetableChange]] = {s: {} for s in CalendarSegment}
    weekdays: dict[CalendarSegment, dict[date, ExpiryWeekday]] = {s: {} for s in CalendarSegment}
    holidays: dict[DayKey, Holiday] = {}
    from_base: set[DayKey] = set()
    specials: dict[DayKey, SpecialSession] = {}
    for doc in documents:
        for year in doc.covered_years:
            covered.setdefault(year, doc.origin)
        for segment, items in doc.timetable_changes.items():
            changes[segment].update((change.effective_from, change) for change in items)
        for segment, rules in doc.expiry_weekdays.items():
            weekdays[segment].update((rule.effective_from, rule) for rule in rules)
        # The year lists this file holds: lower files' holidays in them are replaced. Files
        # kept before imports were numbered replace only the packaged list: which of two of them
        # was imported later is not known, so their holidays add up (a day either closes stays
        # closed) rather than one undoing the other by the accident of its name.
        lists = year_lists(doc)
        ordered = doc.is_base or locations.is_numbered(Path(doc.origin))
        for key in [key for key in holidays if (key[0].year, key[1]) in lists]:
            if ordered or key in from_base:
                del holidays[key]
        # The days this file speaks about: lower files' entries for them are replaced.
        days = {(h.day, h.segment) for h in doc.holidays}
        days |= {(s.day, s.segment) for s in doc.special_sessions}
        for key in days:
            holidays.pop(key, None)
            specials.pop(key, None)
        holidays.update(((h.day, h.segment), h) for h in doc.holidays)
        if doc.is_base:
            from_base.update((h.day, h.segment) for h in doc.holidays)
        else:
            from_base.difference_update((h.day, h.segment) for h in doc.holidays)
        specials.update(((s.day, s.segment), s) for s in doc.special_sessions)

    sorted_changes = {seg: tuple(v for _, v in sorted(c.items())) for seg, c in changes.items()}
    for segment, timetable in base.regular.items():
        _check_changes(segment, timetable, sorted_changes[segment])
    return CalendarData(
        exchange=base.exchange,
        tz=base.tz,
        covered_years=covered,
        regular=dict(base.regular),
        timetable_changes=sorted_changes,
        expiry_weekdays={
            seg: tuple(v for _, v in sorted(w.items())) for seg, w in weekdays.items()
        },
        holidays=holidays,
        special_sessions=specials,
        origins=tuple(doc.origin for doc in documents),
    )


def year_lists(doc: CalendarDocument) -> frozenset[tuple[int, CalendarSegment]]:
    """The (year, segment) holiday lists ``doc`` holds whole: a covered year's, for each segment
    it lists a holiday of in that year."""
    return frozenset(
        (h.day.year, h.segment) for h in doc.holidays if h.day.year in doc.covered_years
    )


def _check_changes(
    segment: CalendarSegment, timetable: Timetable, changes: tuple[TimetableChange, ...]
) -> None:
    """Each change, applied on top of the earlier ones, must still give a consistent timetable."""
    for change in changes:
        timetable = change.apply(timetable)
        problem = timetable.problem()
        if problem is not None:
            where = f"segments.{segment}.timetable_changes[from={change.effective_from}]"
            raise CalendarDataError(change.provenance.origin, where, problem)
