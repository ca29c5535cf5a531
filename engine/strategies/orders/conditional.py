"""A conditional order: an order placed when a condition holds, watched by the desk.

Conditions (``Condition``):
- ``price``: an instrument's last price (this order's, or another's) crosses a level, upwards
  (``above``) or downwards (``below``). Crossing means it was seen on the other side first, so a
  level the market is already past waits for it to come back and cross;
- ``time``: the clock reaches a time of day (IST);
- ``indicator``: an indicator on the instrument's closed candles (SMA, EMA or RSI of ``period``
  bars of ``timeframe``) crosses a level (RSI in points, averages in rupees).

The order is placed once, through the gate, as ``cond-NNNN``; the strategy then ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any

import numpy as np

from engine.core.clock import IST
from engine.domain.bars import Timeframe
from engine.domain.orders import OrderType, Product, Side
from engine.domain.ticks import Tick
from engine.domain.values import rupees_text
from engine.marketdata.bars import BarSeries
from engine.marketdata.indicators import ema, rsi, sma
from engine.strategies.kernel import Strategy, StrategyContext
from engine.strategies.orders.terms import (
    TermsError,
    instrument_of,
    lots_quantity,
    optional_price,
    price_of,
    product_of,
    rupees,
    side_of,
)
from engine.strategies.ports import Instruments

INDICATORS: dict[str, Callable[[Any, int], Any]] = {"sma": sma, "ema": ema, "rsi": rsi}
KINDS = ("price", "time", "indicator")


@dataclass(frozen=True, slots=True)
class Condition:
    kind: str
    token: int = 0
    direction: str = "above"
    level: Decimal = Decimal(0)
    """Rupees for a price or an average, points for RSI."""
    at: time | None = None
    indicator: str = ""
    period: int = 14
    timeframe: str = "1m"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "token": self.token,
            "direction": self.direction,
            "level": str(self.level),
            "at": None if self.at is None else self.at.isoformat(),
            "indicator": self.indicator,
            "period": self.period,
            "timeframe": self.timeframe,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Condition:
        at = data.get("at")
        return cls(
            kind=data["kind"],
            token=int(data.get("token") or 0),
            direction=data.get("direction", "above"),
            level=Decimal(str(data.get("level", "0"))),
            at=None if at is None else time.fromisoformat(at),
            indicator=data.get("indicator", ""),
            period=int(data.get("period", 14)),
            timeframe=data.get("timeframe", "1m"),
        )

    def describe(self, symbol: str) -> str:
        if self.kind == "time":
            assert self.at is not None
            return f"at {self.at:%H:%M} IST"
        if self.kind == "indicator":
            name = f"{self.indicator.upper()}({self.period}, {self.timeframe})"
            return f"{name} of {symbol} crosses {self.direction} {self.level}"
        return f"{symbol} crosses {self.direction} {self.level}"


def condition_of(instruments: Instruments, data: dict[str, Any]) -> Condition:
    """A checked condition from plain values; ``TermsError`` saying what is wrong."""
    kind = data.get("kind")
    if kind not in KINDS:
        raise TermsError(f"a condition is one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "time":
        at = data.get("at")
        try:
            moment = at if isinstance(at, time) else time.fromisoformat(str(at))
        except ValueError:
            raise TermsError(f"the time must be HH:MM, not {at!r}") from None
        return Condition("time", at=moment)
    token = data.get("token")
    if isinstance(token, bool) or not isinstance(token, int) or instruments.find(token) is None:
        raise TermsError(f"the condition's instrument {token!r} is not on this desk")
    instrument = instruments.find(token)
    assert instrument is not None
    direction = data.get("direction")
    if direction not in ("above", "below"):
        raise TermsError(f"a condition crosses 'above' or 'below', not {direction!r}")
    level = data.get("level")
    try:
        value = Decimal(str(level))
    except ArithmeticError:
        raise TermsError(f"the level must be a number, not {level!r}") from None
    if not value.is_finite() or value <= 0:
        raise TermsError(f"the level must be a positive number, not {level!r}")
    if kind == "price":
        price_of(value, "the level", instrument)
        return Condition("price", instrument.token, direction, value)
    indicator = str(data.get("indicator", "")).lower()
    if indicator not in INDICATORS:
        raise TermsError(f"the indicator is one of {', '.join(INDICATORS)}, not {indicator!r}")
    period = data.get("period", 14)
    if isinstance(period, bool) or not isinstance(period, int) or not 1 < period <= 200:
        raise TermsError(f"the period must be a whole number of bars from 2 to 200, not {period!r}")
    timeframe = str(data.get("timeframe", "1m"))
    try:
        Timeframe.of(timeframe)
    except ValueError as problem:
        raise TermsError(str(problem)) from None
    if indicator == "rsi" and value >= 100:
        raise TermsError(f"an RSI level is below 100, not {value}")
    return Condition("indicator", instrument.token, direction, value, None, indicator, period,
                     timeframe)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ConditionalSpec:
    condition: Condition
    token: int
    side: Side
    quantity: int
    order_type: OrderType
    price: int | None
    trigger_price: int | None
    product: Product

    def as_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition.as_dict(),
            "token": self.token,
            "side": self.side.value,
            "quantity": self.quantity,
            "order_type": self.order_type.value,
            "price": self.price,
            "trigger_price": self.trigger_price,
            "product": self.product.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConditionalSpec:
        return cls(
            Condition.from_dict(data["condition"]),
            int(data["token"]),
            Side(data["side"]),
            int(data["quantity"]),
            OrderType(data["order_type"]),
            data.get("price"),
            data.get("trigger_price"),
            Product(data["product"]),
        )


def conditional_spec(
    instruments: Instruments,
    condition: dict[str, Any],
    *,
    token: object,
    side: object,
    quantity: object,
    order_type: object = "MARKET",
    price: object = None,
    trigger_price: object = None,
    product: object = "MIS",
) -> ConditionalSpec:
    checked = condition_of(instruments, condition)
    instrument = instrument_of(instruments, token)
    try:
        kind = OrderType(str(order_type).upper().replace("_", "-"))
    except ValueError:
        raise TermsError(
            f"order type must be MARKET, LIMIT, SL or SL-M, not {order_type!r}"
        ) from None
    limit = optional_price(price, "price", instrument)
    trigger = optional_price(trigger_price, "trigger price", instrument)
    if kind in (OrderType.LIMIT, OrderType.SL) and limit is None:
        raise TermsError(f"a {kind.value} order needs a price")
    if kind in (OrderType.SL, OrderType.SL_M) and trigger is None:
        raise TermsError(f"a {kind.value} order needs a trigger price")
    return ConditionalSpec(
        checked, instrument.token, side_of(side), lots_quantity(quantity, instrument), kind,
        limit, trigger, product_of(product),
    )  # fmt: skip


class ConditionalOrder(Strategy):
    title = "Conditional order"

    def __init__(self, ctx: StrategyContext, spec: ConditionalSpec) -> None:
        super().__init__(ctx)
        self.spec = spec
        self.side_seen: str | None = None
        """Where the watched value last stood against the level: 'above' or 'below'."""
        self.order_id: str | None = None
        condition = spec.condition
        self._bars = (
            BarSeries(condition.token, Timeframe.of(condition.timeframe), max_bars=500)
            if condition.kind == "indicator"
            else None
        )

    def on_start(self, state: dict[str, Any]) -> None:
        placed = self.ctx.own_orders()
        if placed:
            # Its order went out before the desk stopped, its own record after it did not: the
            # order in the book is the one it placed, never to be placed twice.
            self.order_id = placed[0].order_id
            self.ctx.finish(f"order {self.order_id} was placed before the desk restarted")
            return
        self.side_seen = state.get("side_seen")
        condition = self.spec.condition
        if condition.kind == "time":
            if self.ctx.loop_running():
                self.ctx.every(1.0, "clock")
            self.ctx.watch_all()
            self._check_time()
            return
        self.ctx.watch([condition.token])
        tick = self.ctx.api.tick(condition.token)
        if tick is not None and condition.kind == "price":
            self._observe(Decimal(tick.ltp) / 100)

    def on_timer(self, name: str) -> None:
        self._check_time()

    def on_tick(self, tick: Tick) -> None:
        condition = self.spec.condition
        if condition.kind == "time":
            self._check_time()
        elif tick.token == condition.token and tick.ltp > 0:
            if condition.kind == "price":
                self._observe(Decimal(tick.ltp) / 100)
            else:
                self._candle(tick)

    def _check_time(self) -> None:
        at = self.spec.condition.at
        assert at is not None
        now: datetime = self.ctx.now().astimezone(IST)
        if now.time() >= at:
            self._fire(f"the clock reached {at:%H:%M}")

    def _candle(self, tick: Tick) -> None:
        assert self._bars is not None
        if self._bars.add(tick.ts_ns, tick.ltp, tick.volume) is None:
            return
        condition = self.spec.condition
        closes = np.array([bar.close for bar in self._bars.bars(with_open=False)], dtype=float)
        values = INDICATORS[condition.indicator](closes, condition.period)
        if len(values) == 0 or not np.isfinite(values[-1]):
            return
        value = values[-1] if condition.indicator == "rsi" else values[-1] / 100
        self._observe(Decimal(repr(round(float(value), 4))))

    def _observe(self, value: Decimal) -> None:
        condition = self.spec.condition
        if condition.direction == "above":
            now = "above" if value >= condition.level else "below"
        else:
            now = "below" if value <= condition.level else "above"
        before, self.side_seen = self.side_seen, now
        if before is not None and before != now and now == condition.direction:
            self._fire(f"{value} crossed {condition.direction} {condition.level}")
        elif before != now:
            self.ctx.save()

    def _fire(self, why: str) -> None:
        if self.order_id is not None:
            return
        spec = self.spec
        outcome = self.ctx.place(
            spec.token,
            spec.side,
            spec.quantity,
            spec.order_type,
            price=None if spec.price is None else rupees(spec.price),
            trigger_price=None if spec.trigger_price is None else rupees(spec.trigger_price),
            product=spec.product,
        )
        if not outcome.ok:
            self.ctx.finish(f"{why}; order not placed: {outcome.reason}")
            return
        self.order_id = outcome.order_id
        self.ctx.finish(f"{why}; order {outcome.order_id} placed")

    def cancel(self) -> str | None:
        self.ctx.finish("cancelled by the trader")
        return None

    def halt(self, why: str) -> bool:
        """Trading halted: the order is not placed, now or after a re-arm; whether it was
        still waiting for its condition."""
        if self.order_id is not None:
            return False
        self.ctx.finish(why)
        return True

    def snapshot(self) -> dict[str, Any]:
        return {"spec": self.spec.as_dict(), "side_seen": self.side_seen, "order_id": self.order_id}

    def keeps_running(self) -> bool:
        return True

    def describe(self) -> str:
        instrument = self.ctx.instruments.find(self.spec.token)
        symbol = instrument.tradingsymbol if instrument else str(self.spec.token)
        watched = self.ctx.instruments.find(self.spec.condition.token)
        price = "" if self.spec.price is None else f" {rupees_text(self.spec.price)}"
        condition = self.spec.condition.describe(watched.tradingsymbol if watched else "")
        return (
            f"{'' if self.spec.condition.kind == 'time' else 'when '}{condition}: "
            f"{self.spec.side.value} {self.spec.quantity} {symbol} {self.spec.order_type.value}"
            f"{price}"
        )
