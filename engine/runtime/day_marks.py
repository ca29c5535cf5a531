"""The prices a desk's P&L is stated at, journaled: when the market closes for the day (on a desk
that saw it open) and when the desk closes, so every P&L figure can be rebuilt from the book."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from engine.calendar.fail_closed import FailClosedCalendar
from engine.core.clock import Clock
from engine.domain.ids import InstrumentToken
from engine.domain.marks import DAY_END, PnlMarks, marks_of
from engine.domain.positions import PositionBook
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.quotes import QuoteCache
from engine.store import Journal, JournalWriteError


class DayMarks:
    def __init__(
        self,
        *,
        positions: PositionBook,
        quotes: QuoteCache,
        registry: InstrumentRegistry,
        journal: Journal,
        clock: Clock,
        sessions: FailClosedCalendar | None,
        warn: Callable[[str, str], None],
    ) -> None:
        self._positions = positions
        self._quotes = quotes
        self._registry = registry
        self._journal = journal
        self._clock = clock
        self._sessions = sessions
        """None on a desk whose market never closes (kept open): no day end to mark."""
        self._warn = warn
        self._market_was_open = False

    def mark_day_end(self, now: datetime) -> None:
        """Journal the day's closing marks as the market closes on a desk that saw it open, so
        the day's P&L stands rebuildable from the book."""
        if self._sessions is None:
            return
        is_open = self._sessions.is_open(now, "CM") or self._sessions.is_open(now, "FO")
        if self._market_was_open and not is_open and self._positions.all():
            self.record(DAY_END)
        self._market_was_open = is_open

    def now(self, reason: str) -> PnlMarks:
        """The prices every position is marked at now, journaled nowhere (empty when nothing is
        held)."""

        def symbol(token: InstrumentToken) -> str:
            instrument = self._registry.find(token)
            return "" if instrument is None else instrument.tradingsymbol

        return marks_of(
            self._positions.all(),
            self._quotes.get,
            ts_ns=self._clock.time_ns(),
            reason=reason,
            trade_date=self._positions.today,
            symbol=symbol,
        )

    def record(self, reason: str) -> tuple[PnlMarks, int | None]:
        """Journal the prices every position is marked at now, so the P&L stated at them can be
        rebuilt from the book alone; returns the marks and their journal row (None, and the
        trader told, when the journal did not take it)."""
        marks = self.now(reason)
        try:
            seq = self._journal.append(
                PnlMarks.kind, marks.to_payload(), order_id=None, ts_ns=marks.ts_ns
            )
        except JournalWriteError as exc:
            self._warn(
                f"the prices of the {reason.replace('_', ' ')} P&L were not journaled: {exc}",
                "store",
            )
            return marks, None
        return marks, seq
