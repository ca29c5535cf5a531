"""When the schedule's jobs are due: the trading days and their hours from the market calendar,
and each job's time as a distance from that day's open or close (or a time of day).

The calendar names every trading day, a special session on a Sunday included, and each day's
session; so the times are read off it rather than from cron rules, whose weekday mask the
calendar overrules (``engine.runtime.scheduler`` says more). Split from the scheduler to keep
each module readable in one sitting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from engine.calendar import CalendarError, CalendarSegment, MarketCalendar
from engine.core.clock import IST

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

SEGMENTS = (CalendarSegment.CM, CalendarSegment.FO)
"""The segments whose sessions make the desk's trading day."""

DAYS_AHEAD = 31
"""How far ahead a job's next trading day is looked for (longer than any run of closed days)."""


@dataclass(frozen=True, slots=True)
class TradingDay:
    """One trading day's hours as the schedule reads them from the cash and F&O sessions."""

    day: date
    open: datetime
    """The first segment's open."""
    close: datetime
    """The first segment's close: intraday positions are squared off before it."""
    last_close: datetime
    """The last segment's close: after it the day's trading is over (F&O at 15:40 from Aug 2026)."""

    @classmethod
    def on(cls, calendar: MarketCalendar, day: date) -> TradingDay | None:
        """The day's hours, or None when no segment trades (a weekend, a holiday)."""
        sessions = [
            session
            for segment in SEGMENTS
            if (session := calendar.session_times(day, segment)) is not None
        ]
        if not sessions:
            return None
        closes = [session.close for session in sessions]
        return cls(day, min(session.open for session in sessions), min(closes), max(closes))


class Anchor(StrEnum):
    """What a job's time is counted from on its trading day."""

    OPEN = "open"
    CLOSE = "close"
    MIDNIGHT = "midnight"
    """A time of day, whatever the session."""


@dataclass(frozen=True, slots=True)
class JobTime:
    """When on a trading day: a distance from the day's open, its close, or midnight (IST)."""

    anchor: Anchor
    offset: timedelta
    after_close: timedelta | None = None
    """If set, never earlier than this long after the last segment's close (a job for the day's
    finished trading)."""

    @classmethod
    def from_open(cls, minutes: int) -> JobTime:
        return cls(Anchor.OPEN, timedelta(minutes=minutes))

    @classmethod
    def from_close(cls, minutes: int, *, after_close: timedelta | None = None) -> JobTime:
        return cls(Anchor.CLOSE, timedelta(minutes=minutes), after_close)

    @classmethod
    def of_day(cls, at: str, *, after_close: timedelta | None = None) -> JobTime:
        """``at`` as ``HH:MM`` IST."""
        hour, minute = (int(part) for part in at.split(":"))
        return cls(Anchor.MIDNIGHT, timedelta(hours=hour, minutes=minute), after_close)

    def on(self, day: TradingDay) -> datetime:
        if self.anchor is Anchor.OPEN:
            start = day.open
        elif self.anchor is Anchor.CLOSE:
            start = day.close
        else:
            start = datetime.combine(day.day, time.min, tzinfo=IST)
        moment = start + self.offset
        if self.after_close is not None:
            moment = max(moment, day.last_close + self.after_close)
        return moment


@dataclass(frozen=True, slots=True)
class Window:
    """A job's time on one trading day, and the last moment it still runs for that day."""

    day: date
    at: datetime
    until: datetime


@dataclass(frozen=True, slots=True)
class DailyJob:
    """A job of the desk's day: when, for how long it may still start late, and what it does."""

    name: str
    at: JobTime
    grace: timedelta
    """How late after its time the job still runs (a desk opened late)."""
    run: Callable[[Engine, datetime], str]
    """Does the job; returns what happened, in words."""
    until: JobTime | None = None
    """The latest it still runs, when that comes before the grace ends (a job for the session
    not after the session; a job for the day not after the day)."""
    retry: bool = False
    """A failed run is tried again within the grace: only for a job whose second run does no harm
    (never the square-off or the portfolios' start)."""

    def window(self, calendar: MarketCalendar, day: date) -> Window | None:
        """The job's time on ``day`` and the end of its grace, or None on a day without trading."""
        hours = TradingDay.on(calendar, day)
        if hours is None:
            return None
        at = self.at.on(hours)
        until = at + self.grace
        if self.until is not None:
            until = min(until, self.until.on(hours))
        return Window(day, at, until)

    def next_window(
        self, calendar: MarketCalendar, after: datetime, *, running: bool = False
    ) -> Window:
        """The first window on a trading day whose time is at or after ``after`` (with
        ``running``: whose grace has not ended by ``after``)."""
        day = after.astimezone(IST).date()
        for _ in range(DAYS_AHEAD + 1):
            window = self.window(calendar, day)
            if window is not None and (window.until if running else window.at) >= after:
                return window
            day += timedelta(days=1)
        raise CalendarError(f"no trading day for {self.name} within {DAYS_AHEAD} days of {after}")
