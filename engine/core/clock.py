"""Clocks: the only source of 'now' in the engine, so tests and backtests control time."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")


class Clock(Protocol):
    def time_ns(self) -> int:
        """Epoch nanoseconds, UTC."""
        ...

    def now(self) -> datetime:
        """Aware datetime in IST, the exchange's zone."""
        ...


class LiveClock:
    def time_ns(self) -> int:
        return time.time_ns()

    def now(self) -> datetime:
        return datetime.now(IST)


class TestClock:
    """A clock that moves only when told to."""

    __test__ = False  # not a pytest test class

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("TestClock needs an aware datetime")
        self._ns = int(start.timestamp() * 1_000_000) * 1000

    def time_ns(self) -> int:
        return self._ns

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._ns / 1e9, tz=UTC).astimezone(IST)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not run backwards")
        self._ns += int(seconds * 1e9)

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("TestClock needs an aware datetime")
        ns = int(at.timestamp() * 1_000_000) * 1000
        if ns < self._ns:
            raise ValueError("time does not run backwards")
        self._ns = ns


def ist_date_of(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).astimezone(IST)


ONE_DAY = timedelta(days=1)


_IST_OFFSET_NS = 19_800 * 10**9  # +05:30, and India has no daylight saving
_DAY_NS = 86_400 * 10**9


def ist_today(clock: Clock) -> Callable[[], date]:
    """A cheap 'today in IST' for hot paths: builds a datetime only when the day changes."""
    cache: list[object] = [None, None]

    def today() -> date:
        day = (clock.time_ns() + _IST_OFFSET_NS) // _DAY_NS
        if cache[0] != day:
            cache[0], cache[1] = day, clock.now().date()
        return cache[1]  # type: ignore[return-value]

    return today
