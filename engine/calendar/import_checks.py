"""What an imported calendar file must be before the desk keeps it, and what it says it changed.

A file that declares a year covered replaces that year's holiday list (see
:mod:`engine.calendar.data`), so it must hold the whole list: both segments' holidays, the fixed
national holidays that fall on a weekday that year, and no date of another year. A cash-only or
one-line list taken for the whole year would make Republic Day a trading day.

The answer to an import says in words what the file holds and what it replaced: the list it
takes over and each day that is no longer a holiday or a session.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Final, TypeVar

from engine.calendar.data import CalendarData, DayKey, year_lists
from engine.calendar.errors import CalendarDataError
from engine.calendar.records import CalendarSegment, Holiday, SpecialSession
from engine.calendar.schema import CalendarDocument

MAX_FILE_BYTES: Final = 1_000_000
"""NSE's list for a year is a few KB; a file many times that is not a calendar."""

# The national holidays NSE closes on every year they fall on a weekday (Republic Day,
# Independence Day, Gandhi Jayanti: closed in every list from 2024 to 2026). A year's list without
# one is partial.
NATIONAL_HOLIDAYS: Final = (
    (1, 26, "Republic Day"),
    (8, 15, "Independence Day"),
    (10, 2, "Mahatma Gandhi Jayanti"),
)
_Entry = TypeVar("_Entry", Holiday, SpecialSession)
_SHOWN: Final = 6
"""Days listed by name in an answer; more are counted."""


def refuse_oversized(size: int, what: str) -> None:
    """Raise when ``size`` bytes is more than a calendar file can be."""
    if size > MAX_FILE_BYTES:
        raise CalendarDataError(
            what,
            "(file)",
            f"is {size / 1e6:.1f} MB; a calendar file is at most {MAX_FILE_BYTES // 1_000_000} MB "
            "(a year's holiday list is a few KB)",
        )


def refuse_partial_years(document: CalendarDocument, raw: Mapping[str, Any]) -> None:
    """Each covered year holds its whole list (both segments, the national holidays) and every
    holiday is in a covered year; else :class:`CalendarDataError` naming the field."""
    covered = document.covered_years
    if covered:
        years = ", ".join(str(y) for y in sorted(covered))
        for index, entry in enumerate(raw.get("holidays", [])):
            day = date.fromisoformat(entry["date"])  # the schema has checked it is a date
            if day.year not in covered:
                raise CalendarDataError(
                    document.origin,
                    f"holidays[{index}].date",
                    f"{day.isoformat()} is outside the years this file covers ({years}); "
                    "a single day of another year goes in a file without covered_years",
                )
    listed = {(h.day, h.segment) for h in document.holidays}
    listed |= {(s.day, s.segment) for s in document.special_sessions}
    for index, year in enumerate(raw.get("covered_years", [])):
        field = f"covered_years[{index}]"
        if not any(h.day.year == year for h in document.holidays):
            raise CalendarDataError(
                document.origin,
                field,
                f"{year} is declared covered but the file lists no holiday in {year}",
            )
        for segment in CalendarSegment:
            if not any(h.day.year == year and h.segment is segment for h in document.holidays):
                raise CalendarDataError(
                    document.origin,
                    field,
                    f"the {year} list has no {segment} holidays; a year's list needs both the "
                    "CM and the FO holidays (NSE publishes one for each)",
                )
        missing = [
            f"{name} ({day:%a %d %b %Y}) for {' and '.join(segments)}"
            for day, name in _national_holidays(year)
            if (segments := [s.value for s in CalendarSegment if (day, s) not in listed])
        ]
        if missing:
            raise CalendarDataError(
                document.origin,
                field,
                f"the {year} list lacks {'; '.join(missing)}: NSE closes on "
                f"{'it' if len(missing) == 1 else 'them'} every year, so the list is partial. "
                f"Import NSE's whole {year} list",
            )


def wholly_replaced(new: CalendarDocument, old: CalendarDocument) -> bool:
    """True when everything ``old`` says is holidays that ``new``'s year lists replace (and no
    year it covers goes uncovered without it): the file can go."""
    if old.special_sessions or any(old.timetable_changes.values()):
        return False
    if any(old.expiry_weekdays.values()) or not old.covered_years <= new.covered_years:
        return False
    lists = year_lists(new)
    return all((h.day.year, h.segment) in lists for h in old.holidays)


def contents(document: CalendarDocument) -> str:
    """What ``document`` holds, in words: "2 holidays for 2027", "1 special session: ..."."""
    parts = []
    days = {h.day for h in document.holidays}
    if document.covered_years:
        years = ", ".join(str(y) for y in sorted(document.covered_years))
        parts.append(f"{_count(len(days), 'holiday')} for {years}")
    elif days:
        named = _grouped_holidays(document.holidays)
        parts.append(f"{_count(len(days), 'holiday')}: {_listed(named)}")
    if document.special_sessions:
        sessions = _grouped_sessions(document.special_sessions)
        parts.append(f"{_count(len(sessions), 'special session')}: {_listed(sessions)}")
    changes = [
        f"{segment} from {change.effective_from:%d %b %Y}"
        for segment, items in document.timetable_changes.items()
        for change in items
    ]
    if changes:
        parts.append(f"{_count(len(changes), 'timetable change')}: {_listed(changes)}")
    rules = [
        f"{segment} from {rule.effective_from:%d %b %Y}"
        for segment, items in document.expiry_weekdays.items()
        for rule in items
    ]
    if rules:
        parts.append(f"{_count(len(rules), 'expiry-weekday rule')}: {_listed(rules)}")
    return "; ".join(parts)


def replacements(
    new: CalendarDocument, before: CalendarData, after: CalendarData, removed: Sequence[str]
) -> tuple[str, ...]:
    """Sentences saying what importing ``new`` replaced: ``before`` and ``after`` are the merged
    calendars without and with it; ``removed`` the files it made redundant."""
    said = []
    lists = year_lists(new)
    for year in sorted(new.covered_years):
        origins = {
            h.provenance.origin
            for (day, segment), h in before.holidays.items()
            if (day.year, segment) in lists and day.year == year
        }
        whose = ["shipped with the desk"] if any(o.startswith("packaged:") for o in origins) else []
        files = sorted(Path(o).name for o in origins if not o.startswith("packaged:"))
        if files:
            whose.append(f"of {' and '.join(files)}")
        if whose:
            said.append(f"It replaces the {year} holiday list {' and '.join(whose)}.")
    if removed:
        which = "the file" if len(removed) == 1 else "the files"
        said.append(f"Removed {which} it replaces: {', '.join(removed)}.")
    # A closed day that now holds a special session (Muhurat on Diwali) is said as that session.
    reopened = [
        holiday
        for holiday in _gone(before.holidays, after.holidays)
        if (holiday.day, holiday.segment) not in after.special_sessions
    ]
    if reopened:
        days = _grouped_holidays(reopened)
        verb = "is" if len(days) == 1 else "are"
        said.append(f"{_listed(days)} {verb} no longer a holiday.")
    cancelled = _gone(before.special_sessions, after.special_sessions)
    if cancelled:
        sessions = _grouped_sessions(cancelled)
        said.append(f"Special session no longer held: {_listed(sessions)}.")
    return tuple(said)


def _national_holidays(year: int) -> list[tuple[date, str]]:
    days = [(date(year, month, day), name) for month, day, name in NATIONAL_HOLIDAYS]
    return [(day, name) for day, name in days if day.weekday() < 5]


def _gone(before: Mapping[DayKey, _Entry], after: Mapping[DayKey, _Entry]) -> list[_Entry]:
    return [entry for key, entry in before.items() if key not in after]


def _grouped_holidays(holidays: Iterable[Holiday]) -> list[str]:
    """One entry a day, a segment named when the day is not closed for both."""
    segments: dict[tuple[date, str], list[str]] = defaultdict(list)
    for holiday in holidays:
        segments[holiday.day, holiday.name].append(holiday.segment.value)
    return [
        f"{day:%a %d %b %Y} ({name}{'' if len(segs) == len(CalendarSegment) else ', ' + segs[0]})"
        for (day, name), segs in sorted(segments.items())
    ]


def _grouped_sessions(sessions: Iterable[SpecialSession]) -> list[str]:
    segments: dict[tuple[date, str], list[str]] = defaultdict(list)
    for session in sessions:
        times = session.times
        if times is None:
            hours = "times to be announced"
        elif times == "regular":
            hours = "regular hours"
        else:
            hours = f"{times.open:%H:%M}–{times.close:%H:%M}"
        kind = "Muhurat " if session.kind.value == "muhurat" else ""
        segments[session.day, f"{kind}{hours}"].append(session.segment.value)
    return [
        f"{day:%a %d %b %Y} {what} ({', '.join(segs)})"
        for (day, what), segs in sorted(segments.items())
    ]


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown if len(items) <= _SHOWN else f"{shown} and {len(items) - _SHOWN} more"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
