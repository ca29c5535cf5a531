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
import logging
import threading
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
from engine.strategies.own_api import STOPPED, OwnApi
from engine.strategies.ports import Instruments, OrderView, StrategyApi

if TYPE_CHECKING:
    from engine.strategies.kernel import StrategyKernel

log = logging.getLogger(__name__)


class Strategy:
    """Subclass this, give the class a ``strategy_id``, and override the handlers you need.

    The kernel calls ``on_start`` with the state the strategy last saved (empty the first time;
    a Start after a Stop, or after the desk restarted, goes on from the last one saved),
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
    """A running strategy's handle on the engine; every order it places names the strategy.

    It acts only while its strategy runs: once the strategy stops (the trader, the kill switch,
    a fault), an order placed through it is refused with the reason, and a watch, a timer or a
    save is not taken (each says why), so a thread or callback the strategy left behind cannot
    trade on. A start makes a new context; an old one stays stopped.
    """

    def __init__(self, kernel: StrategyKernel, strategy_id: StrategyId) -> None:
        self._kernel = kernel
        self.strategy_id = strategy_id
        self._stopped: str | None = None
        self._told = False
        self._thread = threading.get_ident()
        self._api: OwnApi | None = None

    @property
    def instruments(self) -> Instruments:
        return self._kernel.api.instruments

    def now(self) -> datetime:
        return self._kernel.clock.now()

    def time_ns(self) -> int:
        return self._kernel.clock.time_ns()

    @property
    def api(self) -> StrategyApi:
        """The facade for what ``place`` and ``quote`` do not cover (modify, cancel, orders,
        chains), as this strategy: it places only the strategy's own orders (no other source or
        strategy id), modifies and cancels only those, and places nothing once it has stopped."""
        if self._api is None:
            self._api = OwnApi(self, self._kernel.api)
        return self._api

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
        """Place an order (prices in rupees) through the gate, as this strategy; refused (with
        the reason) once the strategy has stopped."""
        stopped = self.refusal()
        if stopped is not None:
            return Outcome(False, None, stopped, check=STOPPED)
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

    def watch(self, tokens: Iterable[int]) -> str | None:
        """Receive the ticks of these instruments (and ask a live feed to stream them); None, or
        why not (the strategy has stopped)."""
        stopped = self.refusal()
        if stopped is None:
            self._kernel.watch(self.strategy_id, tokens)
        return stopped

    def watch_all(self) -> str | None:
        """Receive every tick the desk gets; None, or why not."""
        stopped = self.refusal()
        if stopped is None:
            self._kernel.watch(self.strategy_id, None)
        return stopped

    def every(self, seconds: float, name: str) -> str | None:
        """Call ``on_timer(name)`` every ``seconds`` until the strategy stops; None, or why
        not."""
        stopped = self.refusal()
        if stopped is None:
            self._kernel.timer(self.strategy_id, seconds, name, repeat=True)
        return stopped

    def after(self, seconds: float, name: str) -> str | None:
        """Call ``on_timer(name)`` once, ``seconds`` from now; None, or why not."""
        stopped = self.refusal()
        if stopped is None:
            self._kernel.timer(self.strategy_id, seconds, name, repeat=False)
        return stopped

    def save(self) -> str | None:
        """Journal what ``snapshot`` returns now, so a restart (and a Start after a Stop)
        resumes from here; None, or why not (a stopped strategy's state was saved as it
        stopped)."""
        stopped = self.refusal()
        if stopped is None:
            self._kernel.save(self.strategy_id)
        return stopped

    def finish(self, reason: str) -> None:
        """Stop this strategy (it has done its work): journaled as stopped with ``reason``."""
        if self._stopped is None:
            self._kernel.stop(self.strategy_id, reason, force=True)

    def loop_running(self) -> bool:
        """Whether timers can be set (the desk runs on its loop, or on a simulated clock; some
        tests drive it by hand)."""
        return isinstance(self._kernel.clock, SimulatedClock) or _loop_running()

    def say(self, text: str, severity: Severity = Severity.INFO) -> None:
        """A message for the trader, in Messages under the strategy's name."""
        self._kernel.say(self.strategy_id, severity, text)

    # -- the kernel's ---------------------------------------------------------------------------------

    def end(self, why: str) -> None:
        """The kernel stopped this run of the strategy (``why``): the context acts no more."""
        if self._stopped is None:
            self._stopped = why

    def refusal(self) -> str | None:
        """Why this context may no longer act (its strategy has stopped), or None while it runs.
        The first refusal is told to the trader too: something of the strategy still runs."""
        if self._stopped is None:
            return None
        text = (
            f"strategy {self.strategy_id} has stopped ({self._stopped}): a stopped strategy "
            "places no orders, sets no timers and watches nothing"
        )
        if not self._told:
            self._told = True
            said = f"{text}; something it left running (a thread, a callback) still tries"
            log.warning("%s", said)
            if threading.get_ident() == self._thread:  # the bus is the desk thread's alone
                self._kernel.say(self.strategy_id, Severity.WARNING, said)
        return text


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
