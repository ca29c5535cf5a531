"""The calendar's exceptions: missing coverage and invalid data files."""

from __future__ import annotations


class CalendarError(Exception):
    """Base of every calendar error."""


class CalendarNotLoaded(CalendarError, LookupError):
    """A date in a year the calendar has no holiday list for: it fails closed, never guesses."""

    def __init__(self, year: int, exchange: str, covered: frozenset[int]) -> None:
        self.year = year
        covered_text = ", ".join(str(y) for y in sorted(covered)) or "none"
        super().__init__(
            f"calendar not loaded for {year} ({exchange}; covered years: {covered_text}). "
            f"Add the year's holidays and list {year} in 'covered_years' in a calendar "
            f"override file."
        )


class CalendarDataError(CalendarError, ValueError):
    """A calendar file that cannot be used; the message names the file and the field."""

    def __init__(self, origin: str, field: str, problem: str) -> None:
        self.origin = origin
        self.field = field
        super().__init__(f"{origin}: {field}: {problem}")
