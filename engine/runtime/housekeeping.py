"""The desk's once-a-second housekeeping: held journal rows tried again, the shared book's lease
kept, the position book's day, the paper venue's clock, the day-end marks, the health sample, the
scheduler, signal approval timeouts, multileg's square-off by the clock, the signal inbox.

The beat also watches the clock: a computer's clock set back (a wrong date typed, a clock put
right after it ran ahead, a resume that NTP then corrects) is said to the trader once, with what
the desk keeps and what goes by the clock as it is now.

Each part runs on its own: one part's fault is said once (not each second), with its traceback
in the log, and never stops the other parts nor the next second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from engine.core.clock import ist_today
from engine.domain.events import EngineMessage, Severity

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)

JOURNAL_RETRY_SECONDS = 0.9
"""Held journal rows are tried again at most this often in wall time (the beat is a second)."""

CLOCK_BACK_TOLERANCE = timedelta(seconds=5)
"""A clock set back by more than this is said to the trader (NTP's small corrections are not)."""


class Housekeeping:
    """The once-a-second work of one engine, and the faults of its parts."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._journal_tried = -JOURNAL_RETRY_SECONDS
        """When the held journal rows were last tried (monotonic seconds)."""
        self._faults: dict[str, str] = {}
        """The parts failing now, with their fault (each said once)."""
        self._failing: set[str] = set()
        """The parts that failed in this beat."""
        self._last_now: datetime | None = None
        """The clock at the last beat: a clock set back is seen against it."""
        # The book's day is the clock's: a new day's first fill before this beat's roll starts
        # that day, and a fill stamped after the clock's day counts in the clock's day.
        engine.positions.clock_day = ist_today(engine.clock)

    async def run(self, stop: asyncio.Event) -> None:
        """Beat once a second until ``stop``; a fault nobody foresaw is said, and the next
        second beats again."""
        while not stop.is_set():
            try:
                self.beat()
            except Exception as exc:
                self.failed("the once-a-second housekeeping", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                continue

    def beat(self) -> None:
        """One second's housekeeping."""
        engine = self._engine
        if engine.stopping:
            return
        if (book_file_news := engine.database.check_book_file()) is not None:
            engine.warn(book_file_news, "store")  # gone or replaced: the journal refuses writes
        journal_waiting = engine.orders.journal_waiting
        # A disk frees in real time: a replay's second passes faster than the wall's, and each
        # try on a full disk costs milliseconds.
        if journal_waiting and time.monotonic() - self._journal_tried >= JOURNAL_RETRY_SECONDS:
            self._journal_tried = time.monotonic()
            engine.orders.retry_journal()
        # Written out, not looped: a replay meets this once a bar.
        if engine.desk_lease is not None:
            try:
                if problem := engine.desk_lease.check():
                    engine.warn(problem, "store")
            except Exception as exc:
                self.failed("the desk's lease on the shared book", exc)
        now = engine.clock.now()
        self._clock_went_back(now)
        if engine.positions.roll(now.date()):
            log.info("the position book's day is now %s", now.date())
            engine.alerts.new_day()  # the day's P&L starts again: no cross from yesterday's
            if engine.risk is not None:
                # The book's day figures changed: the breakers' P&L lines follow now, not at
                # the next tick outside their band.
                engine.risk.breakers.day_mtm()
        if engine.venue is not None:
            try:
                engine.venue.on_clock(now)
            except Exception as exc:
                self.failed("the paper venue's clock (intraday square-off)", exc)
        try:
            engine.mark_day_end(now)
        except Exception as exc:
            self.failed("the day-end marks", exc)
        try:
            self._sample_health(now)
        except Exception as exc:
            self.failed("the health sample", exc)
        if engine.schedule is not None:
            try:
                engine.schedule.tick(now)
            except Exception as exc:
                self.failed("the scheduler", exc)
        try:
            engine.signals.expire()
        except Exception as exc:
            self.failed("the signals' approval timeouts", exc)
        try:
            engine.multileg.clock()  # the account's square-off time, whether its legs tick or not
        except Exception as exc:
            self.failed("multileg: the square-off by the clock", exc)
        if engine.signal_inbox is not None:
            try:
                engine.signal_inbox.poll()
            except Exception as exc:
                self.failed("the signal inbox", exc)
        if self._faults:
            # A part that worked this time is well again: a fault of it later is said again.
            self._faults = {k: v for k, v in self._faults.items() if k in self._failing}
            self._failing = set()

    def _clock_went_back(self, now: datetime) -> None:
        """Say it when the clock went back since the last beat by more than the tolerance:
        once for each step back (the next beats go on from the new time)."""
        last, self._last_now = self._last_now, now
        if last is None or last - now <= CLOCK_BACK_TOLERANCE:
            return
        text = (
            f"The computer's clock went back {_span(last - now)}, from {last:%a %d %b %H:%M:%S} "
            f"IST to {now:%a %d %b %H:%M:%S} IST. The desk keeps today's P&L, the daily loss "
            "limit's count and any tripped breaker; the schedule goes by the clock as it is now "
            "(a job recorded for a later day runs again on that day). Fills and orders are "
            "stamped with the computer's time: set its date and time right (automatic time) "
            "before trading on."
        )
        log.warning("%s", text)
        engine = self._engine
        engine.bus.publish(EngineMessage(engine.clock.time_ns(), Severity.WARNING, text, "engine"))

    def failed(self, what: str, exc: Exception) -> None:
        """Say a part's fault once (not each second), with its traceback in the log."""
        fault = f"{type(exc).__name__}: {exc}"
        self._failing.add(what)
        if self._faults.get(what) == fault:
            return
        self._faults[what] = fault
        log.error("housekeeping: %s failed", what, exc_info=exc)
        text = f"{what} failed ({fault}); the rest of the desk's once-a-second work goes on"
        engine = self._engine
        engine.bus.publish(EngineMessage(engine.clock.time_ns(), Severity.WARNING, text, "engine"))

    def _sample_health(self, now: datetime) -> None:
        engine = self._engine
        # A simulated market kept open ticks at any hour: silence is stale whatever NSE's clock.
        market_open = (
            engine.config.always_open or engine.sessions is None or engine.sessions.is_open(now)
        )
        engine.api.health_service.sample(engine.ticks_seen, market_open)
        if engine.alerts.has_pnl_rules:
            engine.alerts.check_pnl(engine.api.day_pnl())


def _span(step: timedelta) -> str:
    """A step of the clock in words: "1 day 2 h", "3 h 5 min", "42 s"."""
    seconds = int(step.total_seconds())
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes and not days else []
    parts += [f"{seconds} s"] if seconds and not (days or hours) else []
    return " ".join(parts) or "under a second"
