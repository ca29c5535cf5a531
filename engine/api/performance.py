"""Performance of the desk's live and paper days: per strategy, per symbol, per day, with each
owner's equity, drawdown, trades and metrics, and the HTML report of one of them.

Everything is read from the book's journal (``engine.backtest.performance``), marked at the live
quotes; the capital the returns are measured against is the risk limits' capital. Reading a long
journal takes a moment: panels ask on demand (a button, a throttled refresh), never per tick.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

from engine.api.parts import Service
from engine.backtest.metrics import EquityCurve, Metrics, daily_pnl, drawdown_series
from engine.backtest.performance import (
    DEFAULT_CAPITAL,
    DESK,
    DayRow,
    Performance,
    PnlRow,
    track,
)
from engine.backtest.report import ReportView, report_html
from engine.backtest.report_svg import session_positions
from engine.backtest.trades import Trade
from engine.domain.ids import InstrumentToken
from engine.store.book import scan_journal
from engine.store.files import write_whole
from engine.store.journal import JournalEntry

__all__ = [
    "DESK",
    "DayRow",
    "EquityCurve",
    "Metrics",
    "Performance",
    "PerformanceService",
    "PnlRow",
    "Trade",
    "daily_pnl",
    "drawdown_series",
    "session_positions",
]

log = logging.getLogger(__name__)


class PerformanceService(Service):
    def performance(self, capital: Decimal | None = None) -> Performance:
        """Every owner's figures from the journal, marked at the quotes now. A desk without a
        journal (some tests) has none: an empty ``Performance``."""
        journal = self._parts.journal
        entries: list[JournalEntry] = []
        if journal is not None and not journal.closed:
            # The rows the desk itself restores from: set-aside (quarantined) rows left out.
            entries = scan_journal(journal, record=False).entries
        registry = self.instruments

        def symbol_of(token: InstrumentToken) -> str:
            instrument = registry.find(token)
            return instrument.tradingsymbol if instrument is not None else str(token)

        def last_price(token: InstrumentToken) -> int | None:
            tick = self._quotes.get(token)
            return None if tick is None else tick.ltp

        return track(
            entries,
            symbol_of=symbol_of,
            capital=capital if capital is not None else self.capital(),
            last_prices=last_price,
            now_ns=int(self._parts.now().timestamp() * 1e9),
        )

    def capital(self) -> Decimal:
        """The capital returns are measured against: the risk limits' (the default without a
        risk layer)."""
        if self._risk is None:
            return DEFAULT_CAPITAL
        return self._risk.settings.defaults.capital

    def performance_report(
        self, owner: str = DESK, performance: Performance | None = None, title: str = ""
    ) -> str:
        """One owner's report as a self-contained HTML page (``DESK``: the whole desk)."""
        performance = performance or self.performance()
        if owner != DESK and owner not in performance.owners:
            raise ValueError(f"no fills of {owner!r} in the journal")
        view = ReportView.of(performance, owner)
        return report_html(view, title or f"DalalDesk performance — {owner}")

    def export_performance_report(
        self, path: Path | str, owner: str = DESK, performance: Performance | None = None
    ) -> str | None:
        """Write the report to ``path``; None when written, else why not, in words."""
        try:
            html = self.performance_report(owner, performance)
        except ValueError as problem:
            return str(problem)
        target = Path(path)
        try:
            write_whole(target, html)
        except OSError as problem:
            log.warning("performance report not written to %s: %s", target, problem)
            return f"the report could not be written to {target}: {problem.strerror or problem}"
        return None
