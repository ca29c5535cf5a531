"""A demonstration strategy: trades near-the-money NIFTY options on the simulated market.

It exists so `dalaldesk --headless --demo` shows the whole path (tick -> order -> fill -> P&L)
working; it is not a trading idea.
"""

from __future__ import annotations

import random

from engine.domain.instruments import Instrument
from engine.domain.orders import OrderType, Product, Side
from engine.domain.origin import OrderSource, StrategyId
from engine.domain.ticks import Tick
from engine.strategies.ports import StrategyApi


class DemoStrategy:
    strategy_id = StrategyId("demo")

    def __init__(
        self, api: StrategyApi, *, seed: int = 1, every_ticks: int = 100, underlying: str = "NIFTY"
    ) -> None:
        self._api = api
        self._rng = random.Random(seed)
        self._every = every_ticks
        self._seen = 0
        self._options: list[Instrument] = [
            i for i in api.instruments.search(underlying=underlying, limit=100_000) if i.is_option
        ]
        self.orders_placed = 0
        self.denials = 0
        self.denial_reasons: dict[str, int] = {}

    def on_tick(self, tick: Tick) -> None:
        self._seen += 1
        if self._seen % self._every or not self._options:
            return
        instrument = self._rng.choice(self._options)
        quote = self._api.quote(instrument.token)
        if quote is None or quote.bid is None or quote.ask is None:
            return
        side = self._rng.choice((Side.BUY, Side.SELL))
        lots = self._rng.randint(1, 3)
        if self._rng.random() < 0.5:
            outcome = self._api.place_order(
                instrument.token,
                side,
                lots * instrument.lot_size,
                OrderType.MARKET,
                product=Product.MIS,
                source=OrderSource.STRATEGY,
                strategy=self.strategy_id,
            )
        else:
            price = quote.bid if side is Side.BUY else quote.ask
            outcome = self._api.place_order(
                instrument.token,
                side,
                lots * instrument.lot_size,
                OrderType.LIMIT,
                product=Product.MIS,
                price=price,
                source=OrderSource.STRATEGY,
                strategy=self.strategy_id,
            )
        self.orders_placed += 1
        if not outcome:
            self.denials += 1
            reason = outcome.check or outcome.reason
            self.denial_reasons[reason] = self.denial_reasons.get(reason, 0) + 1
