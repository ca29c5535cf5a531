"""The protective exit of a position: one exit order at a time, always covering exactly what is
held, that is a stop-loss while the market is between the levels and becomes the target order when
the target is reached.

Why one order and not a resting target beside a resting stop: two resting exits can both fill in
the same burst (the target trades, and before the cancel of the stop reaches the exchange the
stop triggers), which reverses the position. Here the target and the stop are two *modes* of one
order, switched by modifying it (a trigger-pending SL becomes a LIMIT at the target; a LIMIT whose
target the market left becomes an SL again, or a MARKET if the market is already through the
stop). However the modifications and fills race, the exit's quantity is never more than what is
held, so the target and the stop can never both fill, and at rest the exit's open quantity is
exactly the position:

- the exit's quantity only grows (the entry filled more); an exit fill reduces the position and
  the exit's open quantity together;
- a new exit order is sent only when the last one is done (complete, cancelled, rejected);
- one request (place or modify) is in flight at a time; what changed meanwhile is sent after it.

Prices are integer paise; ``holding`` is the side of the position (BUY: long, the exit SELLs).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from engine.domain.events import (
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
    Severity,
)
from engine.domain.orders import OrderStatus, OrderType, Product, Side
from engine.domain.ticks import Tick
from engine.domain.values import rupees_text
from engine.strategies.kernel import StrategyContext
from engine.strategies.orders.terms import exit_side, rupees
from engine.strategies.orders.trail import Trail

MAX_MODIFICATIONS = 20
"""Modifications of one exit order the desk allows itself (Kite refuses the 26th, §A.7): the
trail pauses at this many, leaving room for the switches between stop and target."""
MAX_FAILURES = 3
"""Exit orders refused in a row before the desk stops trying and says so."""
IN_FLIGHT_LIMIT_NS = 5_000_000_000
"""A request with no answer after this long is no longer waited for."""


class Mode(StrEnum):
    STOP = "stop"
    TARGET = "target"
    FLATTEN = "flatten"


_MODE_OF = {OrderType.LIMIT: Mode.TARGET, OrderType.MARKET: Mode.FLATTEN}
"""The mode an exit order was sent in, read from its type (an SL or SL-M is a stop)."""


@dataclass(slots=True)
class ExitOrder:
    order_id: str
    quantity: int
    filled: int = 0
    mode: str = Mode.STOP
    done: bool = False
    modifications: int = 0
    stop_fills: int = 0
    target_fills: int = 0
    stop: int | None = None
    """The stop the order was last sent with (paise)."""
    target: int | None = None
    triggered: bool = False
    """A stop the market triggered (its trigger can no longer be moved)."""
    cancelling: bool = False
    """Asked to cancel, to be replaced by a stop (a LIMIT cannot become an SL again)."""


class ProtectiveExit:
    def __init__(
        self,
        ctx: StrategyContext,
        *,
        token: int,
        holding: Side,
        product: Product,
        stop: int,
        target: int | None,
        tick_size: int,
        stop_limit_ticks: int = 20,
        trail: Trail | None = None,
        use_touch: bool = False,
    ) -> None:
        self.ctx = ctx
        self.token = token
        self.holding = holding
        self.side = exit_side(holding)
        self.product = product
        self.stop = stop
        self.target = target
        self.tick = tick_size
        self.stop_limit_ticks = stop_limit_ticks
        self.trail = trail
        self.use_touch = use_touch
        """Watch the side the exit would fill on (the bid for a SELL exit) rather than the LTP."""
        self.covered = 0
        """What the exit orders must cover in all (the entry's fills, or the position taken)."""
        self.orders: list[ExitOrder] = []
        self.mode = Mode.STOP
        self.forced_flat = False
        self.price: int | None = None
        self.best: int | None = None
        self.in_flight_ns: int | None = None
        self.failures = 0
        self.gave_up = False
        self.held_back = False
        """Trading is halted: no exit order is placed or modified (the gate takes none from a
        strategy until the re-arm, and the halt cancelled the one resting); ``release`` ends it."""
        self._placing = False
        self._busy = False
        self._again = False
        self._trail_paused = False

    # -- what is held ------------------------------------------------------------------------------

    @property
    def live(self) -> ExitOrder | None:
        return next((o for o in self.orders if not o.done), None)

    @property
    def exited(self) -> int:
        return sum(o.filled for o in self.orders)

    @property
    def held(self) -> int:
        return self.covered - self.exited

    def cover(self, quantity: int) -> None:
        self.covered = max(self.covered, quantity)
        self.sync()

    def _long(self) -> bool:
        return self.holding is Side.BUY

    def _beyond(self, price: int, level: int) -> bool:
        """``price`` has reached ``level`` in the position's favour (long: at or above)."""
        return price >= level if self._long() else price <= level

    # -- market -------------------------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> None:
        price = tick.ltp
        if self.use_touch:
            touch = tick.bid if self.side is Side.SELL else tick.ask
            price = touch if touch > 0 else price
        if price <= 0:
            return
        self.price = price
        if self.trail is not None and self.held > 0:
            self._trail(price, tick.ltp)
        self.sync()

    def _trail(self, price: int, ltp: int) -> None:
        assert self.trail is not None
        self.best = price if self.best is None else (
            max(self.best, price) if self._long() else min(self.best, price)
        )  # fmt: skip
        candidate = self.trail.stop_for(self.best, self.holding, self.tick)
        tighter = candidate > self.stop if self._long() else candidate < self.stop
        # Beyond the watched price and the last trade both: a stop the last trade has already
        # reached would trigger at once (or be refused by the exchange).
        protective = candidate < min(price, ltp) if self._long() else candidate > max(price, ltp)
        if not tighter or not protective or abs(candidate - self.stop) < self.trail.step:
            return
        live = self.live
        if live is not None and live.modifications >= MAX_MODIFICATIONS:
            if not self._trail_paused:
                self._trail_paused = True
                self.ctx.say(
                    f"trailing paused at stop {rupees_text(self.stop)}: exit order "
                    f"{live.order_id} has had {live.modifications} modifications",
                    Severity.WARNING,
                )
            return
        self.stop = candidate

    def wanted_mode(self) -> Mode:
        price = self.price
        if self.forced_flat:
            return Mode.FLATTEN
        if price is None:
            return self.mode
        if self.target is not None and self._beyond(price, self.target):
            return Mode.TARGET
        if not self._beyond(price, self.stop + (self.tick if self._long() else -self.tick)):
            # At or through the stop: a resting stop triggers by itself unless the market went
            # through its limit too; any other exit must go now.
            if self.mode is Mode.STOP and self._beyond(price, self._stop_limit()):
                return Mode.STOP
            return Mode.FLATTEN
        if self.mode is Mode.TARGET and self.target is not None:
            rearm = max(self.tick, abs(self.target - self.stop) // 4)
            back = self.target - rearm if self._long() else self.target + rearm
            if self._beyond(price, back):
                return Mode.TARGET
        if self.mode is Mode.FLATTEN:
            return Mode.FLATTEN
        return Mode.STOP

    def _stop_limit(self) -> int:
        room = self.stop_limit_ticks * self.tick
        return max(self.tick, self.stop - room) if self._long() else self.stop + room

    # -- orders -------------------------------------------------------------------------------------

    def sync(self) -> None:
        """Bring the exit order to what is held and to the mode the market asks for."""
        if self._busy:
            self._again = True
            return
        self._busy = True
        try:
            for _ in range(10):
                self._again = False
                self._sync_once()
                if not self._again:
                    break
        finally:
            self._busy = False

    def _sync_once(self) -> None:
        # The book is the truth, read afresh each time: events reach the strategy after the
        # book has changed (the bus queues what is published while it dispatches), so counting
        # the events would lag the book, and an order the venue finished with a fill gives no
        # status of its own.
        for order in self.orders:
            if not order.done:
                self._read_book(order)
        live = self.live
        booked = None if live is None else self.ctx.api.order(live.order_id)
        if live is not None and booked is not None and live.mode == Mode.STOP:
            live.triggered = live.triggered or booked.status is OrderStatus.OPEN
        if self.held_back:
            return
        if self.in_flight_ns is not None:
            if self.ctx.time_ns() - self.in_flight_ns < IN_FLIGHT_LIMIT_NS:
                return
            self.in_flight_ns = None
        self.mode = self.wanted_mode()
        held = self.held
        if live is None:
            if held > 0 and not self.gave_up:
                self._place(held)
            return
        if live.cancelling:
            return
        if live.mode == Mode.TARGET and self.mode is Mode.STOP:
            # The target's LIMIT cannot go back to waiting for a trigger: it is cancelled, and
            # the stop is placed for what is still held once the cancel (or a fill) is done.
            # In flight from before the request: its answer can come back inside the call.
            self.in_flight_ns = self.ctx.time_ns()
            live.cancelling = True
            outcome = self.ctx.api.cancel(live.order_id)
            if not outcome.ok:
                live.cancelling = False
                self.in_flight_ns = None
            return
        change: dict[str, Any] = {}
        wanted_quantity = live.filled + held
        quantity_now = live.quantity if booked is None else booked.quantity
        if wanted_quantity > quantity_now:
            change["quantity"] = wanted_quantity
        moved_stop = self.mode is Mode.STOP and live.stop != self.stop and not live.triggered
        moved_target = self.mode is Mode.TARGET and live.target != self.target
        if live.mode != self.mode or moved_stop or moved_target:
            change.update(self._terms(self.mode))
        if not change:
            return
        self.in_flight_ns = self.ctx.time_ns()
        outcome = self.ctx.api.modify(live.order_id, **change)
        if not outcome.ok:
            self.in_flight_ns = None
            self.ctx.say(f"exit {live.order_id} not modified: {outcome.reason}", Severity.WARNING)
            return
        live.modifications += 1
        if "quantity" in change:
            live.quantity = change["quantity"]
        if "order_type" in change:
            live.mode = self.mode
            live.stop, live.target = self.stop, self.target

    def _terms(self, mode: Mode) -> dict[str, Any]:
        if mode is Mode.TARGET:
            assert self.target is not None
            return {"order_type": OrderType.LIMIT, "price": rupees(self.target)}
        if mode is Mode.FLATTEN:
            return {"order_type": OrderType.MARKET}
        return {
            "order_type": OrderType.SL,
            "trigger_price": rupees(self.stop),
            "price": rupees(self._stop_limit()),
        }

    def _place(self, quantity: int) -> None:
        price = self.price
        if (
            self.mode is Mode.STOP
            and price is not None
            and not self._beyond(price, self.stop + (self.tick if self._long() else -self.tick))
        ):
            self.mode = Mode.FLATTEN  # the market is through the stop: a stop would be refused
        terms = self._terms(self.mode)
        self._placing = True
        self.in_flight_ns = self.ctx.time_ns()  # until its first answer, which may come inside
        try:
            outcome = self.ctx.place(
                self.token,
                self.side,
                quantity,
                terms.pop("order_type"),
                product=self.product,
                **terms,
            )
        finally:
            self._placing = False
        if outcome.ok and outcome.order_id is not None:
            order = self._order(outcome.order_id)
            if order is None:  # the submitted event did not come through the kernel
                order = ExitOrder(outcome.order_id, quantity, mode=self.mode)
                order.stop, order.target = self.stop, self.target
                self.orders.append(order)
            self.failures = 0
            self.ctx.save()  # a restart knows this exit from the saved state, not only the book
            return
        self.in_flight_ns = None
        self._failed(f"exit not placed: {outcome.reason}")

    def _failed(self, why: str) -> None:
        self.failures += 1
        if self.failures >= MAX_FAILURES:
            self.gave_up = True
            self.ctx.say(
                f"{why}; {self.held} held WITHOUT a protective exit after {self.failures} "
                "attempts: act on it",
                Severity.ERROR,
            )
        else:
            self.ctx.say(why, Severity.WARNING)

    def _read_book(self, order: ExitOrder) -> None:
        booked = self.ctx.api.order(order.order_id)
        if booked is None:
            return
        filled = booked.filled_quantity - order.filled
        if filled > 0:
            # Counted from the book, in the mode the order was in when its fills were seen.
            order.filled += filled
            if order.mode == Mode.TARGET:
                order.target_fills += filled
            else:
                order.stop_fills += filled
        if booked.status.is_terminal:
            order.done = True
            if self.in_flight_ns is not None and not self.live:
                self.in_flight_ns = None

    def _order(self, order_id: str) -> ExitOrder | None:
        return next((o for o in self.orders if o.order_id == order_id), None)

    def owns(self, order_id: str) -> bool:
        return self._order(order_id) is not None

    def on_order(self, event: OrderEvent) -> bool:
        """Apply an event of an exit order; False when it is not one of the exits."""
        if isinstance(event, OrderSubmitted) and self._placing:
            placed = ExitOrder(event.order_id, event.request.quantity, mode=self.mode)
            placed.stop, placed.target = self.stop, self.target
            self.orders.append(placed)
            return True
        order = self._order(event.order_id)
        if order is None:
            return False
        if isinstance(event, OrderFilled):
            self._read_book(order)
        elif isinstance(event, OrderStatusChanged):
            if event.order_id == (self.live.order_id if self.live else None):
                self.in_flight_ns = None
            if event.status.is_terminal:
                order.done = True
                self.in_flight_ns = None
                if event.status is OrderStatus.REJECTED and self.held > 0:
                    self._failed(f"exit {order.order_id} rejected: {event.message}")
            else:
                if event.quantity is not None and event.quantity > order.quantity:
                    order.quantity = event.quantity
                if order.mode == Mode.STOP and event.status is OrderStatus.OPEN:
                    order.triggered = True
        elif isinstance(event, OrderDenied):
            order.done = True
            self.in_flight_ns = None
            self._failed(f"exit {order.order_id} denied: {event.reason}")
        self.sync()
        return True

    def flatten(self) -> None:
        """Exit what is held now, at the market (the trader cancelled the order)."""
        self.forced_flat = True
        self.target = None
        self.sync()

    def release(self) -> None:
        """Trading is active again: the exit is placed again for what is held, with a fresh
        count of refusals (those of the halt were the gate's, not the exit's)."""
        self.held_back = False
        self.failures = 0
        self.gave_up = False
        self.sync()

    def take_up(self, *, besides: Collection[str] = ()) -> None:
        """After a restart: each exit order's fills and whether it is done, read from the book.
        An order of this parent that the saved state does not know (placed after the last save,
        just before the desk stopped) is taken up as an exit too, so that no second exit is ever
        placed beside it; ``besides`` are the parent's orders that are not exits (an entry)."""
        for order in self.orders:
            booked = self.ctx.api.order(order.order_id)
            if booked is not None:
                order.filled, order.done = booked.filled_quantity, booked.status.is_terminal
        known = {o.order_id for o in self.orders} | set(besides)
        for booked in self.ctx.own_orders():
            if booked.order_id in known:
                continue
            mode = _MODE_OF.get(booked.order_type, Mode.STOP)
            order = ExitOrder(booked.order_id, booked.quantity, booked.filled_quantity, mode=mode)
            order.done = booked.status.is_terminal
            order.stop, order.target = self.stop, self.target
            if mode is Mode.TARGET:
                order.target_fills = order.filled
            else:
                order.stop_fills = order.filled
            self.orders.append(order)
            self.ctx.say(f"exit {booked.order_id}, placed as the desk stopped, taken up again")
        self.in_flight_ns = None

    # -- saving --------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "stop": self.stop,
            "target": self.target,
            "covered": self.covered,
            "mode": self.mode.value,
            "forced_flat": self.forced_flat,
            "best": self.best,
            "gave_up": self.gave_up,
            "orders": [asdict(o) for o in self.orders],
        }

    def restore(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.stop = int(state["stop"])
        self.target = None if state.get("target") is None else int(state["target"])
        self.covered = int(state["covered"])
        self.mode = Mode(state["mode"])
        self.forced_flat = bool(state.get("forced_flat"))
        self.best = state.get("best")
        self.gave_up = bool(state.get("gave_up"))
        self.orders = [ExitOrder(**o) for o in state.get("orders", [])]

    def describe(self) -> str:
        live = self.live
        target = "" if self.target is None else f", target {rupees_text(self.target)}"
        if live is not None:
            state = f"exit {live.order_id} as {live.mode}"
        elif self.held_back:
            state = "no exit order while trading is halted (placed again at the re-arm)"
        else:
            state = "no exit order"
        return f"stop {rupees_text(self.stop)}{target}; {state}; held {self.held}"


def cancel_exit(ctx: StrategyContext, exit_: ProtectiveExit) -> None:
    """Cancel the exit order resting at the venue, if one is."""
    live = exit_.live
    booked = None if live is None else ctx.api.order(live.order_id)
    if live is not None and booked is not None and booked.status.is_open:
        outcome = ctx.api.cancel(live.order_id)
        if not outcome.ok:
            ctx.say(f"exit {live.order_id} not cancelled: {outcome.reason}", Severity.WARNING)
    exit_.sync()
