"""The portfolio editor's Range breakout and Extra conditions pages as declared schemas
(``multileg_and_panels.md`` §1.4–1.5): when a portfolio (or some of its legs) may enter, beyond
its start time, and the underlying level that exits it.

Each section refuses settings that contradict each other (or the portfolio they sit in:
``conditions_problems``) with a sentence the trader can act on. Legs are named as the trader
counts them (``Leg 1`` is the first row). Money is ``Decimal`` rupees; times IST wall-clock.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field, model_validator

from engine.strategies.multileg.bounds import BoundedModel

if TYPE_CHECKING:
    from engine.strategies.multileg.spec import PortfolioSpec


class _Section(BoundedModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class LegNo(StrEnum):
    """A leg as the trader numbers it."""

    L1 = "Leg 1"
    L2 = "Leg 2"
    L3 = "Leg 3"
    L4 = "Leg 4"
    L5 = "Leg 5"
    L6 = "Leg 6"
    L7 = "Leg 7"
    L8 = "Leg 8"
    L9 = "Leg 9"
    L10 = "Leg 10"

    @property
    def n(self) -> int:
        return int(self.value.removeprefix("Leg "))


# -- range breakout --------------------------------------------------------------------------------


class RangeOn(StrEnum):
    UNDERLYING = "underlying"
    """The underlying's price (its spot)."""
    LEGS = "each leg's premium"
    """Each leg's own premium: a bought leg enters above its high, a sold leg below its low."""
    COMBINED = "net premium"
    """The structure's net premium (sold legs + , bought − , per unit)."""


class EntryAt(StrEnum):
    EITHER = "either"
    """Every leg enters on whichever side breaks first."""
    HIGH = "high"
    LOW = "low"
    CE_HIGH_PE_LOW = "CE on high, PE on low"
    PE_HIGH_CE_LOW = "PE on high, CE on low"


class BreakoutCheck(StrEnum):
    TICK = "tick"
    """Realtime: the first price beyond the range and its buffer."""
    MINUTE_CLOSE = "minute close"
    """A minute's last price beyond it (minutes anchored to 09:15)."""


class RangeBreakout(_Section):
    enabled: bool = Field(default=False, description="Enter on a breakout of an opening range.")
    range_start: time = Field(default=time(9, 15), description="The range is measured from …")
    range_end: time = Field(default=time(9, 30), description="… to this time (IST).")
    entry_end: time | None = Field(
        default=None, description="No breakout entry after this (empty: the No entry after time)."
    )
    on: RangeOn = Field(default=RangeOn.UNDERLYING, description="Whose range.")
    entry_at: EntryAt = Field(default=EntryAt.EITHER, description="Which side enters which legs.")
    buffer: Decimal = Field(default=Decimal(0), ge=0, description="Beyond the range by this much.")
    buffer_percent: bool = Field(default=False, description="The buffer is % of the range's edge.")
    opposite_sl: bool = Field(
        default=True, description="The range's other side is the stop of what the breakout entered."
    )
    cancel_other_side: bool = Field(
        default=True, description="Once one side fires, legs waiting for the other never enter."
    )
    no_breakout: frozenset[LegNo] = Field(
        default=frozenset(), description="Legs that enter with the portfolio, without a breakout."
    )
    check: BreakoutCheck = Field(default=BreakoutCheck.TICK, description="How a breakout is seen.")

    @model_validator(mode="after")
    def _coherent(self) -> RangeBreakout:
        if not self.enabled:
            return self
        if self.range_end <= self.range_start:
            raise ValueError("the range ends before it starts")
        if self.entry_end is not None and self.entry_end <= self.range_end:
            raise ValueError("the breakout's entry window ends before the range is measured")
        if self.on is RangeOn.LEGS and self.entry_at is not EntryAt.EITHER:
            raise ValueError(
                "on each leg's own premium a bought leg enters above its high and a sold leg "
                "below its low: set Entry at to either"
            )
        two_sides = self.entry_at in (EntryAt.CE_HIGH_PE_LOW, EntryAt.PE_HIGH_CE_LOW)
        if two_sides and self.opposite_sl and not self.cancel_other_side:
            raise ValueError(
                "the range's other side cannot be both the stop of the first side and the "
                "entry of the second: cancel the other side, or turn off the opposite-side stop"
            )
        return self


# -- extra conditions ------------------------------------------------------------------------------


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


class CombinedWaitTrade(_Section):
    """The structure enters only once its net premium has moved this far from its value when
    the entry window opened."""

    move: Decimal = Field(gt=0, description="Points (₹ per unit) or percent.")
    percent: bool = Field(default=False, description="The move is % of the net premium.")
    direction: Direction = Field(default=Direction.UP, description="Up or down from the start.")


class LegWaitTrade(_Section):
    """Chosen legs enter only once their own premium has moved this far from their price when
    the portfolio entered; once another leg has filled they can be forced in."""

    legs: frozenset[LegNo] = Field(min_length=1, description="The legs that wait.")
    move: Decimal = Field(gt=0, description="Points or percent from the leg's price at entry.")
    percent: bool = Field(default=False, description="The move is % of the leg's price.")
    direction: Direction = Field(default=Direction.UP, description="Up or down.")
    force_after_seconds: float | None = Field(
        default=None, gt=0, le=3600, description="Force them this long after another leg filled."
    )
    force_at_move: Decimal | None = Field(
        default=None, gt=0, description="Or force them once the price goes this far the other way."
    )


class LevelSource(StrEnum):
    SPOT = "spot"
    FUTURE = "future"
    """The nearest future."""
    SYNTHETIC = "synthetic"
    """ATM strike + call − put of the nearest expiry."""


class LevelCheck(StrEnum):
    TICK = "tick"
    ONE_MINUTE = "1m"
    THREE_MINUTES = "3m"
    FIVE_MINUTES = "5m"


class UnderlyingLevel(_Section):
    source: LevelSource = Field(default=LevelSource.SPOT, description="Which price.")
    at_or_above: Decimal | None = Field(default=None, gt=0, description="When it is at or above.")
    at_or_below: Decimal | None = Field(default=None, gt=0, description="When it is at or below.")
    check: LevelCheck = Field(default=LevelCheck.TICK, description="Every tick, or a candle close.")

    @model_validator(mode="after")
    def _a_level(self) -> UnderlyingLevel:
        if self.at_or_above is None and self.at_or_below is None:
            raise ValueError("a level needs a price above or below which it holds")
        if (
            self.at_or_above is not None
            and self.at_or_below is not None
            and self.at_or_below >= self.at_or_above
        ):
            raise ValueError("the level below must be under the level above (else it always holds)")
        return self


class Indicator(StrEnum):
    EMA_CROSS_UP = "EMA fast crosses above slow"
    EMA_CROSS_DOWN = "EMA fast crosses below slow"
    SMA_CROSS_UP = "SMA fast crosses above slow"
    SMA_CROSS_DOWN = "SMA fast crosses below slow"
    RSI_ABOVE = "RSI above level"
    RSI_BELOW = "RSI below level"
    SUPERTREND_UP = "SuperTrend up"
    SUPERTREND_DOWN = "SuperTrend down"
    ABOVE_VWAP = "close above VWAP"
    BELOW_VWAP = "close below VWAP"


CROSSES = frozenset(
    {
        Indicator.EMA_CROSS_UP,
        Indicator.EMA_CROSS_DOWN,
        Indicator.SMA_CROSS_UP,
        Indicator.SMA_CROSS_DOWN,
    }
)
EMAS = frozenset({Indicator.EMA_CROSS_UP, Indicator.EMA_CROSS_DOWN})
UPS = frozenset({Indicator.EMA_CROSS_UP, Indicator.SMA_CROSS_UP})
VWAPS = frozenset({Indicator.ABOVE_VWAP, Indicator.BELOW_VWAP})


class IndicatorCondition(_Section):
    """A condition on the underlying's candles, built in the desk from its ticks; the portfolio
    enters at the first candle close at which it holds (a cross: fast over slow at this close
    and not at the one before)."""

    indicator: Indicator = Indicator.EMA_CROSS_UP
    source: LevelSource = Field(default=LevelSource.SPOT, description="Candles of which price.")
    timeframe: LevelCheck = Field(default=LevelCheck.ONE_MINUTE, description="Candle size.")
    fast: int = Field(default=9, ge=1, le=200, description="Fast average (bars).")
    slow: int = Field(default=21, ge=2, le=400, description="Slow average (bars).")
    period: int = Field(default=14, ge=2, le=100, description="RSI / SuperTrend ATR period.")
    level: float = Field(default=60, gt=0, lt=100, description="RSI level.")
    multiplier: float = Field(default=3, gt=0, le=10, description="SuperTrend multiplier.")

    @model_validator(mode="after")
    def _coherent(self) -> IndicatorCondition:
        if self.timeframe is LevelCheck.TICK:
            raise ValueError("an indicator is read at a candle's close: choose 1m, 3m or 5m")
        if self.indicator in CROSSES and self.fast >= self.slow:
            raise ValueError("the fast average must be shorter than the slow one")
        if self.indicator in VWAPS and self.source is not LevelSource.FUTURE:
            raise ValueError("an index trades no volume: a VWAP is read on the future")
        return self


class RollingStraddle(_Section):
    """Enter once the rolling ATM straddle (ATM call + put of the nearest expiry, the ATM
    following the spot) has moved this % from its value when the entry window opened."""

    move_pct: Decimal = Field(gt=0, le=100, description="% move of the straddle's premium.")
    direction: Direction = Field(default=Direction.DOWN, description="Up or down.")


class ExtraConditions(_Section):
    combined_wait: CombinedWaitTrade | None = Field(
        default=None, description="Combined wait and trade: the net premium moves first."
    )
    leg_wait: LegWaitTrade | None = Field(default=None, description="Leg wait and trade.")
    underlying_entry: UnderlyingLevel | None = Field(
        default=None, description="Enter only once the underlying is at this level."
    )
    underlying_exit: UnderlyingLevel | None = Field(
        default=None, description="Square off everything once the underlying is at this level."
    )
    dte_at_least: int | None = Field(
        default=None, ge=0, le=60, description="Enter only with this many trading days to expiry …"
    )
    dte_at_most: int | None = Field(default=None, ge=0, le=60, description="… and at most these.")
    rolling_straddle: RollingStraddle | None = Field(
        default=None, description="Rolling straddle breakout."
    )
    indicator: IndicatorCondition | None = Field(
        default=None, description="An indicator on the underlying's candles."
    )

    @model_validator(mode="after")
    def _coherent(self) -> ExtraConditions:
        low, high = self.dte_at_least, self.dte_at_most
        if low is not None and high is not None and low > high:
            raise ValueError("days to expiry: at least is more than at most, so it never enters")
        return self

    @property
    def any_entry_rule(self) -> bool:
        return any(
            rule is not None
            for rule in (
                self.combined_wait,
                self.leg_wait,
                self.underlying_entry,
                self.rolling_straddle,
                self.indicator,
            )
        )


def uses_conditions(spec: PortfolioSpec) -> bool:
    """Whether a portfolio has anything of these pages to watch (else it pays nothing)."""
    extra = spec.conditions
    return (
        spec.range_breakout.enabled
        or extra.any_entry_rule
        or extra.underlying_exit is not None
        or extra.dte_at_least is not None
        or extra.dte_at_most is not None
    )


def _no_portfolio_entry_rule(extra: ExtraConditions) -> bool:
    return all(
        rule is None
        for rule in (
            extra.combined_wait,
            extra.underlying_entry,
            extra.rolling_straddle,
            extra.indicator,
        )
    )


_REENTRIES_ON_OWN_STOP = {"re_entry_at_cost": "at cost", "re_entry_momentum": "on momentum"}
"""Re-entries that wait on the price the leg's own stop left it at (``reentry_spec.Action``)."""


def conditions_problems(spec: PortfolioSpec) -> str | None:
    """What in these pages contradicts the rest of the portfolio, in words, or None."""
    breakout, extra, execution = spec.range_breakout, spec.conditions, spec.execution
    count = len(spec.legs)
    named = set(breakout.no_breakout if breakout.enabled else ())
    named |= set(extra.leg_wait.legs if extra.leg_wait is not None else ())
    beyond = sorted((leg for leg in named if leg.n > count), key=lambda leg: leg.n)
    if beyond:
        return f"{beyond[0].value} is named but the portfolio has {count} legs"
    if extra.leg_wait is not None:
        idle = [leg for leg in extra.leg_wait.legs if spec.legs[leg.n - 1].idle]
        if idle:
            return f"{idle[0].value} is idle: it cannot also wait and trade"
    portfolio_rule = not _no_portfolio_entry_rule(extra)  # a leg may still wait and trade
    if (portfolio_rule or breakout.enabled) and execution.manual_start:
        return "a manually started portfolio enters when the trader says: it has no entry rule"
    if not breakout.enabled:
        return None
    if extra.combined_wait is not None:
        return (
            "a combined wait and trade and a range breakout both decide the entry: keep one of them"
        )
    if execution.start is not None and breakout.range_start < execution.start:
        return (
            f"the range starts at {breakout.range_start:%H:%M}, before the portfolio starts "
            f"watching at {execution.start:%H:%M}: start it earlier or the range later"
        )
    entry_end = breakout.entry_end
    if entry_end is not None and execution.end is not None and entry_end > execution.end:
        return (
            f"the breakout's entry window ends at {entry_end:%H:%M}, after the portfolio's "
            f"No entry after {execution.end:%H:%M}"
        )
    if execution.end is not None and breakout.range_end >= execution.end:
        return "the range is still being measured when the entry window closes"
    entering = [n for n, leg in enumerate(spec.legs, start=1) if not leg.idle]
    free = {leg.n for leg in breakout.no_breakout}
    if all(n in free for n in entering):
        return "every leg enters without a breakout: turn the range breakout off instead"
    if breakout.opposite_sl:
        for n in entering:
            reaction = spec.legs[n - 1].on_stop
            action = "" if reaction is None else reaction.action.value
            if n not in free and action in _REENTRIES_ON_OWN_STOP:
                return (
                    f"Leg {n} re-enters {_REENTRIES_ON_OWN_STOP[action]} on its own stop, but the "
                    "range's other side is the stop of what the breakout entered: turn off the "
                    f"opposite-side stop, or let Leg {n} enter without a breakout"
                )
    two_sides = breakout.entry_at in (EntryAt.CE_HIGH_PE_LOW, EntryAt.PE_HIGH_CE_LOW)
    if two_sides:
        for n in entering:
            if n not in free and spec.legs[n - 1].instrument.value == "FUT":
                return (
                    f"Leg {n} is a future: with calls on one side and puts on the other, it "
                    "must be one of the legs that need no breakout"
                )
    return None
