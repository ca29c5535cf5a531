"""A finished backtest measured as the performance report measures it: CAGR, Sharpe, Sortino,
Calmar, the drawdown, the trades' win rate, expectancy and profit factor, charges and slippage.

The figures are worked out in the run's own process (``BacktestService.run_measured``), where
reading a long run's journal holds no window up: the run's equity curve (its net P&L every
``equity_every_seconds`` of market time) on the capital its risk gate traded, and the round trips
of the fills its journal keeps, each with its charges and its order's arrival price. The page
itself (``report_html``) is made only when the trader exports it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from engine.backtest.metrics import EquityCurve, Metrics, compute_metrics
from engine.backtest.performance import DESK, track
from engine.backtest.report import ReportView
from engine.backtest.results import BacktestResult
from engine.backtest.run import BacktestRequest
from engine.domain.ids import InstrumentToken
from engine.marketdata.recording import Recording, RecordingError
from engine.risk.limits import RiskSettings
from engine.store.pnl_rebuild import read_sqlite_book

log = logging.getLogger(__name__)

__all__ = ["Metrics", "RunReport", "measure_run"]

_OWNER = "backtest"
"""The report's owner line for a run without a strategy of the catalogue (a portfolio, an algo,
alerts)."""


@dataclass(frozen=True, slots=True)
class RunReport:
    """A run and its figures as the performance report gives them (``measure_run``)."""

    result: BacktestResult
    view: ReportView | None
    """The report's figures, curves and trades; None when the run had nothing to measure."""
    capital: Decimal
    """What the returns are measured against: the capital the run's risk gate traded."""
    note: str = ""
    """What the figures lack, in words ('' when nothing): why there are none, or why the
    trades could not be read from the run's journal."""

    @property
    def metrics(self) -> Metrics | None:
        return None if self.view is None else self.view.metrics

    @property
    def title(self) -> str:
        return f"DalalDesk backtest — {self.result.name}"


def measure_run(result: BacktestResult, request: BacktestRequest) -> RunReport:
    """The run's figures as its report gives them: its equity (net P&L every
    ``equity_every_seconds`` of market time) on the capital its risk gate traded, and the trades
    (round trips) of its own journal, with each fill's charges, its order's arrival price for
    slippage and the recording's symbols. Never raises: the run's result is the trader's whether
    or not it can be measured, and what cannot be is said in the report's ``note`` (and the
    log)."""
    capital = RiskSettings().defaults.capital
    try:
        if request.risk is not None:
            capital = RiskSettings.from_mapping(request.risk).defaults.capital
        return _measured(result, request, capital)
    except Exception as problem:  # a fault here must not cost the trader the run's result
        log.exception("backtest %s could not be measured", result.name)
        return RunReport(result, None, capital, f"it could not be measured: {problem}")


def _measured(result: BacktestResult, request: BacktestRequest, capital: Decimal) -> RunReport:
    if not result.equity:
        return RunReport(result, None, capital, "it ended before its equity was first marked")
    # The curve starts at the capital, at the run's first fill or mark, whichever came first.
    start_ns = min([result.equity[0][0], *(fill[0] for fill in result.trades[:1])])
    curve = EquityCurve.of(
        [(start_ns, capital), *((ts, capital + pnl) for ts, pnl in result.equity)]
    )
    owner = result.strategy or _OWNER
    try:
        entries = read_sqlite_book(result.book).entries
    except (OSError, sqlite3.Error) as problem:  # the curve's figures stand without the trades
        log.warning("the journal of backtest %s does not read: %s", result.name, problem)
        metrics = compute_metrics(curve, (), charges=result.charges, slippage_measured=False)
        note = f"its trades are not counted: its journal {result.book} does not read ({problem})"
        return RunReport(result, ReportView(owner, metrics, curve, ()), capital, note)
    performance = track(entries, symbol_of=_recorded_symbols(request), capital=capital)
    # Charges and slippage of every fill, the lots still open at the end included.
    of_fills = performance.metrics(DESK)
    trades = performance.trades(DESK)
    metrics = compute_metrics(
        curve,
        trades,
        charges=result.charges,
        slippage=of_fills.slippage,
        slippage_measured=of_fills.slippage_measured,
    )
    view = ReportView(
        owner,
        metrics,
        curve,
        trades,
        owners=performance.strategies(),
        symbols=performance.symbols(),
    )
    return RunReport(result, view, capital)


def _recorded_symbols(request: BacktestRequest) -> Callable[[InstrumentToken], str]:
    """An instrument's trading symbol as the run's recording lists it (its token where none
    does), reading the recorded days' listings only as far as needed."""
    names: dict[int, str] = {}
    days = iter(Recording(request.recording).days(request.start, request.end))

    def symbol_of(token: InstrumentToken) -> str:
        while int(token) not in names:
            day = next(days, None)
            if day is None:
                return str(token)
            try:
                listed = day.instruments()
            except (OSError, RecordingError, ValueError) as problem:
                log.warning("the instruments of %s do not read: %s", day.folder, problem)
                continue
            for instrument in listed:
                names.setdefault(int(instrument.token), instrument.tradingsymbol)
        return names[int(token)]

    return symbol_of
