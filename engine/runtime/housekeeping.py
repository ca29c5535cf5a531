"""The desk's once-a-second housekeeping: held journal rows tried again, the shared book's lease
kept, the paper venue's clock, the day-end marks, the health sample, the scheduler, signal
approval timeouts, multileg's square-off by the clock, the signal inbox.

Each part runs on its own: one part's fault is said once (not each second), with its traceback
in the log, and never stops the other parts nor the next second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING

from engine.domain.events import EngineMessage, Severity

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)

JOURNAL_RETRY_SECONDS = 0.9
"""Held journal rows are tried again at most this often in wall time (the beat is a second)."""


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
        if engine.positions.roll(now.date()):
            log.info("a new trading day, %s: positions carried in", now.date())
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
