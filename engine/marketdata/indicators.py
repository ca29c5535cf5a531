"""Chart indicators over a series' bars, vectorised with numpy, computed as TradingView does.

Inputs are float arrays aligned with the bars, oldest first, prices all in one unit (a chart
passes rupees; paise work as well): an indicator's result is in that unit, RSI in 0–100. Values
that cannot be computed yet (the warm-up) are NaN; after it nothing is NaN for finite input,
except a VWAP before the day has any volume. These are display figures: floats are fine here,
money stays exact elsewhere.

Recursive averages (EMA, Wilder's RMA, Heikin-Ashi's open) run as blocks of cumulative sums
rather than a Python loop over bars, because a chart recomputes its indicators at every frame.
SuperTrend's bands ratchet on their own previous value, which no array operation expresses; its
loop runs over Python floats, and can carry on from bands kept earlier (a chart whose forming bar
changed walks only that bar).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

Values = npt.NDArray[np.float64]

__all__ = [
    "SuperTrendBands",
    "atr",
    "bollinger",
    "ema",
    "heikin_ashi",
    "rma",
    "rsi",
    "sma",
    "supertrend",
    "supertrend_bands",
    "vwap",
]

_LOG_HEADROOM = 300.0
"""ln of the largest factor a block's cumulative sum is scaled by (e^300 ≈ 1e130): far from a
float's overflow even times a price and a block's length."""


def sma(values: npt.ArrayLike, n: int) -> Values:
    """Simple moving average of the last ``n`` values; NaN for the first ``n − 1``."""
    x = _floats(values)
    out = _warming(len(x))
    if _period(n) <= len(x):
        out[n - 1 :] = sliding_window_view(x, n).mean(axis=1)
    return out


def ema(values: npt.ArrayLike, n: int) -> Values:
    """Exponential moving average, α = 2 / (n + 1), seeded with the SMA of the first ``n``
    values (TradingView's ``ta.ema``; pandas' ``ewm`` would seed with the first value instead)."""
    return _seeded_average(_floats(values), n, 2.0 / (_period(n) + 1.0))


def rma(values: npt.ArrayLike, n: int) -> Values:
    """Wilder's moving average, α = 1 / n, seeded with the SMA of the first ``n`` values
    (TradingView's ``ta.rma``)."""
    return _seeded_average(_floats(values), n, 1.0 / _period(n))


def rsi(close: npt.ArrayLike, n: int = 14) -> Values:
    """Wilder's relative strength index: 100·gain / (gain + loss) of the RMAs of up and down
    moves. The first ``n`` values are NaN (it takes ``n`` moves). A series that has not moved at
    all is 50, neither bought nor sold."""
    x = _floats(close)
    out = _warming(len(x))
    if len(x) <= _period(n):
        return out
    move = np.diff(x)
    gain = rma(np.maximum(move, 0.0), n)[n - 1 :]
    loss = rma(np.maximum(-move, 0.0), n)[n - 1 :]
    total = gain + loss
    moved = total > 0
    out[n:] = 50.0
    out[n:][moved] = 100.0 * (gain[moved] / total[moved])  # a ratio ≤ 1 keeps RSI ≤ 100
    return out


def bollinger(close: npt.ArrayLike, n: int = 20, k: float = 2.0) -> tuple[Values, Values, Values]:
    """(middle, upper, lower): the SMA and ``k`` population standard deviations either side, as
    TradingView's ``ta.stdev`` (biased) gives them; NaN for the first ``n − 1``."""
    x = _floats(close)
    mid, spread = _warming(len(x)), _warming(len(x))
    if _period(n) <= len(x):
        windows = sliding_window_view(x, n)
        mid[n - 1 :] = windows.mean(axis=1)
        spread[n - 1 :] = k * windows.std(axis=1)
    return mid, mid + spread, mid - spread


def vwap(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    day_index: npt.ArrayLike,
) -> Values:
    """Volume-weighted average of the typical price (high + low + close) / 3, starting afresh
    where ``day_index`` (any label of the IST day, one per bar) changes. NaN while the day has
    traded nothing yet (an index, which has no volume, has no VWAP)."""
    typical = (_floats(high) + _floats(low) + _floats(close)) / 3.0
    v = _floats(volume)
    day = np.asarray(day_index)
    if len(typical) == 0:
        return typical
    new_day = np.flatnonzero(day[1:] != day[:-1]) + 1
    weighted = _restarting_cumsum(typical * v, new_day)
    traded = _restarting_cumsum(v, new_day)
    out = _warming(len(typical))
    np.divide(weighted, traded, out=out, where=traded != 0)
    return out


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int = 14) -> Values:
    """Wilder's average true range (the RMA of the true range; the first bar's true range is
    its high − low); NaN for the first ``n − 1``."""
    h, lo, c = _floats(high), _floats(low), _floats(close)
    true_range = h - lo
    if len(c) > 1:
        previous = c[:-1]
        true_range[1:] = np.maximum(
            true_range[1:], np.maximum(np.abs(h[1:] - previous), np.abs(lo[1:] - previous))
        )
    return rma(true_range, n)


def supertrend(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    n: int = 10,
    mult: float = 3.0,
) -> tuple[Values, Values]:
    """(line, direction): TradingView's ``ta.supertrend`` on hl2 ± ``mult``·ATR(n) (Wilder).

    ``direction`` is +1 in an uptrend (the line is the lower band, under the price) and −1 in a
    downtrend (the upper band, over it): the opposite sign of Pine's, read as the trend's way.
    The first value is a downtrend, as Pine's is. NaN for the first ``n − 1``.
    """
    bands = supertrend_bands(high, low, close, n, mult)
    return bands.line, bands.direction


@dataclass(frozen=True, slots=True)
class SuperTrendBands:
    """SuperTrend with the ratcheted bands behind it, one value per bar (NaN in the warm-up):
    what a chart keeps to carry the ratchet on when only its last bars change."""

    line: Values
    direction: Values
    upper: Values
    lower: Values


def supertrend_bands(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    n: int = 10,
    mult: float = 3.0,
    *,
    since: int = 0,
    known: SuperTrendBands | None = None,
) -> SuperTrendBands:
    """``supertrend`` with its bands. Given ``known``, the bands of the same bars up to
    ``since`` (exclusive), the ratchet goes on from there instead of from the first bar: the
    bands only compare and choose, so the result is the one a walk over every bar gives."""
    h, lo, c = _floats(high), _floats(low), _floats(close)
    middle = (h + lo) / 2.0
    width = mult * atr(h, lo, c, n)
    size = len(c)
    out = SuperTrendBands(_warming(size), _warming(size), _warming(size), _warming(size))
    first = _period(n) - 1
    if first >= size:
        return out
    start = first
    if known is not None and first < since <= min(size, len(known.line)):
        start = since
        for part in ("line", "direction", "upper", "lower"):
            getattr(out, part)[:start] = getattr(known, part)[:start]
    raw_upper = (middle + width)[start:].tolist()
    raw_lower = (middle - width)[start:].tolist()
    closes = c[start:].tolist()
    if start == first:
        upper, lower, way = raw_upper[0], raw_lower[0], -1.0
    else:
        upper, lower = float(out.upper[start - 1]), float(out.lower[start - 1])
        way = float(out.direction[start - 1])
    before = float(c[start - 1]) if start > 0 else math.nan
    lines, ways, uppers, lowers = [], [], [], []
    for i, (up, down, price) in enumerate(zip(raw_upper, raw_lower, closes, strict=True)):
        if i > 0 or start > first:
            # A band moves only towards the price, unless the price has closed through it.
            lower = down if down > lower or before < lower else lower
            upper = up if up < upper or before > upper else upper
            if way < 0 and price > upper:
                way = 1.0  # a downtrend ends on a close over the upper band
            elif way > 0 and price < lower:
                way = -1.0
        lines.append(lower if way > 0 else upper)
        ways.append(way)
        uppers.append(upper)
        lowers.append(lower)
        before = price
    out.line[start:] = lines
    out.direction[start:] = ways
    out.upper[start:] = uppers
    out.lower[start:] = lowers
    return out


def heikin_ashi(
    open_: npt.ArrayLike, high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike
) -> tuple[Values, Values, Values, Values]:
    """Heikin-Ashi (open, high, low, close): the close is the bar's mean price, the open the
    midpoint of the previous Heikin-Ashi bar (the first bar's: of its own open and close), the
    high and low the extremes of the bar and those two."""
    o, h, lo, c = _floats(open_), _floats(high), _floats(low), _floats(close)
    ha_close = (o + h + lo + c) / 4.0
    ha_open = np.empty_like(ha_close)
    if len(ha_close):
        ha_open[0] = (o[0] + c[0]) / 2.0
        ha_open[1:] = _decaying_sum(0.5 * ha_close[:-1], 0.5, ha_open[0])
    ha_high = np.maximum(h, np.maximum(ha_open, ha_close))
    ha_low = np.minimum(lo, np.minimum(ha_open, ha_close))
    return ha_open, ha_high, ha_low, ha_close


# ----------------------------------------------------------------------------------- internals


def _floats(values: npt.ArrayLike) -> Values:
    return np.asarray(values, dtype=np.float64)


def _period(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"an indicator's period is a whole number of bars ≥ 1, got {n!r}")
    return int(n)


def _warming(length: int) -> Values:
    return np.full(length, np.nan)


def _seeded_average(x: Values, n: int, alpha: float) -> Values:
    out = _warming(len(x))
    if _period(n) > len(x):
        return out
    seed = float(x[:n].mean())
    out[n - 1] = seed
    out[n:] = _decaying_sum(alpha * x[n:], 1.0 - alpha, seed)
    return out


def _decaying_sum(pushes: Values, decay: float, before: float) -> Values:
    """y[t] = decay·y[t−1] + pushes[t], with y[−1] = ``before``.

    Within a block, y[t] = decay^t·(before + Σ_{k≤t} decay^−k·pushes[k]): one cumulative sum.
    Blocks are short enough that decay^−k stays finite.
    """
    out = np.empty_like(pushes)
    if decay == 0.0:
        out[:] = pushes
        return out
    block = max(1, min(len(pushes), int(_LOG_HEADROOM / -math.log(decay))))
    steps = np.arange(1, block + 1)
    grow, shrink = decay**-steps, decay**steps
    for start in range(0, len(pushes), block):
        chunk = pushes[start : start + block]
        size = len(chunk)
        out[start : start + size] = shrink[:size] * (before + np.cumsum(chunk * grow[:size]))
        before = float(out[start + size - 1])
    return out


def _restarting_cumsum(x: Values, restarts: npt.NDArray[np.intp]) -> Values:
    """Cumulative sum starting again at each index in ``restarts`` (ascending)."""
    total = np.cumsum(x)
    before = np.concatenate(([0.0], total[restarts - 1]))
    lengths = np.diff(np.concatenate(([0], restarts, [len(x)])))
    return total - np.repeat(before, lengths)
