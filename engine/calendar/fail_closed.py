"""A calendar view for the trading path: whatever the calendar cannot answer means "closed",
never a crash.

A year without a holiday list is provisional (weekday sessions) in the calendar itself; this view
remains the guard for anything else it refuses, since the venue and the simulated market ask
``is_open`` many times a second and must keep running. It logs such a refusal once per year.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from engine.calendar.errors import CalendarNotLoaded
from engine.calendar.market_calendar import MarketCalendar
from engine.calendar.session import Session

log = logging.getLogger(__name__)


class FailClosedCalendar:
    def __init__(self, calendar: MarketCalendar) -> None:
        self.calendar = calendar
        self._warned: set[int] = set()

    def is_open(self, at: datetime, segment: str = "FO") -> bool:
        try:
            return self.calendar.is_open(at, segment)
        except CalendarNotLoaded as missing:
            if at.year not in self._warned:
                self._warned.add(at.year)
                log.error("treating the market as closed: %s", missing)
            return False

    def weekly_expiries(self, after: date, count: int, *, provisional: bool = False) -> list[date]:
        return self.calendar.weekly_expiries(after, count, provisional=provisional)

    def monthly_expiries(self, after: date, count: int, *, provisional: bool = False) -> list[date]:
        return self.calendar.monthly_expiries(after, count, provisional=provisional)

    def sessions(self, start: date, end: date, segment: str = "FO") -> list[Session]:
        return self.calendar.sessions(start, end, segment)

    def expiry_close(self, day: date) -> datetime:
        return self.calendar.expiry_close(day)
