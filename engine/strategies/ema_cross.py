"""Bar strategies: a strategy that trades on the close of 1-minute bars of one instrument, and
the EMA cross, the simplest of them (the backtest benchmark's strategy).

A bar closes for the strategy when the next bar's first tick arrives, so an order placed on a
bar's close trades at the next bar's open price (next-bar fills, as backtrader does).
"""

from __future__ import annotations

import math
from typing import Any

from engine.domain.bars import Bar
from engine.domain.orders import OrderType, Product, Side
from engine.domain.ticks import Tick
from engine.marketdata.bars import BarSeries, Timeframe
from engine.strategies.kernel import Strategy


class BarStrategy(Strategy):
    """Override ``on_bar``; ``token`` is the instrument whose 1-minute bars it gets."""

    token = 0
    """The instrument traded; 0: the first tradable instrument the desk lists."""

    def on_start(self, state: dict[str, Any]) -> None:
        token = _whole(self, "token")
        if token == 0:
            tradable = [i for i in self.ctx.instruments.search(limit=100_000) if i.tradable]
            if not tradable:
                raise ValueError("no tradable instrument to trade")
            instrument = tradable[0]
        else:
            found = self.ctx.instruments.find(token)
            if found is None:
                # Watching a token the desk does not list would run to the end without a bar.
                raise ValueError(f"the desk lists no instrument with token {token}")
            instrument = found
        self.instrument = instrument
        token = int(instrument.token)
        self.traded_token = token
        self._series = BarSeries(token, Timeframe.M1, 1)
        self.ctx.watch([token])

    def on_tick(self, tick: Tick) -> None:
        if tick.ltp > 0:
            closed = self._series.add(tick.ts_ns, tick.ltp, tick.volume, tick.oi)
            if closed is not None:
                self.on_bar(closed)

    def on_bar(self, bar: Bar) -> None:
        """A 1-minute bar of ``token`` closed (prices in paise)."""


class EmaCrossStrategy(BarStrategy):
    strategy_id = "ema_cross"
    title = "EMA cross"
    description = (
        "Long while the fast EMA of 1-minute closes is above the slow one, flat otherwise "
        "(fixed quantity, market orders)"
    )

    fast = 10
    slow = 30
    quantity = 1
    product = ""
    """CNC, MIS or NRML; '' for the instrument's own: NRML for F&O, CNC for a share."""

    long = False
    """Holding the quantity bought on the last cross up."""
    trades = 0

    def on_start(self, state: dict[str, Any]) -> None:
        super().on_start(state)
        fast, slow = _whole(self, "fast"), _whole(self, "slow")
        if not 0 < fast < slow:
            raise ValueError(f"fast ({fast}) must be positive and below slow ({slow})")
        if _whole(self, "quantity") <= 0:
            raise ValueError(f"quantity ({self.quantity}) must be positive")
        if not self.product:
            self.product = "NRML" if self.instrument.is_derivative else "CNC"
        if self.product not in {p.value for p in Product}:
            names = ", ".join(p.value for p in Product)
            raise ValueError(f"product must be one of {names}, not {self.product!r}")
        self._periods = (fast, slow)
        self._alphas = [2.0 / (1.0 + p) for p in self._periods]
        self._seed: list[float] = []
        self._ema = [math.nan, math.nan]
        self._bars = 0
        # Started again (a restart, a Stop and Start) it holds what it bought before: a cross
        # down sells it, a cross up does not buy a second lot.
        self.long = bool(state.get("long", False))
        self.trades = int(state.get("trades", 0))

    def on_bar(self, bar: Bar) -> None:
        close = bar.close / 100
        self._bars += 1
        self._seed.append(close)
        fast, slow = self._periods
        # Seeded with the simple mean of the first ``period`` closes, as backtrader's EMA is.
        for which, period in enumerate((fast, slow)):
            alpha = self._alphas[which]
            if self._bars == period:
                self._ema[which] = math.fsum(self._seed[-period:]) / period
            elif self._bars > period:
                self._ema[which] = self._ema[which] * (1.0 - alpha) + close * alpha
        if self._bars < slow:
            return
        if self._bars == slow:
            self._seed = []
        above = self._ema[0] > self._ema[1]
        if above and not self.long:
            self._trade(Side.BUY)
        elif not above and self.long:
            self._trade(Side.SELL)

    def _trade(self, side: Side) -> None:
        outcome = self.ctx.place(
            self.traded_token,
            side,
            int(self.quantity),
            OrderType.MARKET,
            product=Product(self.product),
        )
        if outcome.ok:
            self.long = side is Side.BUY
            self.trades += 1

    def snapshot(self) -> dict[str, Any]:
        return {"long": self.long, "trades": self.trades}


def _whole(strategy: Strategy, name: str) -> int:
    """A parameter as a whole number, or an error that names it."""
    value = getattr(strategy, name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None
