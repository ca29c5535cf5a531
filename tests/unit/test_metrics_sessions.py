"""The metrics count every trading session a record spans, not only the days it has points on
(a strategy that trades on Mondays is not a year of Mondays), keep the days a simulated market
trades at weekends, and a record without a loss reads as such in the report."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from engine.backtest.metrics import EquityCurve, compute_metrics
from engine.backtest.report import ReportView, report_html
from engine.backtest.trades import TradeFill, round_trips
from engine.calendar import packaged_calendar
from engine.core.clock import IST
from engine.domain.ids import InstrumentToken
from engine.domain.orders import Side


def _ns(when: datetime) -> int:
    return int(when.timestamp()) * 10**9


def _mondays(weeks: int) -> EquityCurve:
    """A strategy that wins ₹2,000 every Monday (its only day with a point) from 5 Jan 2026."""
    stamps, values = [], []
    equity = Decimal(1_000_000)
    day = date(2026, 1, 5)
    stamps.append(_ns(datetime(2026, 1, 5, 9, 20, tzinfo=IST)))
    values.append(equity)
    for week in range(weeks):
        monday = day + timedelta(weeks=week)
        if not packaged_calendar().is_trading_day(monday):
            continue  # a holiday Monday: the market is shut, nothing happens
        equity += 2000 + (week % 3) * 700
        stamps.append(_ns(datetime.combine(monday, datetime.min.time(), IST) + timedelta(hours=15)))
        values.append(equity)
    return EquityCurve(stamps, values)


def test_metrics_when_a_strategy_trades_only_on_mondays_count_every_trading_session() -> None:
    curve = _mondays(30)
    metrics = compute_metrics(curve, periods_per_year=250)

    # Independently: the daily closes reindexed onto NSE's sessions, carried forward.
    first = date(2026, 1, 5)
    last = datetime.fromtimestamp(int(curve.ts_ns[-1]) / 1e9, IST).date()
    sessions = [s.open.date() for s in packaged_calendar().sessions(first, last)]
    frame = pd.Series(
        [float(v) for v in curve.values],
        index=pd.to_datetime(curve.ts_ns, utc=True).tz_convert("Asia/Kolkata"),
    )
    closes = frame.groupby(frame.index.date).last()
    daily = closes.reindex(sessions).ffill()
    series = pd.concat([pd.Series([float(curve.start)]), daily.reset_index(drop=True)])
    returns = series.pct_change().dropna().to_numpy()

    assert metrics.days == len(sessions) == len(returns)
    assert 135 <= metrics.days <= 146  # ~29 weeks of sessions less the holidays, not 30 Mondays
    cagr = (float(curve.end) / float(curve.start)) ** (250 / len(returns)) - 1
    assert metrics.cagr == pytest.approx(cagr, rel=1e-9)
    assert metrics.cagr is not None and metrics.cagr < 0.2  # counted over Mondays: above 60 %
    sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(250)
    assert metrics.sharpe == pytest.approx(sharpe, rel=1e-9)
    # Idle sessions are days of no change: no day fell, so Sortino is unbounded, and said so.
    assert metrics.sortino is None and metrics.sortino_unbounded


def test_metrics_when_the_market_trades_at_weekends_keep_those_days() -> None:
    # A simulated market open every day: a point each calendar day, weekends included.
    start = datetime(2026, 3, 2, 12, 0, tzinfo=IST)  # a Monday
    rng = np.random.default_rng(7)
    values = [Decimal(100_000) + Decimal(int(x)) for x in rng.normal(0, 500, 28).cumsum()]
    curve = EquityCurve([_ns(start + timedelta(days=i)) for i in range(28)], values)

    metrics = compute_metrics(curve)

    assert metrics.days == 28  # 20 sessions and the 8 weekend days it traded on
    returns = np.array([float(v) for v in values])
    returns = np.diff(np.concatenate(([returns[0]], returns))) / np.concatenate(
        ([returns[0]], returns[:-1])
    )
    assert metrics.sharpe == pytest.approx(
        returns.mean() / returns.std(ddof=1) * math.sqrt(250), rel=1e-9
    )


def test_report_when_a_record_has_no_loss_says_no_drawdown_and_unbounded_ratios() -> None:
    monday = datetime(2026, 1, 5, 10, 0, tzinfo=IST)
    token = InstrumentToken(1)
    fills, points, equity = [], [(_ns(monday), Decimal(1_000_000))], Decimal(1_000_000)
    for day in range(3):
        buy, sell = monday + timedelta(days=day), monday + timedelta(days=day, hours=1)
        fills.append(TradeFill(_ns(buy), token, Side.BUY, 10, 10_000, Decimal(1)))
        fills.append(TradeFill(_ns(sell), token, Side.SELL, 10, 10_500, Decimal(1)))
        equity += 48
        points.append((_ns(sell), equity))
    view = ReportView.of_run(EquityCurve.of(points), round_trips(fills).trades)
    html = report_html(view, "winners")

    def cell(name: str) -> str:
        found = re.search(rf">{re.escape(name)}</td><td>(.*?)</td>", html)
        assert found, name
        return found.group(1)

    assert view.metrics.trade_stats.without_losses and view.metrics.sortino_unbounded
    assert cell("Max drawdown") == "no drawdown"
    assert cell("Profit factor") == "∞ (no losses)"
    assert cell("Sortino") == "∞ (no losing days)"
    for empty in ("Max drawdown (₹)", "Drawdown duration", "Drawdown peak", "Recovered"):
        assert cell(empty) == "—", empty
    assert '<div class="k">Max drawdown</div><div class="v">no drawdown</div>' in html
    assert '<div class="k">Profit factor</div><div class="v">∞ (no losses)</div>' in html
