"""The simulated market run as fast as it computes, on a ``SimulatedClock``: a session of
simulated trading (and its recording) in seconds instead of hours, with every timer of the desk
firing at its simulated moment. The market's first quotes are delivered as ticks, so a recorder
keeps the state a replay starts from."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from engine.core.clock import SimulatedClock
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarket


class FastSimulatedFeed:
    def __init__(
        self,
        market: SimulatedMarket,
        clock: SimulatedClock,
        seconds: float,
        *,
        step: float = 0.25,
        yield_every: int = 40,
    ) -> None:
        if not (seconds > 0 and step > 0):
            raise ValueError("seconds and step must be positive")
        self.market = market
        self._clock = clock
        self._steps = round(seconds / step)
        self._step = step
        self._yield_every = yield_every
        self.total = self._steps
        self.delivered = 0
        """Steps run so far."""
        self.finished = asyncio.Event()

    async def run(self, on_tick: Callable[[Tick], None], stop: asyncio.Event) -> None:
        for tick in self.market.snapshot():
            on_tick(tick)
        step, market, clock = self._step, self.market, self._clock
        for number in range(1, self._steps + 1):
            clock.advance(step)
            for tick in market.step(step):
                on_tick(tick)
            if number % self._yield_every == 0:
                self.delivered = number
                await asyncio.sleep(0)
                if stop.is_set():
                    return
        self.delivered = self._steps
        self.finished.set()
