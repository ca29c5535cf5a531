"""GTT orders: the terms checked the same way for every desk, and the desk's own keeping of them
on paper (``PaperGtt``, ``gtt-NNNN``), which behaves as Kite's GTT service does: it waits for the
last price to cross a trigger, places that leg's order (through the gate, as the strategy), and
is then ``triggered``; it can be modified while ``active``, cancelled, and it ``expired`` after a
year (Kite: a year, or the contract's expiry for F&O). On a live Kite desk Kite keeps them
(``engine.brokers.kite.gtt``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.domain.gtt import GttLeg, GttReport, GttRequest, GttStatus, GttType, crossed
from engine.domain.ids import InstrumentToken
from engine.domain.orders import OrderType, Product, Side
from engine.domain.ticks import Quote, Tick
from engine.domain.values import Paise, rupees_text
from engine.strategies.kernel import Strategy, StrategyContext
from engine.strategies.orders.terms import (
    TermsError,
    instrument_of,
    lots_quantity,
    price_of,
    product_of,
    rupees,
    side_of,
)
from engine.strategies.ports import Instruments

LIFETIME = timedelta(days=365)


def gtt_request(
    instruments: Instruments,
    quote: Quote | None,
    *,
    token: object,
    triggers: list[object],
    legs: list[dict[str, Any]],
) -> GttRequest:
    """Checked GTT terms (prices in rupees): one trigger and one leg, or a lower and an upper
    trigger and a leg for each; ``TermsError`` saying what is wrong."""
    instrument = instrument_of(instruments, token)
    if quote is None or quote.ltp <= 0:
        raise TermsError(f"no price yet for {instrument.tradingsymbol}: a GTT needs the market")
    last = Paise(int(quote.ltp * 100))
    if not isinstance(triggers, list | tuple) or len(triggers) not in (1, 2):
        raise TermsError("a GTT has one trigger (single) or two (a lower and an upper: OCO)")
    values = [price_of(t, "trigger", instrument) for t in triggers]
    if not isinstance(legs, list | tuple) or len(legs) != len(values):
        raise TermsError(f"a GTT with {len(values)} trigger(s) needs {len(values)} order(s)")
    checked = []
    for n, leg in enumerate(legs, 1):
        if not isinstance(leg, dict):
            raise TermsError(f"order {n} must be a mapping of side, quantity, price")
        checked.append(
            GttLeg(
                side_of(leg.get("side"), f"order {n}'s side"),
                lots_quantity(leg.get("quantity"), instrument),
                price_of(leg.get("price"), f"order {n}'s price", instrument),
                OrderType.LIMIT,
                product_of(leg.get("product", "CNC")),
            )
        )
    if len(values) == 1:
        if values[0] == last:
            raise TermsError(
                f"the trigger {rupees_text(values[0])} is the last price: it must be above or "
                "below the market"
            )
        kind = GttType.SINGLE
    else:
        lower, upper = values
        if not lower < last < upper:
            raise TermsError(
                f"an OCO GTT's triggers must be below and above the last price "
                f"{rupees_text(last)} (got {rupees_text(lower)} and {rupees_text(upper)})"
            )
        kind = GttType.TWO_LEG
    return GttRequest(InstrumentToken(instrument.token), kind, tuple(values), tuple(checked), last)


def request_as_dict(request: GttRequest) -> dict[str, Any]:
    return {
        "token": int(request.token),
        "kind": request.kind.value,
        "triggers": list(request.triggers),
        "last_price": request.last_price,
        "legs": [
            {"side": leg.side.value, "quantity": leg.quantity, "price": leg.price,
             "order_type": leg.order_type.value, "product": leg.product.value}
            for leg in request.legs
        ],
    }  # fmt: skip


def request_from_dict(data: dict[str, Any]) -> GttRequest:
    return GttRequest(
        InstrumentToken(int(data["token"])),
        GttType(data["kind"]),
        tuple(Paise(int(t)) for t in data["triggers"]),
        tuple(
            GttLeg(
                Side(leg["side"]),
                int(leg["quantity"]),
                Paise(int(leg["price"])),
                OrderType(leg["order_type"]),
                Product(leg["product"]),
            )
            for leg in data["legs"]
        ),
        Paise(int(data["last_price"])),
    )


class PaperGtt(Strategy):
    title = "GTT"

    def __init__(self, ctx: StrategyContext, request: GttRequest) -> None:
        super().__init__(ctx)
        self.request = request
        self.status = GttStatus.ACTIVE
        self.created = ctx.now()
        self.expires = self.created + LIFETIME
        self.leg: int | None = None
        self.order_id = ""
        self.rejection = ""

    def on_start(self, state: dict[str, Any]) -> None:
        if state:
            self.request = request_from_dict(state["request"])
            self.status = GttStatus(state["status"])
            self.created = datetime.fromisoformat(state["created"])
            self.expires = datetime.fromisoformat(state["expires"])
        placed = self.ctx.own_orders()
        if placed and self.status is GttStatus.ACTIVE:
            # Triggered and its order sent before the desk stopped, its own record not: that
            # order is the GTT's, never to be placed twice.
            self.order_id = placed[0].order_id
            self._end(
                GttStatus.TRIGGERED, f"order {self.order_id} was placed before the desk restarted"
            )
            return
        self.ctx.watch([self.request.token])
        self.ctx.save()

    def on_tick(self, tick: Tick) -> None:
        if self.status is not GttStatus.ACTIVE or tick.ltp <= 0:
            return
        if self.ctx.now() >= self.expires:
            self._end(GttStatus.EXPIRED, "expired")
            return
        leg = crossed(self.request, tick.ltp)
        if leg is None:
            return
        terms = self.request.legs[leg]
        self.leg = leg
        outcome = self.ctx.place(
            self.request.token,
            terms.side,
            terms.quantity,
            terms.order_type,
            price=rupees(terms.price),
            product=terms.product,
        )
        self.order_id = outcome.order_id or ""
        trigger = rupees_text(self.request.triggers[leg])
        if not outcome.ok:
            self.rejection = outcome.reason
            self._end(
                GttStatus.TRIGGERED, f"triggered at {trigger}; order failed: {outcome.reason}"
            )
            return
        self._end(GttStatus.TRIGGERED, f"triggered at {trigger}; order {self.order_id} placed")

    def _end(self, status: GttStatus, reason: str) -> None:
        self.status = status
        self.ctx.finish(reason)

    def modify(self, request: GttRequest) -> str | None:
        if self.status is not GttStatus.ACTIVE:
            return f"the GTT is {self.status.value}: only an active GTT can be modified"
        if request.token != self.request.token:
            return "a GTT's instrument cannot be changed: cancel it and place another"
        self.request = request
        self.ctx.save()
        return None

    def cancel(self) -> str | None:
        if self.status is not GttStatus.ACTIVE:
            return f"the GTT is {self.status.value}"
        self._end(GttStatus.DELETED, "deleted by the trader")
        return None

    def halt(self, why: str) -> bool:
        """Trading halted: an active GTT is cancelled, never to trigger (a re-arm brings it not
        back); whether it was active."""
        if self.status is not GttStatus.ACTIVE:
            return False
        self._end(GttStatus.CANCELLED, why)
        return True

    def report(self, gtt_id: str) -> GttReport:
        return GttReport(
            gtt_id, self.request, self.status, self.created, self.expires, self.leg,
            self.order_id, self.rejection,
        )  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        return {
            "request": request_as_dict(self.request),
            "status": self.status.value,
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat(),
            "leg": self.leg,
            "order_id": self.order_id,
            "rejection": self.rejection,
        }

    def keeps_running(self) -> bool:
        return True

    def describe(self) -> str:
        triggers = " / ".join(rupees_text(t) for t in self.request.triggers)
        legs = "; ".join(
            f"{leg.side.value} {leg.quantity} @ {rupees_text(leg.price)}"
            for leg in self.request.legs
        )
        return f"{self.request.kind.value} GTT at {triggers}: {legs}"


def report_from_state(gtt_id: str, state: dict[str, Any]) -> GttReport | None:
    """A finished paper GTT as its last saved state describes it."""
    if "request" not in state:
        return None
    return GttReport(
        gtt_id,
        request_from_dict(state["request"]),
        GttStatus(state["status"]),
        datetime.fromisoformat(state["created"]),
        datetime.fromisoformat(state["expires"]),
        state.get("leg"),
        state.get("order_id", ""),
        state.get("rejection", ""),
    )
