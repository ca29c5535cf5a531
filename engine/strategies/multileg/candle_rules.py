"""Candles a portfolio builds from its underlying's ticks, closed by the clock, and the rules read
at their close: an underlying level (spot, future or synthetic) and an indicator (EMA / SMA
cross, RSI, SuperTrend, VWAP — ``engine.marketdata.indicators``, as the charts compute them).

A candle closes when the clock passes its end (anchored to 09:15, ``Timeframe``), whether or
not a tick follows: an exit on a minute's close happens at that close, not at the next tick.
Candles are not saved: after a restart an indicator warms up again from fresh candles.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from engine.domain.bars import Timeframe
from engine.marketdata import indicators
from engine.strategies.multileg.conditions_spec import (
    CROSSES,
    EMAS,
    UPS,
    Indicator,
    IndicatorCondition,
    LevelCheck,
    UnderlyingLevel,
)

MAX_CANDLES = 400
"""Closed candles kept: enough for a 200-bar average on them."""

TIMEFRAMES = {
    LevelCheck.ONE_MINUTE: Timeframe.M1,
    LevelCheck.THREE_MINUTES: Timeframe.M3,
    LevelCheck.FIVE_MINUTES: Timeframe.M5,
}


@dataclass(slots=True)
class Candles:
    """One price's candles at one timeframe: the forming one and the closed ones (OHLCV)."""

    timeframe: Timeframe
    closed: deque[tuple[int, int, int, int, int, int]] = field(
        default_factory=lambda: deque(maxlen=MAX_CANDLES)
    )
    """(start_ns, open, high, low, close, volume) of each closed candle, oldest first."""
    start_ns: int = -1
    open: int = 0
    high: int = 0
    low: int = 0
    close: int = 0
    volume_from: int = 0
    volume_to: int = 0
    end_ns: int = 0

    def close_due(self, now: int) -> bool:
        """Close the forming candle if the clock has passed its end; whether one closed."""
        if self.start_ns < 0 or now < self.end_ns:
            return False
        self.closed.append(
            (
                self.start_ns,
                self.open,
                self.high,
                self.low,
                self.close,
                max(0, self.volume_to - self.volume_from),
            )
        )
        self.start_ns = -1
        self.volume_from = self.volume_to
        return True

    def add(self, price: int, volume: int, now: int) -> None:
        if self.start_ns < 0:
            start = self.timeframe.start_of(now)
            self.start_ns, self.end_ns = start, start + self.timeframe.minutes * 60 * 10**9
            self.open = self.high = self.low = price
            if not self.volume_from or volume < self.volume_from:
                self.volume_from = volume  # a new day's count, or the first tick seen
        elif price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume_to = volume


def level_bounds(level: UnderlyingLevel | None) -> tuple[float, float]:
    """(at or above, at or below) in paise, ±infinity for a bound not set, so the tick path
    compares a price with two numbers. Levels are whole paise (two decimals), exact as floats."""
    if level is None:
        return math.inf, -math.inf
    above = math.inf if level.at_or_above is None else int(level.at_or_above * 100)
    below = -math.inf if level.at_or_below is None else int(level.at_or_below * 100)
    return above, below


def level_holds(level: UnderlyingLevel, price: int) -> bool:
    """Whether ``price`` (paise) is at or beyond the level's bounds."""
    above, below = level_bounds(level)
    return price >= above or price <= below


def level_text(level: UnderlyingLevel, price: int) -> str:
    where = (
        "at or above"
        if level.at_or_above is not None and price >= level.at_or_above * 100
        else ("at or below")
    )
    bound = level.at_or_above if where == "at or above" else level.at_or_below
    when = "" if level.check is LevelCheck.TICK else f" at a {level.check.value} close"
    return f"the {level.source.value} at {Decimal(price) / 100:,.2f}{when} is {where} {bound:,.2f}"


def indicator_holds(rule: IndicatorCondition, candles: Candles) -> bool | None:
    """Whether the rule holds at the last closed candle; None while it warms up."""
    bars = candles.closed
    if not bars:
        return None
    close = np.fromiter((bar[4] for bar in bars), dtype=np.float64, count=len(bars))
    kind = rule.indicator
    if kind in CROSSES:
        if len(close) < rule.slow + 1:
            return None
        average = indicators.ema if kind in EMAS else indicators.sma
        fast, slow = average(close, rule.fast), average(close, rule.slow)
        now_above, before_above = fast[-1] > slow[-1], fast[-2] > slow[-2]
        if kind in UPS:
            return now_above and not before_above
        now_below, before_below = fast[-1] < slow[-1], fast[-2] < slow[-2]
        return now_below and not before_below
    if kind in (Indicator.RSI_ABOVE, Indicator.RSI_BELOW):
        if len(close) < rule.period + 1:
            return None
        value = indicators.rsi(close, rule.period)[-1]
        if np.isnan(value):
            return None
        return bool(value > rule.level if kind is Indicator.RSI_ABOVE else value < rule.level)
    high = np.fromiter((bar[2] for bar in bars), dtype=np.float64, count=len(bars))
    low = np.fromiter((bar[3] for bar in bars), dtype=np.float64, count=len(bars))
    if kind in (Indicator.SUPERTREND_UP, Indicator.SUPERTREND_DOWN):
        if len(close) < rule.period + 1:
            return None
        _line, direction = indicators.supertrend(high, low, close, rule.period, rule.multiplier)
        way = direction[-1]
        if np.isnan(way):
            return None
        return bool(way > 0 if kind is Indicator.SUPERTREND_UP else way < 0)
    volume = np.fromiter((bar[5] for bar in bars), dtype=np.float64, count=len(bars))
    day = np.fromiter((bar[0] // (86_400 * 10**9) for bar in bars), dtype=np.int64)
    value = indicators.vwap(high, low, close, volume, day)[-1]
    if np.isnan(value):
        return None
    return bool(close[-1] > value if kind is Indicator.ABOVE_VWAP else close[-1] < value)


def indicator_text(rule: IndicatorCondition) -> str:
    kind = rule.indicator
    if kind in CROSSES:
        way = "above" if kind in UPS else "below"
        average = "EMA" if kind in EMAS else "SMA"
        return f"{average} {rule.fast} crossed {way} {average} {rule.slow}"
    if kind in (Indicator.RSI_ABOVE, Indicator.RSI_BELOW):
        way = "above" if kind is Indicator.RSI_ABOVE else "below"
        return f"RSI {rule.period} {way} {rule.level:g}"
    if kind in (Indicator.SUPERTREND_UP, Indicator.SUPERTREND_DOWN):
        way = "up" if kind is Indicator.SUPERTREND_UP else "down"
        return f"SuperTrend {rule.period}×{rule.multiplier:g} {way}"
    return f"the close is {'above' if kind is Indicator.ABOVE_VWAP else 'below'} VWAP"
