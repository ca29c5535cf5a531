"""Time to expiry as a year fraction, to the minute, for the option maths.

NSE index and stock options expire at the close of the F&O normal market on the expiry date, and
that close is whatever the market calendar says for the date (its F&O timetable moved the close
later on 3 Aug 2026; a full-day special session can have its own hours). :func:`expiry_moment` is
the one place the desk turns an expiry date into a moment: Greeks, chains, payoff and margin all
count to it. Two bases:

- ``calendar`` (the default, as India VIX): the minutes left until the expiry moment over the
  minutes of a 365-day year (525,600). Weekends and holidays decay like any day.
- ``trading``: the normal-market time left, session by session from the market calendar, in
  trading days over 252 a year. A session counts as one day, a part of one by its share of the
  session's minutes; a special session shorter than 375 minutes (Muhurat) by its minutes over 375.
  Time stands still while the market is shut, so a weekly's IV does not sag over a weekend; theta
  is then per trading day (pass ``days_per_year=252`` to :func:`engine.options.greeks`).

Given no calendar, both use the packaged NSE calendar (:func:`engine.calendar.packaged_calendar`).

Recompute on every tick burst: a weekly option's year fraction moves by a fraction of a percent
a minute on its last day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from engine.calendar import packaged_calendar
from engine.core.clock import IST

__all__ = [
    "CALENDAR_MINUTES_PER_YEAR",
    "TRADING_DAYS_PER_YEAR",
    "SessionCalendar",
    "TimeBasis",
    "expiry_moment",
    "years_to_expiry",
]

CALENDAR_MINUTES_PER_YEAR = 365 * 24 * 60
TRADING_SESSION_MINUTES = 375
TRADING_DAYS_PER_YEAR = 252
_SESSION_SECONDS = TRADING_SESSION_MINUTES * 60.0


class TimeBasis(StrEnum):
    CALENDAR = "calendar"
    """ACT/365 in minutes to the expiry moment."""
    TRADING = "trading"
    """Normal-market sessions left (parts by their minutes), over 252 a year."""


class _Session(Protocol):
    @property
    def open(self) -> datetime: ...

    @property
    def close(self) -> datetime: ...


class SessionCalendar(Protocol):
    """What the option maths needs of ``engine.calendar.MarketCalendar``."""

    def sessions(self, start: date, end: date, segment: str = ...) -> Sequence[_Session]: ...

    def expiry_close(self, day: date) -> datetime: ...


def expiry_moment(expiry: date, calendar: SessionCalendar | None = None) -> datetime:
    """The aware moment an option expiring on ``expiry`` stops trading: the F&O close that day.

    ``calendar`` defaults to the packaged NSE calendar; on a date without an F&O session the close
    comes from the calendar's timetable in force on that date.
    """
    return (calendar or packaged_calendar()).expiry_close(expiry)


def years_to_expiry(
    now: datetime,
    expiry: date,
    *,
    basis: TimeBasis | str = TimeBasis.CALENDAR,
    calendar: SessionCalendar | None = None,
) -> float:
    """Year fraction from ``now`` to the expiry moment; ≤ 0 once the option has expired.

    Expired, the calendar basis is negative by the time since expiry and the trading basis 0.

    ``now`` must be timezone-aware. ``calendar`` (an ``engine.calendar.MarketCalendar``)
    defaults to the packaged NSE calendar; the trading basis raises what it raises for years it
    has no holiday list for, rather than guessing.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"years_to_expiry needs an aware datetime, got {now!r}")
    basis = TimeBasis(basis)
    if calendar is None:
        calendar = packaged_calendar()
    end = calendar.expiry_close(expiry)
    if basis is TimeBasis.CALENDAR:
        return (end - now).total_seconds() / 60.0 / CALENDAR_MINUTES_PER_YEAR
    if end <= now:
        return 0.0
    days = 0.0
    for session in calendar.sessions(now.astimezone(IST).date(), expiry, "FO"):
        start, stop = max(session.open, now), min(session.close, end)
        if stop > start:
            length = max((session.close - session.open).total_seconds(), _SESSION_SECONDS)
            days += (stop - start).total_seconds() / length
    return days / TRADING_DAYS_PER_YEAR
