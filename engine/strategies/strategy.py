"""What a strategy is and what it may do: the ``Strategy`` class the trader subclasses and the
``StrategyContext`` handle each running strategy is given.

A strategy hears ticks, the events of its own orders and its timers through the handlers of
``Strategy``; it acts only through its context: orders placed through the facade (so through the
one risk gate) naming the strategy, instruments to watch, timers, saving its state, messages for
the trader. The kernel that runs strategies and routes to them is ``engine.strategies.kernel``
(which the trader's strategy files import ``Strategy`` from too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from engine.core.clock import SimulatedClock
from engine.domain.events import OrderEvent, Severity
from engine.domain.ids import InstrumentToken
from engine.domain.orders import OrderType, Product, Side, Validity
from engine.domain.origin import OrderSource, StrategyId
from engine.domain.ticks import Quote, Tick
from engine.oms.outcome import Outcome
from engine.strategies.ports import Instruments, OrderView, StrategyApi

if TYPE_CHECKING:
    from engine.strategies.kernel import StrategyKernel


class Strategy:
    """Subclass this, give the class a ``strategy_id``, and override the handlers you need.

    The kernel calls ``on_start`` with the state the strategy last saved (empty the first time),
    ``on_tick`` for every tick of the instruments it watches, ``on_order`` for events of its own
    orders, ``on_timer`` when a timer it set fires, and ``on_stop`` when it is stopped.
    ``snapshot`` returns what to keep across a restart; ``self.ctx.save()`` journals it.
    """

    strategy_id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, ctx: StrategyContext) -> None:
        self.ctx = ctx

    def on_start(self, state: dict[str, Any]) -> None:
        """Begin (or resume from ``state``): watch instruments, set timers."""

    def on_tick(self, tick: Tick) -> None:
        """A tick of a watched instrument (prices in paise, as ticks carry them)."""

    def on_order(self, event: OrderEvent) -> None:
        """An event of one of this strategy's orders: submitted, status, fill, denial."""

    def on_timer(self, name: str) -> None:
        """A timer set with ``ctx.every`` or ``ctx.after`` fired."""

    def on_stop(self) -> None:
        """The strategy is being stopped; its orders stay as they are."""

    def snapshot(self) -> dict[str, Any]:
        """What the strategy needs to resume after a restart (plain values only)."""
        return {}

    def stop_refusal(self) -> str | None:
        """Why the trader may not stop it now (a portfolio with open legs), or None."""
        return None

    def keeps_running(self) -> bool:
        """Whether it starts again at the next start after the desk closes cleanly (a portfolio
        with open legs must go on watching them); a crash always resumes what was running."""
        return False


class StrategyContext:
    """A running strategy's handle on the engine; every order it places names the strategy."""

    def __init__(self, kernel: StrategyKernel, strategy_id: StrategyId) -> None:
        self._kernel = kernel
        self.strategy_id = strategy_id

    @property
    def instruments(self) -> Instruments:
        return self._kernel.api.instruments

    def now(self) -> datetime:
        return self._kernel.clock.now()

    def time_ns(self) -> int:
        return self._kernel.clock.time_ns()

    @property
    def api(self) -> StrategyApi:
        """The facade itself, for what ``place`` and ``quote`` do not cover (modify, cancel,
        orders, chains); orders placed through it must name this strategy."""
        return self._kernel.api

    def quote(self, token: InstrumentToken | int) -> Quote | None:
        return self._kernel.api.quote(token)

    def place(
        self,
        token: InstrumentToken | int,
        side: Side | str,
        quantity: int,
        order_type: OrderType | str = OrderType.LIMIT,
        *,
        price: Decimal | int | str | None = None,
        trigger_price: Decimal | int | str | None = None,
        product: Product | str = Product.NRML,
        validity: Validity | str = Validity.DAY,
        tag: str = "",
    ) -> Outcome:
        """Place an order (prices in rupees) through the gate, as this strategy."""
        return self._kernel.api.place_order(
            token,
            side,
            quantity,
            order_type,
            product=product,
            validity=validity,
            price=price,
            trigger_price=trigger_price,
            tag=tag,
            source=OrderSource.STRATEGY,
            strategy=self.strategy_id,
        )

    def own_orders(self) -> list[OrderView]:
        """The orders in the book that name this strategy, oldest first: at a restart, what it
        placed before the desk stopped, whether or not its own record says so yet."""
        return [o for o in self._kernel.api.orders() if o.strategy == self.strategy_id]

    def watch(self, tokens: Iterable[int]) -> None:
        """Receive the ticks of these instruments (and ask a live feed to stream them)."""
        self._kernel.watch(self.strategy_id, tokens)

    def watch_all(self) -> None:
        """Receive every tick the desk gets."""
        self._kernel.watch(self.strategy_id, None)

    def every(self, seconds: float, name: str) -> None:
        """Call ``on_timer(name)`` every ``seconds`` until the strategy stops."""
        self._kernel.timer(self.strategy_id, seconds, name, repeat=True)

    def after(self, seconds: float, name: str) -> None:
        """Call ``on_timer(name)`` once, ``seconds`` from now."""
        self._kernel.timer(self.strategy_id, seconds, name, repeat=False)

    def save(self) -> None:
        """Journal what ``snapshot`` returns now, so a restart resumes from here."""
        self._kernel.save(self.strategy_id)

    def finish(self, reason: str) -> None:
        """Stop this strategy (it has done its work): journaled as stopped with ``reason``."""
        self._kernel.stop(self.strategy_id, reason, force=True)

    def loop_running(self) -> bool:
        """Whether timers can be set (the desk runs on its loop, or on a simulated clock; some
        tests drive it by hand)."""
        return isinstance(self._kernel.clock, SimulatedClock) or _loop_running()

    def say(self, text: str, severity: Severity = Severity.INFO) -> None:
        """A message for the trader, in Messages under the strategy's name."""
        self._kernel.say(self.strategy_id, severity, text)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
