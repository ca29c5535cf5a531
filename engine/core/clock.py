"""Clocks: the only source of 'now' in the engine, so tests and backtests control time."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
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
        self._now: tuple[int, datetime] | None = None
        """The last ``now`` and its moment: a replay asks it many times a moment."""

    def time_ns(self) -> int:
        return self._ns

    def now(self) -> datetime:
        ns = self._ns
        last = self._now
        if last is None or last[0] != ns:
            last = self._now = (ns, datetime.fromtimestamp(ns / 1e9, tz=IST))
        return last[1]

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
    return datetime.fromtimestamp(ns / 1e9, tz=IST)


ONE_DAY = timedelta(days=1)


_IST_OFFSET_NS = 19_800 * 10**9  # +05:30, and India has no daylight saving
_DAY_NS = 86_400 * 10**9


def ist_today(clock: Clock) -> Callable[[], date]:
    """A cheap 'today in IST' for hot paths: builds a datetime only when the day changes."""
    cache: list[object] = [None, None]

    def today() -> date:
        day = ist_day_number(clock.time_ns())
        if cache[0] != day:
            cache[0], cache[1] = day, clock.now().date()
        return cache[1]  # type: ignore[return-value]

    return today


class SimulatedTimer:
    """A timer set on a ``SimulatedClock``; ``cancel`` stops it firing."""

    __slots__ = ("callback", "cancelled", "due_ns")

    def __init__(self, due_ns: int, callback: Callable[[], None]) -> None:
        self.due_ns = due_ns
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class SimulatedClock(TestClock):
    """Time that moves only when the data moves it: a backtest's replay, or the simulated market
    run as fast as it computes. Timers set on it (a strategy's ``every``, the desk's once-a-second
    housekeeping) fire at their own moments as it passes them, in time order, with the clock
    showing their moment, so a run gives the same events however fast it goes.

    Time never runs backwards: moving to an earlier moment (a tick stamped a little before the
    last one) leaves the clock where it is."""

    __test__ = False

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._timers: list[tuple[int, int, SimulatedTimer]] = []
        self._order = 0
        self._target_ns = self._ns

    def call_later(self, seconds: float, callback: Callable[[], None]) -> SimulatedTimer:
        """Call ``callback`` once ``seconds`` of clock time from now."""
        if not seconds >= 0:
            raise ValueError(f"a timer needs a number of seconds >= 0, not {seconds!r}")
        timer = SimulatedTimer(self._ns + int(seconds * 1e9), callback)
        self._order += 1
        heapq.heappush(self._timers, (timer.due_ns, self._order, timer))
        return timer

    def every(self, seconds: float, callback: Callable[[], None]) -> SimulatedTimer:
        """Call ``callback`` every ``seconds`` of clock time; the handle cancels all of them."""
        if not seconds > 0:
            raise ValueError(f"a repeating timer needs positive seconds, not {seconds!r}")
        step = int(seconds * 1e9)
        handle = SimulatedTimer(self._ns + step, callback)
        # One entry on the heap, set again for its next moment each time it fires.
        entry = SimulatedTimer(handle.due_ns, lambda: None)

        def fire() -> None:
            if handle.cancelled:
                return
            # Time that jumps (a night, a quiet minute of a replay) fires a repeating timer once,
            # as a late wake-up on a real loop does: its next moment is the first after the jump.
            due = self._ns + step
            if due <= self._target_ns:
                due += (self._target_ns - due) // step * step + step
            entry.due_ns = due
            self._push(entry)
            callback()

        entry.callback = fire
        self._push(entry)
        return handle

    def advance_to(self, ns: int) -> None:
        """Move to epoch ``ns``, firing every timer due on the way (no-op if ``ns`` is past)."""
        timers = self._timers
        self._target_ns = ns
        while timers and timers[0][0] <= ns:
            due, _order, timer = heapq.heappop(timers)
            if timer.cancelled:
                continue
            if due > self._ns:
                self._ns = due
            timer.callback()
        if ns > self._ns:
            self._ns = ns

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not run backwards")
        self.advance_to(self._ns + int(seconds * 1e9))

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("SimulatedClock needs an aware datetime")
        ns = int(at.timestamp() * 1_000_000) * 1000
        if ns < self._ns:
            raise ValueError("time does not run backwards")
        self.advance_to(ns)

    @property
    def pending_timers(self) -> int:
        return sum(1 for _due, _order, timer in self._timers if not timer.cancelled)

    def _push(self, timer: SimulatedTimer) -> None:
        self._order += 1
        heapq.heappush(self._timers, (timer.due_ns, self._order, timer))


def next_ist_midnight_ns(ns: int) -> int:
    """Epoch nanoseconds of the first IST midnight after ``ns``."""
    return (ist_day_number(ns) + 1) * _DAY_NS - _IST_OFFSET_NS


def ist_day_number(ns: int) -> int:
    """The IST day a moment falls on, as a count of days: cheap to compare on a hot path."""
    return (ns + _IST_OFFSET_NS) // _DAY_NS
