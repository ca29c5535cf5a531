"""An exit on a position already held: a target and a stop-loss one-cancelling-the-other (OCO),
or a stop-loss alone that trails the market (``trailing``). Both are a ``ProtectiveExit`` over a
fixed quantity; the strategy (``oco-NNNN`` / ``trail-NNNN``) ends when the quantity is out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.domain.events import OrderEvent
from engine.domain.orders import Product, Side
from engine.domain.ticks import Quote, Tick
from engine.domain.values import rupees_text
from engine.strategies.kernel import Strategy, StrategyContext
from engine.strategies.orders.protective_exit import ProtectiveExit, cancel_exit
from engine.strategies.orders.terms import (
    TermsError,
    check_exit_levels,
    instrument_of,
    lots_quantity,
    optional_price,
    price_of,
    product_of,
)
from engine.strategies.orders.trail import Trail
from engine.strategies.ports import Instruments


@dataclass(frozen=True, slots=True)
class PositionExitSpec:
    token: int
    holding: Side
    """The position's side: BUY for a long position (the exit sells)."""
    quantity: int
    stop: int
    target: int | None
    product: Product
    trail: Trail | None = None
    use_touch: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "holding": self.holding.value,
            "quantity": self.quantity,
            "stop": self.stop,
            "target": self.target,
            "product": self.product.value,
            "trail": None if self.trail is None else self.trail.as_dict(),
            "use_touch": self.use_touch,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PositionExitSpec:
        return cls(
            int(data["token"]),
            Side(data["holding"]),
            int(data["quantity"]),
            int(data["stop"]),
            None if data.get("target") is None else int(data["target"]),
            Product(data["product"]),
            Trail.from_dict(data.get("trail")),
            bool(data.get("use_touch")),
        )


def position_exit_spec(
    instruments: Instruments,
    quote: Quote | None,
    net: int,
    *,
    token: object,
    quantity: object,
    stop: object,
    target: object = None,
    product: object = "MIS",
    trail: Trail | None = None,
    use_touch: bool = False,
) -> PositionExitSpec:
    """Checked terms for an exit on ``net`` held (negative: short); ``TermsError`` if wrong."""
    instrument = instrument_of(instruments, token)
    size = lots_quantity(quantity, instrument)
    stop_paise = price_of(stop, "stop-loss", instrument)
    target_paise = optional_price(target, "target", instrument)
    if net == 0:
        raise TermsError(f"no {instrument.tradingsymbol} position in {product} to protect")
    if size > abs(net):
        raise TermsError(
            f"quantity {size} is more than the {abs(net)} of {instrument.tradingsymbol} held"
        )
    if quote is None or quote.ltp <= 0:
        raise TermsError(f"no price yet for {instrument.tradingsymbol}")
    holding = Side.BUY if net > 0 else Side.SELL
    check_exit_levels(
        holding, int(quote.ltp * 100), stop=stop_paise, target=target_paise,
        where=f"the last price {quote.ltp}",
    )  # fmt: skip
    return PositionExitSpec(
        instrument.token, holding, size, stop_paise, target_paise, product_of(product), trail,
        use_touch,
    )  # fmt: skip


class PositionExitOrder(Strategy):
    title = "Exit order"

    def __init__(self, ctx: StrategyContext, spec: PositionExitSpec) -> None:
        super().__init__(ctx)
        self.spec = spec
        instrument = ctx.instruments.find(spec.token)
        self.exit = ProtectiveExit(
            ctx,
            token=spec.token,
            holding=spec.holding,
            product=spec.product,
            stop=spec.stop,
            target=spec.target,
            tick_size=instrument.tick_size if instrument is not None else 5,
            trail=spec.trail,
            use_touch=spec.use_touch,
        )
        self.closed_by: str | None = None
        """Why it ends though something is still counted as held: the position is gone."""

    def on_start(self, state: dict[str, Any]) -> None:
        self.ctx.watch([self.spec.token])
        tick = self.ctx.api.tick(self.spec.token)
        if tick is not None:
            self.exit.on_tick(tick)
        if state.get("exit"):
            self.exit.restore(state["exit"])
            self.exit.take_up()
        else:
            self.ctx.save()  # known to a restart before its first exit order goes out
        self.exit.cover(self.spec.quantity)
        self.ctx.save()
        self._check_done()

    def on_tick(self, tick: Tick) -> None:
        self.exit.on_tick(tick)

    def on_order(self, event: OrderEvent) -> None:
        if self.exit.on_order(event):
            self._check_done()

    def _check_done(self) -> None:
        if self.closed_by is not None and self.exit.live is None:
            self.ctx.finish(self.closed_by)
            return
        if self.exit.held > 0 or self.exit.live is not None:
            return
        target = sum(o.target_fills for o in self.exit.orders)
        stop = sum(o.stop_fills for o in self.exit.orders)
        self.ctx.finish(f"done: {target} out at the target, {stop} at the stop")

    def cancel(self) -> str | None:
        """Exit what is still held at the market."""
        self.exit.flatten()
        self.ctx.save()
        self._check_done()
        return None

    # -- a halt, and the position gone -------------------------------------------------------------

    def protected(self) -> tuple[int, Product, Side] | None:
        """The position it protects (instrument, product, side held), while it holds some."""
        if self.exit.held <= 0 or self.closed_by is not None:
            return None
        return self.spec.token, self.spec.product, self.spec.holding

    def hold_back(self) -> None:
        self.exit.held_back = True

    def release(self) -> None:
        if self.closed_by is None:
            self.exit.release()

    def position_closed(self, why: str) -> None:
        """The position is gone (squared off, closed by hand): its exit is cancelled and it
        ends, so no stop sells what is no longer held."""
        self.closed_by = why
        self.exit.held_back = True
        self.ctx.say(why)
        cancel_exit(self.ctx, self.exit)
        self._check_done()

    def amend(self, *, stop: int | None = None, target: int | None = None) -> str | None:
        reference = self.exit.price
        if reference is None:
            return "no price yet to check the new levels against"
        try:
            check_exit_levels(
                self.spec.holding, reference, stop=stop, target=target,
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
        return {"spec": self.spec.as_dict(), "exit": self.exit.snapshot()}

    def keeps_running(self) -> bool:
        return True

    def stop_refusal(self) -> str | None:
        if self.exit.held > 0:
            return f"it protects {self.exit.held} held: cancel it to exit them at the market"
        return None

    def describe(self) -> str:
        trail = "" if self.spec.trail is None else f"{self.spec.trail.describe()}; "
        return f"{trail}{self.exit.describe()}"
