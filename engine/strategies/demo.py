"""A demonstration strategy: trades near-the-money NIFTY options on the simulated market.

It exists so `dalaldesk --headless --demo` shows the whole path (tick -> order -> fill -> P&L)
working; it is not a trading idea. It is an ordinary kernel strategy: what it has done survives a
restart (its counters and its random generator's position are in its snapshot).
"""

from __future__ import annotations

import random
from typing import Any

from engine.domain.instruments import Instrument
from engine.domain.orders import OrderType, Product, Side
from engine.domain.ticks import Tick
from engine.strategies.kernel import Strategy


class DemoStrategy(Strategy):
    strategy_id = "demo"
    title = "Demo"
    description = "Random near-the-money NIFTY option orders, every 100 ticks (not a trading idea)"

    seed = 1
    every_ticks = 100
    underlying = "NIFTY"

    def on_start(self, state: dict[str, Any]) -> None:
        self._rng = random.Random(self.seed + int(state.get("orders_placed", 0)))
        self._seen = 0
        self._options: list[Instrument] = [
            i
            for i in self.ctx.instruments.search(underlying=self.underlying, limit=100_000)
            if i.is_option
        ]
        self.orders_placed = int(state.get("orders_placed", 0))
        self.denials = int(state.get("denials", 0))
        self.denial_reasons: dict[str, int] = dict(state.get("denial_reasons", {}))
        self.ctx.watch_all()

    def snapshot(self) -> dict[str, Any]:
        return {
            "orders_placed": self.orders_placed,
            "denials": self.denials,
            "denial_reasons": dict(self.denial_reasons),
        }

    def on_tick(self, tick: Tick) -> None:
        self._seen += 1
        if self._seen % self.every_ticks or not self._options:
            return
        instrument = self._rng.choice(self._options)
        quote = self.ctx.quote(instrument.token)
        if quote is None or quote.bid is None or quote.ask is None:
            return
        side = self._rng.choice((Side.BUY, Side.SELL))
        quantity = self._rng.randint(1, 3) * instrument.lot_size
        if self._rng.random() < 0.5:
            outcome = self.ctx.place(
                instrument.token, side, quantity, OrderType.MARKET, product=Product.MIS
            )
        else:
            price = quote.bid if side is Side.BUY else quote.ask
            outcome = self.ctx.place(
                instrument.token, side, quantity, OrderType.LIMIT, price=price, product=Product.MIS
            )
        self.orders_placed += 1
        if not outcome:
            self.denials += 1
            reason = outcome.check or outcome.reason
            self.denial_reasons[reason] = self.denial_reasons.get(reason, 0) + 1
