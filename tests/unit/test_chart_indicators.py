"""Chart indicators: equal to pandas written out independently (rolling, ewm, groupby) and to a
transcription of Pine's SuperTrend on a few days of minute bars, right on values worked out by
hand, and NaN only while they warm up, whatever the prices."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.marketdata import indicators as ind

BARS_A_DAY = 375


@pytest.fixture(scope="module")
def minute_bars() -> pd.DataFrame:
    """Eight sessions of NIFTY-like minute bars in rupees, with volume."""
    rng = np.random.default_rng(16)
    count = 8 * BARS_A_DAY
    close = 24_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0006, count)))
    open_ = np.concatenate(([24_000.0], close[:-1])) * np.exp(rng.normal(0.0, 0.0002, count))
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.0004, count))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.0004, count))
    volume = rng.integers(0, 200_000, count).astype(float)
    day = np.arange(count) // BARS_A_DAY
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "day": day}
    )


def _pandas_seeded(x: pd.Series, n: int, alpha: float) -> pd.Series:
    """TradingView's recursive average in pandas: ewm (no adjustment) started from the SMA of
    the first n values."""
    seeded = x.copy()
    seeded.iloc[n - 1] = x.iloc[:n].mean()
    return seeded.iloc[n - 1 :].ewm(alpha=alpha, adjust=False).mean().reindex(x.index)


def _pandas_atr(bars: pd.DataFrame, n: int) -> pd.Series:
    previous = bars["close"].shift()
    true_range = pd.concat(
        [
            bars["high"] - bars["low"],
            (bars["high"] - previous).abs(),
            (bars["low"] - previous).abs(),
        ],
        axis=1,
    ).max(axis=1)
    return _pandas_seeded(true_range, n, 1.0 / n)


def _pine_supertrend(bars: pd.DataFrame, n: int, mult: float) -> tuple[list[float], list[int]]:
    """Pine v5's ``ta.supertrend`` reference code, line for line (its direction: −1 up)."""
    atr = _pandas_atr(bars, n).tolist()
    high, low, close = bars["high"].tolist(), bars["low"].tolist(), bars["close"].tolist()
    lines: list[float] = []
    ways: list[int] = []
    upper_before = lower_before = line_before = math.nan
    for i in range(len(close)):
        if math.isnan(atr[i]):
            lines.append(math.nan)
            ways.append(0)
            continue
        src = (high[i] + low[i]) / 2
        upper, lower = src + mult * atr[i], src - mult * atr[i]
        prev_lower = 0.0 if math.isnan(lower_before) else lower_before
        prev_upper = 0.0 if math.isnan(upper_before) else upper_before
        lower = lower if lower > prev_lower or close[i - 1] < prev_lower else prev_lower
        upper = upper if upper < prev_upper or close[i - 1] > prev_upper else prev_upper
        if i == 0 or math.isnan(atr[i - 1]):
            way = 1
        elif line_before == upper_before:
            way = -1 if close[i] > upper else 1
        else:
            way = 1 if close[i] < lower else -1
        line_before = lower if way == -1 else upper
        upper_before, lower_before = upper, lower
        lines.append(line_before)
        ways.append(way)
    return lines, ways


def _same(ours: np.ndarray, theirs: pd.Series | list[float]) -> None:
    np.testing.assert_allclose(ours, np.asarray(theirs, dtype=float), rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------------- against pandas


@pytest.mark.parametrize("n", [1, 9, 20, 50, 200])
def test_chart_indicators_sma_when_computed_equals_pandas_rolling_mean(
    minute_bars: pd.DataFrame, n: int
) -> None:
    close = minute_bars["close"]
    _same(ind.sma(close.to_numpy(), n), close.rolling(n).mean())


@pytest.mark.parametrize("n", [1, 2, 9, 21, 200])
def test_chart_indicators_ema_when_computed_equals_pandas_ewm_seeded_with_the_sma(
    minute_bars: pd.DataFrame, n: int
) -> None:
    close = minute_bars["close"]
    _same(ind.ema(close.to_numpy(), n), _pandas_seeded(close, n, 2.0 / (n + 1)))


@pytest.mark.parametrize("n", [2, 14, 30])
def test_chart_indicators_rsi_when_computed_equals_pandas_wilder_averages(
    minute_bars: pd.DataFrame, n: int
) -> None:
    close = minute_bars["close"]
    move = close.diff()
    gain = _pandas_seeded(move.clip(lower=0).iloc[1:], n, 1.0 / n)
    loss = _pandas_seeded((-move).clip(lower=0).iloc[1:], n, 1.0 / n)
    expected = (100 - 100 / (1 + gain / loss)).reindex(close.index)
    _same(ind.rsi(close.to_numpy(), n), expected)


def test_chart_indicators_bollinger_when_computed_equals_pandas_population_std_bands(
    minute_bars: pd.DataFrame,
) -> None:
    close = minute_bars["close"]
    mid, upper, lower = ind.bollinger(close.to_numpy(), 20, 2.0)
    rolling = close.rolling(20)
    _same(mid, rolling.mean())
    _same(upper, rolling.mean() + 2.0 * rolling.std(ddof=0))
    _same(lower, rolling.mean() - 2.0 * rolling.std(ddof=0))


def test_chart_indicators_vwap_when_computed_equals_pandas_cumsum_by_day(
    minute_bars: pd.DataFrame,
) -> None:
    bars = minute_bars.copy()
    bars.loc[BARS_A_DAY : BARS_A_DAY + 2, "volume"] = 0.0  # a day opening on no trades
    typical = (bars["high"] + bars["low"] + bars["close"]) / 3
    by_day = (typical * bars["volume"]).groupby(bars["day"]).cumsum()
    traded = bars["volume"].groupby(bars["day"]).cumsum()
    expected = (by_day / traded.where(traded > 0)).to_numpy()
    ours = ind.vwap(bars["high"], bars["low"], bars["close"], bars["volume"], bars["day"])
    _same(ours, expected)
    assert np.isnan(ours[BARS_A_DAY : BARS_A_DAY + 3]).all()


def test_chart_indicators_atr_when_computed_equals_pandas_wilder_true_range(
    minute_bars: pd.DataFrame,
) -> None:
    bars = minute_bars
    _same(ind.atr(bars["high"], bars["low"], bars["close"], 14), _pandas_atr(bars, 14))


@pytest.mark.parametrize(("n", "mult"), [(10, 3.0), (7, 1.5), (1, 1.0)])
def test_chart_indicators_supertrend_when_computed_equals_pine_with_direction_as_the_trend(
    minute_bars: pd.DataFrame, n: int, mult: float
) -> None:
    bars = minute_bars
    line, direction = ind.supertrend(bars["high"], bars["low"], bars["close"], n, mult)
    pine_line, pine_way = _pine_supertrend(bars, n, mult)
    _same(line, pine_line)
    np.testing.assert_array_equal(direction[n - 1 :], -np.asarray(pine_way[n - 1 :]))
    assert len(set(np.diff(direction[n - 1 :]))) == 3  # the trend turned both ways


def test_chart_indicators_heikin_ashi_when_computed_equals_the_bar_by_bar_definition(
    minute_bars: pd.DataFrame,
) -> None:
    o, h, lo, c = (minute_bars[k].tolist() for k in ("open", "high", "low", "close"))
    ha_open = [(o[0] + c[0]) / 2]
    ha_close = [(o[i] + h[i] + lo[i] + c[i]) / 4 for i in range(len(c))]
    for i in range(1, len(c)):
        ha_open.append((ha_open[-1] + ha_close[i - 1]) / 2)
    ha_high = [max(h[i], ha_open[i], ha_close[i]) for i in range(len(c))]
    ha_low = [min(lo[i], ha_open[i], ha_close[i]) for i in range(len(c))]
    ours = ind.heikin_ashi(o, h, lo, c)
    for got, want in zip(ours, (ha_open, ha_high, ha_low, ha_close), strict=True):
        _same(got, want)


# ------------------------------------------------------------------------------ by hand


def test_chart_indicators_when_worked_by_hand_give_the_textbook_values() -> None:
    _same(ind.sma([1, 2, 3, 4], 2), [math.nan, 1.5, 2.5, 3.5])
    _same(ind.ema([1, 2, 3, 4, 5], 3), [math.nan, math.nan, 2.0, 3.0, 4.0])  # seed (1+2+3)/3
    _same(ind.rsi([1, 2, 3, 2], 2), [math.nan, math.nan, 100.0, 50.0])  # gains 1, 1; then ½, ½
    mid, upper, lower = ind.bollinger([1.0, 3.0], 2, 2.0)
    _same(np.array([mid[1], upper[1], lower[1]]), [2.0, 4.0, 0.0])  # σ = 1, not √2
    typical = [10.0, 20.0, 30.0]
    _same(ind.vwap(typical, typical, typical, [1, 3, 2], [0, 0, 1]), [10.0, 17.5, 30.0])
    ha = ind.heikin_ashi([10, 12], [14, 16], [8, 11], [12, 15])
    _same(np.array(ha), [[11.0, 11.0], [14.0, 16.0], [8.0, 11.0], [11.0, 13.5]])


def test_chart_indicators_supertrend_when_a_close_clears_the_upper_band_turns_up() -> None:
    # n = 1, mult = 1: the ATR is each bar's true range.
    high, low, close = [11, 11, 11, 16], [9, 9, 9, 14], [10, 10, 10, 15.5]
    line, direction = ind.supertrend(high, low, close, 1, 1.0)
    # hl2 10 ± TR 2 gives bands 12 / 8; the last bar: TR max(2, |16 − 10|) = 6, bands 21 / 9,
    # but the upper band only comes down (stays 12) and the close 15.5 is over it: up, line 9.
    _same(line, [12.0, 12.0, 12.0, 9.0])
    _same(direction, [-1.0, -1.0, -1.0, 1.0])


def test_chart_indicators_rsi_when_the_price_never_moves_is_neutral() -> None:
    _same(ind.rsi([100.0] * 20, 14)[14:], [50.0] * 6)


def test_chart_indicators_when_fewer_bars_than_the_period_are_all_warm_up() -> None:
    assert np.isnan(ind.sma([1.0, 2.0], 3)).all()
    assert np.isnan(ind.rsi([1.0, 2.0, 3.0], 3)).all()
    line, direction = ind.supertrend([2.0], [1.0], [1.5], 10, 3.0)
    assert np.isnan(line).all() and np.isnan(direction).all()


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_chart_indicators_when_the_period_is_not_a_whole_number_of_bars_refuse_it(
    n: object,
) -> None:
    with pytest.raises(ValueError, match="whole number of bars"):
        ind.sma([1.0, 2.0, 3.0], n)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------- properties

prices = arrays(np.float64, st.integers(0, 120), elements=st.floats(0.05, 1e6, allow_nan=False))
periods = st.integers(1, 40)


def _warm_up_only(values: np.ndarray, warm_up: int) -> None:
    assert np.isnan(values[:warm_up]).all()
    assert np.isfinite(values[warm_up:]).all()


@given(prices, periods)
def test_chart_indicators_on_any_prices_keep_the_length_and_are_nan_only_in_the_warm_up(
    close: np.ndarray, n: int
) -> None:
    for values, warm_up in (
        (ind.sma(close, n), n - 1),
        (ind.ema(close, n), n - 1),
        (ind.rma(close, n), n - 1),
        (ind.rsi(close, n), n),
        *((band, n - 1) for band in ind.bollinger(close, n, 2.0)),
    ):
        assert len(values) == len(close)
        _warm_up_only(values, min(warm_up, len(close)))
    rsi = ind.rsi(close, n)[n:]
    assert ((rsi >= 0) & (rsi <= 100)).all()


@given(prices, periods)
def test_chart_indicators_ema_on_any_prices_equals_pandas(close: np.ndarray, n: int) -> None:
    expected = _pandas_seeded(pd.Series(close), n, 2.0 / (n + 1)) if len(close) >= n else None
    ours = ind.ema(close, n)
    if expected is None:
        assert np.isnan(ours).all()
    else:
        np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-6)


@st.composite
def ohlc_bars(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    close = draw(prices)
    count = len(close)
    shape = st.just(count)
    open_ = draw(arrays(np.float64, shape, elements=st.floats(0.05, 1e6)))
    above = draw(arrays(np.float64, shape, elements=st.floats(0.0, 1e3)))
    below = draw(arrays(np.float64, shape, elements=st.floats(0.0, 1e3)))
    volume = draw(arrays(np.float64, shape, elements=st.integers(0, 10**7).map(float)))
    days = np.sort(draw(arrays(np.int64, shape, elements=st.integers(0, 4))))
    high = np.maximum(open_, close) + above
    low = np.minimum(open_, close) - below
    return open_, high, low, close, volume, days


@given(ohlc_bars(), periods, st.floats(0.5, 5.0))
def test_chart_indicators_on_any_bars_keep_the_length_and_are_nan_only_in_the_warm_up(
    bars: tuple[np.ndarray, ...], n: int, mult: float
) -> None:
    open_, high, low, close, volume, days = bars
    line, direction = ind.supertrend(high, low, close, n, mult)
    warm_up = min(n - 1, len(close))
    _warm_up_only(line, warm_up)
    _warm_up_only(ind.atr(high, low, close, n), warm_up)
    assert set(direction[warm_up:]) <= {-1.0, 1.0}
    for values in ind.heikin_ashi(open_, high, low, close):
        _warm_up_only(values, 0)
    ha_open, ha_high, ha_low, ha_close = ind.heikin_ashi(open_, high, low, close)
    assert (ha_high >= np.maximum(ha_open, ha_close)).all()
    assert (ha_low <= np.minimum(ha_open, ha_close)).all()
    vwap = ind.vwap(high, low, close, volume, days)
    traded_today = pd.Series(volume).groupby(days).cumsum().to_numpy()
    assert len(vwap) == len(close)
    assert (np.isnan(vwap) == (traded_today == 0)).all()
