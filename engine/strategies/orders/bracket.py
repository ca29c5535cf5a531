"""A bracket order: an entry, then a target and a stop-loss on whatever of it filled, one
cancelling the other (``ProtectiveExit``: one exit order switched between the two, so they can
never both fill). The exit covers exactly the entry's fills as they come; the first exit fill
cancels what is left of the entry. It is a strategy on the kernel, ``bracket-NNNN``, so each of its
orders passes the gate with that id and it resumes after a restart from what it saved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.domain.events import (
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
)
from engine.domain.orders import OrderType, Product, Side
from engine.domain.ticks import Quote, Tick
from engine.domain.values import rupees_text
from engine.strategies.kernel import Strategy, StrategyContext
from engine.strategies.orders.entry_tape import EntryTape
from engine.strategies.orders.protective_exit import ProtectiveExit, cancel_exit
from engine.strategies.orders.terms import (
    TermsError,
    check_exit_levels,
    instrument_of,
    lots_quantity,
    optional_price,
    price_of,
    product_of,
    rupees,
    side_of,
)
from engine.strategies.orders.trail import Trail
from engine.strategies.ports import Instruments


@dataclass(frozen=True, slots=True)
class BracketSpec:
    token: int
    side: Side
    quantity: int
    entry_price: int | None
    """The entry's limit (paise); None: a MARKET entry."""
    stop: int
    target: int
    product: Product = Product.MIS
    trail: Trail | None = None
    use_touch: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "side": self.side.value,
            "quantity": self.quantity,
            "entry_price": self.entry_price,
            "stop": self.stop,
            "target": self.target,
            "product": self.product.value,
            "trail": None if self.trail is None else self.trail.as_dict(),
            "use_touch": self.use_touch,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BracketSpec:
        return cls(
            int(data["token"]),
            Side(data["side"]),
            int(data["quantity"]),
            data.get("entry_price"),
            int(data["stop"]),
            int(data["target"]),
            Product(data["product"]),
            Trail.from_dict(data.get("trail")),
            bool(data.get("use_touch")),
        )


def bracket_spec(
    instruments: Instruments,
    quote: Quote | None,
    *,
    token: object,
    side: object,
    quantity: object,
    stop: object,
    target: object,
    entry_price: object = None,
    product: object = "MIS",
    trail: Trail | None = None,
    use_touch: bool = False,
) -> BracketSpec:
    """Checked terms (prices in rupees); ``TermsError`` saying what is wrong."""
    instrument = instrument_of(instruments, token)
    entry_side = side_of(side)
    size = lots_quantity(quantity, instrument)
    entry = optional_price(entry_price, "entry price", instrument)
    stop_paise = price_of(stop, "stop-loss", instrument)
    target_paise = price_of(target, "target", instrument)
    reference: int
    if entry is not None:
        reference, where = int(entry), f"the entry price {rupees_text(entry)}"
    elif quote is not None and quote.ltp > 0:
        reference, where = int(quote.ltp * 100), f"the last price {quote.ltp}"
    else:
        raise TermsError(f"no price yet for {instrument.tradingsymbol}: give an entry price")
    check_exit_levels(entry_side, reference, stop=stop_paise, target=target_paise, where=where)
    return BracketSpec(
        instrument.token, entry_side, size, entry, stop_paise, target_paise,
        product_of(product), trail, use_touch,
    )  # fmt: skip


class BracketOrder(Strategy):
    title = "Bracket order"

    def __init__(self, ctx: StrategyContext, spec: BracketSpec) -> None:
        super().__init__(ctx)
        self.spec = spec
        instrument = ctx.instruments.find(spec.token)
        self.exit = ProtectiveExit(
            ctx,
            token=spec.token,
            holding=spec.side,
            product=spec.product,
            stop=spec.stop,
            target=spec.target,
            tick_size=instrument.tick_size if instrument is not None else 5,
            trail=spec.trail,
            use_touch=spec.use_touch,
        )
        self.entry_id: str | None = None
        self.entry_filled = 0
        self.entry_done = False
        self.cancelled = False
        self.halted_by: str | None = None
        """Why its entry was called off by a halt (a re-arm does not send it again)."""
        self.closed_by: str | None = None
        """Why it ends though something is still counted as held: the position is gone."""
        self._placing_entry = False
        self.tape = EntryTape()
        """Arrival mid and market VWAP while the entry works (its execution quality)."""

    def on_start(self, state: dict[str, Any]) -> None:
        self.ctx.watch([self.spec.token])
        tick = self.ctx.api.tick(self.spec.token)
        if tick is not None:
            self.exit.on_tick(tick)
        self.tape = EntryTape.from_dict(state.get("tape"))
        if state.get("exit"):
            self._resume(state)
            return
        self.tape.start(self.ctx.time_ns(), tick)
        # Saved before the entry goes out: a desk that stops right after sending it still knows
        # the bracket at its restart, finds the entry in the book and protects what it filled.
        self.ctx.save()
        self._placing_entry = True
        try:
            outcome = self.ctx.place(
                self.spec.token,
                self.spec.side,
                self.spec.quantity,
                OrderType.MARKET if self.spec.entry_price is None else OrderType.LIMIT,
                price=None if self.spec.entry_price is None else rupees(self.spec.entry_price),
                product=self.spec.product,
            )
        finally:
            self._placing_entry = False
        if not outcome.ok:
            self.ctx.finish(f"entry not placed: {outcome.reason}")
            return
        self.entry_id = self.entry_id or outcome.order_id
        self.ctx.save()

    def _resume(self, state: dict[str, Any]) -> None:
        self.entry_id = state.get("entry_id")
        self.cancelled = bool(state.get("cancelled"))
        self.exit.restore(state["exit"])
        if self.entry_id is None:
            # Stopped while its entry was being sent: the first order in the book that names
            # the bracket is the entry, if it went out at all.
            placed = self.ctx.own_orders()
            if not placed:
                self.ctx.finish("the desk stopped before the entry was sent; nothing was placed")
                return
            self.entry_id = placed[0].order_id
        order = self.ctx.api.order(self.entry_id)
        if order is not None:
            self.entry_filled = order.filled_quantity
            self.entry_done = order.status.is_terminal
        self.exit.take_up(besides={self.entry_id})
        self.exit.cover(self.entry_filled)
        self.ctx.save()
        self._check_done()

    def on_tick(self, tick: Tick) -> None:
        self._read_entry()
        if not self.entry_done:
            self.tape.on_tick(tick)
        self.exit.covered = max(self.exit.covered, self.entry_filled)
        self.exit.on_tick(tick)

    def on_order(self, event: OrderEvent) -> None:
        if isinstance(event, OrderSubmitted) and self._placing_entry and self.entry_id is None:
            # The first order while placing is the entry; an entry that fills at once has the
            # exit placed before ``place`` returns, and that order must not take its place.
            self.entry_id = event.order_id
            return
        if event.order_id == self.entry_id:
            self._on_entry(event)
        elif self.exit.on_order(event) and isinstance(event, OrderFilled):
            self._cancel_entry_rest()
        self._read_entry()
        self.exit.cover(self.entry_filled)
        self._check_done()

    def _on_entry(self, event: OrderEvent) -> None:
        if isinstance(event, OrderFilled):
            self._read_entry()
            self.exit.cover(self.entry_filled)
            self.ctx.save()
        elif isinstance(event, OrderStatusChanged) and event.status.is_terminal:
            self.entry_done = True
            if self.entry_filled == 0 and not self.cancelled:
                self.ctx.say(f"entry {event.status.value.lower()}: {event.message}")
        elif isinstance(event, OrderDenied):
            self.entry_done = True

    def _read_entry(self) -> None:
        """The entry's fills as the book has them (ahead of the events still queued)."""
        if self.entry_id is None:
            return
        order = self.ctx.api.order(self.entry_id)
        if order is None:
            return
        self.entry_filled = max(self.entry_filled, order.filled_quantity)
        self.entry_done = self.entry_done or order.status.is_terminal

    def _cancel_entry_rest(self) -> None:
        if self.entry_id is not None and not self.entry_done:
            order = self.ctx.api.order(self.entry_id)
            if order is not None and order.status.is_open:
                self.ctx.api.cancel(self.entry_id)

    def _check_done(self) -> None:
        if self.closed_by is not None and self.entry_done and self.exit.live is None:
            self.ctx.finish(self.closed_by)
            return
        if not self.entry_done or self.exit.held > 0 or self.exit.live is not None:
            return
        target = sum(o.target_fills for o in self.exit.orders)
        stop = sum(o.stop_fills for o in self.exit.orders)
        if self.entry_filled == 0 and self.halted_by is not None:
            reason = self.halted_by
        elif self.entry_filled == 0:
            reason = "cancelled before the entry filled" if self.cancelled else "entry not filled"
        else:
            reason = f"done: {self.entry_filled} in; {target} out at the target, {stop} at the stop"
        self.ctx.finish(reason)

    # -- the trader's commands ---------------------------------------------------------------------

    def cancel(self) -> str | None:
        """Cancel the entry's rest and exit what it holds at the market."""
        self.cancelled = True
        if self.entry_id is not None and not self.entry_done:
            order = self.ctx.api.order(self.entry_id)
            if order is not None and order.status.is_open:
                outcome = self.ctx.api.cancel(self.entry_id)
                if not outcome.ok:
                    return outcome.reason
            elif order is None or order.status.is_terminal:
                self.entry_done = True
        if self.exit.held > 0:
            self.exit.flatten()
            self.ctx.say(f"cancelled: exiting the {self.exit.held} held at the market")
        self.ctx.save()
        self._check_done()
        return None

    # -- a halt, and the position gone -------------------------------------------------------------

    def halt(self, why: str) -> bool:
        """Trading halted: an entry still working is called off (what it filled stays protected);
        whether the bracket had taken nothing yet, so ends with it."""
        self._read_entry()
        if self.entry_done and self.entry_filled > 0:
            return False
        self.cancelled = True
        order = None if self.entry_id is None else self.ctx.api.order(self.entry_id)
        if order is not None and order.status.is_open:
            self.ctx.api.cancel(order.order_id)  # the halt's own cancel may not have reached it
        self._read_entry()
        if self.entry_filled > 0:
            return False
        self.halted_by = why
        self.ctx.save()
        self._check_done()
        return True

    def protected(self) -> tuple[int, Product, Side] | None:
        """The position it protects (instrument, product, side held), while it holds some."""
        if self.exit.held <= 0 or self.closed_by is not None:
            return None
        return self.spec.token, self.spec.product, self.spec.side

    def hold_back(self) -> None:
        self.exit.held_back = True

    def release(self) -> None:
        if self.closed_by is None:
            self.exit.release()

    def position_closed(self, why: str) -> None:
        """The position is gone (squared off, closed by hand): the entry's rest and the exit
        are cancelled and it ends, so no stop sells what is no longer held."""
        self.closed_by = why
        self.exit.held_back = True
        self.ctx.say(why)
        self._cancel_entry_rest()
        cancel_exit(self.ctx, self.exit)
        self._read_entry()
        self._check_done()

    def amend(self, *, stop: int | None = None, target: int | None = None) -> str | None:
        price = self.exit.price
        reference = price if price is not None else (self.spec.entry_price or self.exit.stop)
        try:
            check_exit_levels(
                self.spec.side, reference, stop=stop, target=target,
                where=f"the market {rupees_text(reference)}",
            )  # fmt: skip
        except TermsError as problem:
            return str(problem)
        if stop is not None:
            self.exit.stop = stop
        if target is not None:
            self.exit.target = target
        self.exit.sync()
        self.ctx.save()
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "spec": self.spec.as_dict(),
            "entry_id": self.entry_id,
            "cancelled": self.cancelled,
            "exit": self.exit.snapshot(),
            "tape": self.tape.as_dict(),
        }

    def keeps_running(self) -> bool:
        return True

    def stop_refusal(self) -> str | None:
        if self.exit.held > 0:
            return f"it protects {self.exit.held} held: cancel it to exit them at the market"
        return None

    def describe(self) -> str:
        entry = "market" if self.spec.entry_price is None else rupees_text(self.spec.entry_price)
        return f"entry {entry} ({self.entry_filled}/{self.spec.quantity} filled); {self.exit.describe()}"
