"""Metrics of a fixed equity curve and trade list equal an independent pandas/numpy calculation,
and trades are built from fills FIFO: long, short, partial closes, through flat."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from engine.backtest.metrics import (
    MIN_DAYS_TO_ANNUALISE,
    EquityCurve,
    compute_metrics,
    daily_pnl,
    drawdown_series,
)
from engine.backtest.trades import TradeFill, round_trips
from engine.core.clock import IST
from engine.domain.ids import InstrumentToken
from engine.domain.orders import Side

TOKEN = InstrumentToken(256265)


def _ns(when: datetime) -> int:
    return int(when.timestamp()) * 10**9


def _fixed_curve() -> EquityCurve:
    """60 weekdays from 2 Nov 2026, five points a day (09:15 ... 15:30 IST), a seeded walk in
    whole paise starting at ₹10,00,000."""
    rng = np.random.default_rng(20261102)
    stamps, values = [], []
    equity = 100_000_000  # paise
    start = datetime(2026, 11, 2, 9, 0, tzinfo=IST)
    stamps.append(_ns(start))
    values.append(Decimal(equity) / 100)
    day = start.date()
    days = 0
    while days < 60:
        if day.weekday() < 5:
            for hour, minute in ((9, 15), (11, 0), (13, 0), (14, 30), (15, 30)):
                equity += int(rng.normal(1_500, 120_000))
                moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=IST)
                stamps.append(_ns(moment))
                values.append(Decimal(equity) / 100)
            days += 1
        day += timedelta(days=1)
    return EquityCurve(stamps, values)


def _fixed_trades() -> list:
    rupees = [1250, -430, 880, -1210, 40, 0, 2300, -95, -640, 510]
    fills = []
    t0 = _ns(datetime(2026, 11, 2, 9, 30, tzinfo=IST))
    for i, pnl in enumerate(rupees):
        entry = 10_000 + i * 100  # paise
        fills.append(TradeFill(t0 + i * 10**11, TOKEN, Side.BUY, 100, entry, Decimal("12.5")))
        fills.append(
            TradeFill(
                t0 + i * 10**11 + 10**10,
                TOKEN,
                Side.SELL,
                100,
                entry + pnl,  # pnl rupees over 100 units = pnl paise a unit
                Decimal("7.25"),
                reference=entry + pnl + 5,
            )
        )
    return round_trips(fills).trades


def test_metrics_equal_an_independent_pandas_calculation_on_a_fixed_curve() -> None:
    curve = _fixed_curve()
    trades = _fixed_trades()
    metrics = compute_metrics(curve, trades, periods_per_year=250, risk_free_rate=0.055)

    # Independently: pandas over the same points.
    frame = pd.DataFrame(
        {"equity": [float(v) for v in curve.values]},
        index=pd.to_datetime(curve.ts_ns, utc=True).tz_convert("Asia/Kolkata"),
    )
    closes = frame["equity"].groupby(frame.index.date).last()
    series = pd.concat([pd.Series([frame["equity"].iloc[0]]), closes.reset_index(drop=True)])
    returns = series.pct_change().dropna().to_numpy()
    assert metrics.days == len(returns) == 60
    rf = (1.055) ** (1 / 250) - 1
    excess = returns - rf
    sharpe = excess.mean() / excess.std(ddof=1) * math.sqrt(250)
    downside = math.sqrt(np.mean(np.clip(excess, None, 0) ** 2))
    sortino = excess.mean() / downside * math.sqrt(250)
    cagr = (series.iloc[-1] / series.iloc[0]) ** (250 / len(returns)) - 1
    running = frame["equity"].cummax()
    drawdown = frame["equity"] / running - 1
    max_dd = drawdown.min()
    volatility = returns.std(ddof=1) * math.sqrt(250)

    assert metrics.sharpe == pytest.approx(sharpe, rel=1e-9)
    assert metrics.sortino == pytest.approx(sortino, rel=1e-9)
    assert metrics.cagr == pytest.approx(cagr, rel=1e-9)
    assert metrics.volatility == pytest.approx(volatility, rel=1e-9)
    assert metrics.max_drawdown.depth == pytest.approx(max_dd, rel=1e-12)
    assert metrics.calmar == pytest.approx(cagr / abs(max_dd), rel=1e-9)
    np.testing.assert_allclose(drawdown_series(curve), drawdown.to_numpy(), rtol=0, atol=1e-15)

    # The drawdown's peak, trough, rupees and duration.
    trough_at = int(np.argmin(drawdown.to_numpy()))
    values = frame["equity"].to_numpy()
    peak_value = values[: trough_at + 1].max()
    peak_at = max(i for i in range(trough_at + 1) if values[i] == peak_value)
    assert metrics.max_drawdown.trough_ns == int(curve.ts_ns[trough_at])
    assert metrics.max_drawdown.peak_ns == int(curve.ts_ns[peak_at])
    assert metrics.max_drawdown.rupees == curve.values[trough_at] - curve.values[peak_at]
    after = [i for i in range(trough_at, len(values)) if values[i] >= peak_value]
    end_at = after[0] if after else len(values) - 1
    assert metrics.max_drawdown.recovered_ns == (int(curve.ts_ns[after[0]]) if after else None)
    assert metrics.max_drawdown.duration_ns == int(curve.ts_ns[end_at] - curve.ts_ns[peak_at])
    # Longest time under water, by a plain loop.
    longest, spell_start = 0, None
    high = -math.inf
    for i, value in enumerate(values):
        if value >= high:
            if spell_start is not None:
                longest = max(longest, int(curve.ts_ns[i]) - spell_start)
            high, spell_start = value, None
            last_high = int(curve.ts_ns[i])
        elif spell_start is None:
            spell_start = last_high
    if spell_start is not None:
        longest = max(longest, int(curve.ts_ns[-1]) - spell_start)
    assert metrics.longest_drawdown_ns == longest

    # Daily P&L: exact, day close less previous close.
    exact = [curve.start] + [
        curve.values[i]
        for i in range(len(curve))
        if i == len(curve) - 1
        or pd.Timestamp(int(curve.ts_ns[i]), tz="UTC").tz_convert("Asia/Kolkata").date()
        != pd.Timestamp(int(curve.ts_ns[i + 1]), tz="UTC").tz_convert("Asia/Kolkata").date()
    ]
    assert [p for _, p in daily_pnl(curve)] == [b - a for a, b in pairwise(exact)]
    assert metrics.best_day == max(b - a for a, b in pairwise(exact))

    # Trades: net = rupees P&L less 12.5 + 7.25 charges each.
    nets = [
        Decimal(p) - Decimal("19.75") for p in (1250, -430, 880, -1210, 40, 0, 2300, -95, -640, 510)
    ]
    stats = metrics.trade_stats
    wins = [n for n in nets if n > 0]
    losses = [n for n in nets if n < 0]
    assert [t.net for t in trades] == nets
    assert stats.trades == 10 and stats.wins == len(wins) == 5 and stats.losses == 5
    assert stats.win_rate == 0.5
    assert stats.expectancy == sum(nets) / 10
    assert stats.profit_factor == pytest.approx(float(sum(wins) / -sum(losses)), rel=1e-12)
    assert metrics.charges == Decimal("197.50")
    # Each exit sold 5 paise under its reference price: a cost of ₹5 a trade.
    assert metrics.slippage == Decimal(50)
    assert "250 trading days" in metrics.convention


def test_metrics_when_too_short_or_flat_say_none_rather_than_a_number() -> None:
    flat = EquityCurve([1, 2], [Decimal(100), Decimal(100)])
    metrics = compute_metrics(flat)
    assert metrics.sharpe is None and metrics.sortino is None and metrics.calmar is None
    assert metrics.max_drawdown.depth == 0 and metrics.max_drawdown.duration_ns == 0
    assert metrics.trade_stats.win_rate is None and metrics.trade_stats.profit_factor is None
    with pytest.raises(ValueError, match="backwards"):
        EquityCurve([2, 1], [Decimal(1), Decimal(2)])
    with pytest.raises(ValueError, match="finite"):
        EquityCurve([1], [Decimal("NaN")])
    with pytest.raises(ValueError, match="periods_per_year"):
        compute_metrics(flat, periods_per_year=0)


def test_metrics_show_cagr_and_calmar_only_from_a_month_of_trading_days() -> None:
    # One day's 1% loss compounds to "CAGR -92%": computed, but not shown.
    day = 86_400 * 10**9
    start = int(datetime(2026, 11, 2, 9, 15, tzinfo=IST).timestamp()) * 10**9
    one_day = compute_metrics(EquityCurve([start, start + 10**12], [Decimal(100), Decimal(99)]))
    assert one_day.cagr == pytest.approx(0.99**250 - 1)
    assert one_day.shown_cagr is None and one_day.shown_calmar is None
    assert one_day.short_record in one_day.convention
    assert "shown from 20 trading days on (this record has 1 trading day)" in one_day.convention

    def curve(days: int) -> EquityCurve:
        # The first point starts the first day: ``days`` points on ``days`` dates.
        values = [Decimal(100 + i - (3 if i % 3 == 1 else 0)) for i in range(days)]
        return EquityCurve([start + i * day for i in range(days)], values)

    short, month = compute_metrics(curve(MIN_DAYS_TO_ANNUALISE - 1)), compute_metrics(curve(20))
    assert short.days == 19 and not short.annualised and short.shown_cagr is None
    assert "this record has 19 trading days" in short.convention
    assert month.days == 20 and month.annualised
    assert month.shown_cagr == month.cagr and month.shown_calmar == month.calmar
    assert month.calmar is not None and "CAGR and Calmar are shown" not in month.convention


def _fill(ts: int, side: Side, qty: int, price: int, charges: str = "0") -> TradeFill:
    return TradeFill(ts, TOKEN, side, qty, price, Decimal(charges))


def test_backtest_trades_fifo_long_short_partial_closes_and_through_flat() -> None:
    fills = [
        _fill(1, Side.BUY, 10, 10_000, "3"),
        _fill(2, Side.BUY, 10, 10_200, "3"),
        _fill(3, Side.SELL, 15, 10_500, "4.5"),  # closes lot 1 and half of lot 2
        _fill(4, Side.SELL, 15, 10_100, "3"),  # closes 5, opens a short of 10
        _fill(5, Side.BUY, 4, 9_900, "1"),  # partial cover of the short
        _fill(6, Side.BUY, 6, 10_000, "1"),
    ]
    trips = round_trips(fills)
    first, second, third, fourth = trips.trades
    assert (first.quantity, first.is_long, first.entry_ns) == (15, True, 1)
    assert first.gross_paise == 15 * 10_500 - (10 * 10_000 + 5 * 10_200)
    assert first.entry_price == Decimal(10 * 10_000 + 5 * 10_200) / 1500
    assert (second.quantity, second.is_long) == (5, True)
    assert second.gross_paise == 5 * (10_100 - 10_200)
    assert (third.quantity, third.is_long, third.entry_ns) == (4, False, 4)
    assert third.gross_paise == 4 * (10_100 - 9_900)
    assert fourth.gross_paise == 6 * (10_100 - 10_000)
    assert trips.open_lots == []
    # Charges are split by quantity and add back to the fills' charges exactly.
    assert sum((t.charges for t in trips.trades), Decimal(0)) == Decimal("15.5")
    assert first.charges == Decimal(3) + Decimal("1.5") + Decimal("4.5")
    assert second.charges == Decimal("1.5") + Decimal(1)


def test_backtest_trades_with_charges_that_do_not_divide_stay_exact_in_sum() -> None:
    fills = [_fill(1, Side.SELL, 3, 500, "1"), _fill(2, Side.BUY, 1, 400, "0.01")]
    trips = round_trips(fills)
    assert len(trips.trades) == 1 and len(trips.open_lots) == 1
    assert trips.charges == Decimal("1.01")
    assert trips.open_lots[0].quantity == 2
    with pytest.raises(ValueError, match="quantity"):
        _fill(3, Side.BUY, 0, 1)


def test_backtest_daily_pnl_follows_ist_dates() -> None:
    # 23:00 UTC on the 23rd is 04:30 IST on the 24th: the next trading date's.
    curve = EquityCurve(
        [
            _ns(datetime(2026, 11, 23, 10, 0, tzinfo=IST)),
            _ns(datetime(2026, 11, 23, 15, 0, tzinfo=IST)),
            _ns(datetime(2026, 11, 23, 23, 0, tzinfo=UTC)),
        ],
        [Decimal(100), Decimal(105), Decimal(103)],
    )
    assert daily_pnl(curve) == [(date(2026, 11, 23), Decimal(5)), (date(2026, 11, 24), Decimal(-2))]
