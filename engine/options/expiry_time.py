"""Time to expiry as a year fraction, to the minute, for the option maths.

NSE index and stock options expire at the close of the normal market, 15:30 IST, on the expiry
date. Two bases:

- ``calendar`` (the default, as India VIX): the minutes left until 15:30 IST on the expiry
  date over the minutes of a 365-day year (525,600). Weekends and holidays decay like any day.
- ``trading``: the normal-market time left, session by session from the market calendar, in
  trading days over 252 a year. A session counts as one day (09:15–15:30, or 09:15–15:40 for
  F&O from 3 Aug 2026), a part of one by its share of the minutes; a short special session
  (Muhurat) by its minutes over 375. Time stands still while the market is shut, so a weekly's
  IV does not sag over a weekend; theta is then per trading day (pass ``days_per_year=252`` to
  :func:`engine.options.greeks`).

The expiry moment defaults to 15:30 IST, the close of the normal market that options_math.md
and DESIGN.md name (and the simulated market uses); ``expiry_time`` overrides it.

Recompute on every tick burst: a weekly option's year fraction moves by a fraction of a percent
a minute on its last day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from enum import StrEnum
from typing import Protocol

from engine.core.clock import IST

__all__ = [
    "CALENDAR_MINUTES_PER_YEAR",
    "EXPIRY_TIME",
    "TRADING_DAYS_PER_YEAR",
    "SessionCalendar",
    "TimeBasis",
    "expiry_moment",
    "years_to_expiry",
]

EXPIRY_TIME = time(15, 30)
"""Options expire at the close of the normal market, IST."""
CALENDAR_MINUTES_PER_YEAR = 365 * 24 * 60
TRADING_SESSION_MINUTES = 375
TRADING_DAYS_PER_YEAR = 252
_SESSION_SECONDS = TRADING_SESSION_MINUTES * 60.0


class TimeBasis(StrEnum):
    CALENDAR = "calendar"
    """ACT/365 in minutes to 15:30 IST on the expiry date."""
    TRADING = "trading"
    """Normal-market sessions left (parts by their minutes), over 252 a year."""


class _Session(Protocol):
    @property
    def open(self) -> datetime: ...

    @property
    def close(self) -> datetime: ...


class SessionCalendar(Protocol):
    """What the trading basis needs of ``engine.calendar.MarketCalendar``."""

    def sessions(self, start: date, end: date, segment: str = ...) -> Sequence[_Session]: ...


def expiry_moment(expiry: date, expiry_time: time = EXPIRY_TIME) -> datetime:
    """The aware moment an option expiring on ``expiry`` stops trading (15:30 IST)."""
    return datetime.combine(expiry, expiry_time, tzinfo=IST)


def years_to_expiry(
    now: datetime,
    expiry: date,
    *,
    basis: TimeBasis | str = TimeBasis.CALENDAR,
    calendar: SessionCalendar | None = None,
    expiry_time: time = EXPIRY_TIME,
) -> float:
    """Year fraction from ``now`` to the expiry; ≤ 0 once the option has expired.

    Expired, the calendar basis is negative by the time since expiry and the trading basis 0.

    ``now`` must be timezone-aware. The trading basis needs ``calendar`` (an
    ``engine.calendar.MarketCalendar``), and raises what it raises for years it has no
    holiday list for, rather than guessing.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"years_to_expiry needs an aware datetime, got {now!r}")
    basis = TimeBasis(basis)
    end = expiry_moment(expiry, expiry_time)
    if basis is TimeBasis.CALENDAR:
        return (end - now).total_seconds() / 60.0 / CALENDAR_MINUTES_PER_YEAR
    if calendar is None:
        raise ValueError("the trading-time basis needs a market calendar")
    if end <= now:
        return 0.0
    days = 0.0
    for session in calendar.sessions(now.astimezone(IST).date(), expiry, "FO"):
        start, stop = max(session.open, now), min(session.close, end)
        if stop > start:
            length = max((session.close - session.open).total_seconds(), _SESSION_SECONDS)
            days += (stop - start).total_seconds() / length
    return days / TRADING_DAYS_PER_YEAR
