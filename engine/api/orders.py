"""Orders: place, modify, cancel and square off, and what the orders and trades are now."""

from __future__ import annotations

from decimal import Decimal

from engine.api.parts import Service
from engine.api.snapshots import OrderSnapshot, TradeSnapshot
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.order import Order
from engine.domain.orders import (
    Modification,
    OrderRequest,
    OrderType,
    Product,
    Side,
    Validity,
)
from engine.domain.origin import OrderSource, StrategyId
from engine.domain.requests import (
    InputError,
    asked_text,
    checked_request,
    enum_of,
    name_of,
    quantity_of,
    request_from_rupees,
    rupees_to_paise,
    token_of,
)
from engine.domain.values import to_rupees
from engine.oms.order_manager import Outcome


class OrderService(Service):
    # -- commands ----------------------------------------------------------------------------------

    def place(self, request: OrderRequest) -> Outcome:
        """Place an order already in the domain's form (``OrderRequest``, prices in paise, as
        engine code holds it); a request that is not a valid order is refused with the reason.
        Scripts and panels use ``place_order``, in rupees."""
        try:
            checked = checked_request(request)
        except InputError as problem:
            return self._orders.deny_input(str(problem), problem.check, asked_text(request))
        return self._orders.submit(checked)

    def place_order(
        self,
        token: InstrumentToken | int,
        side: Side | str,
        quantity: int,
        order_type: OrderType | str = OrderType.LIMIT,
        *,
        product: Product | str = Product.NRML,
        validity: Validity | str = Validity.DAY,
        price: Decimal | int | str | None = None,
        trigger_price: Decimal | int | str | None = None,
        tag: str = "",
        source: OrderSource | str = OrderSource.API,
        strategy: StrategyId | str | None = None,
    ) -> Outcome:
        """Place an order with prices in rupees (``Decimal('101.05')`` or ``'101.05'``); a
        strategy's (or a routed signal's) order names its ``strategy``."""
        terms: dict[str, object] = {
            "product": product,
            "validity": validity,
            "price": price,
            "trigger_price": trigger_price,
            "tag": tag,
            "source": source,
            "strategy": strategy,
        }
        try:
            request = request_from_rupees(token, side, quantity, order_type, **terms)
        except InputError as problem:
            asked = asked_text(
                token=token, side=side, quantity=quantity, order_type=order_type, **terms
            )
            return self._orders.deny_input(str(problem), problem.check, asked)
        return self._orders.submit(request)

    def modify(
        self,
        order_id: OrderId | str,
        *,
        quantity: int | None = None,
        price: Decimal | int | str | None = None,
        trigger_price: Decimal | int | str | None = None,
        order_type: OrderType | str | None = None,
    ) -> Outcome:
        try:
            order_id = OrderId(name_of(order_id, "order id", "order"))
        except InputError as problem:
            return Outcome(False, None, str(problem), check=problem.check)
        try:
            change = Modification(
                quantity=None if quantity is None else quantity_of(quantity),
                price=rupees_to_paise(price, "price"),
                trigger_price=rupees_to_paise(trigger_price, "trigger price"),
                order_type=None
                if order_type is None
                else enum_of(OrderType, order_type, "order type"),
            )
        except InputError as problem:
            return Outcome(False, order_id, str(problem), check=problem.check)
        return self._orders.modify(order_id, change)

    def cancel(self, order_id: OrderId | str) -> Outcome:
        try:
            order_id = OrderId(name_of(order_id, "order id", "order"))
        except InputError as problem:
            return Outcome(False, None, str(problem), check=problem.check)
        return self._orders.cancel(order_id)

    def cancel_all(self) -> list[Outcome]:
        return self._orders.cancel_all()

    def square_off(
        self,
        token: InstrumentToken | int,
        product: Product | str,
        *,
        source: OrderSource | str = OrderSource.MANUAL,
    ) -> list[Outcome]:
        """Close one position with MARKET orders, sliced at the freeze quantity."""
        try:
            position = self._positions.get(token_of(token), enum_of(Product, product, "product"))
            source = enum_of(OrderSource, source, "source")
        except InputError as problem:
            return [Outcome(False, None, str(problem), check=problem.check)]
        if position is None:
            return []
        return self._orders.square_off(position.token, position.product, source=source)

    def square_off_all(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for position in self._positions.open():
            outcomes += self.square_off(position.token, position.product)
        return outcomes

    def orders(self) -> list[OrderSnapshot]:
        return [self._order_snapshot(o) for o in self._orders.orders.values()]

    def order(self, order_id: OrderId | str) -> OrderSnapshot | None:
        order = self._orders.orders.get(OrderId(order_id)) if isinstance(order_id, str) else None
        return None if order is None else self._order_snapshot(order)

    def order_history(self, order_id: OrderId | str) -> list[object]:
        order = self._orders.orders.get(OrderId(order_id)) if isinstance(order_id, str) else None
        return [] if order is None else list(order.events)

    def trades(self) -> list[TradeSnapshot]:
        return [
            TradeSnapshot(
                f.trade_id,
                f.order_id,
                self.instruments.get(f.token),
                f.side,
                f.product,
                f.quantity,
                to_rupees(f.price),
                f.charges.total if f.charges is not None else Decimal(0),
                f.ts_ns,
            )
            for f in self._orders.fills
        ]

    def _order_snapshot(self, o: Order) -> OrderSnapshot:
        return OrderSnapshot(
            o.order_id,
            self.instruments.get(o.token),
            o.side,
            o.quantity,
            o.filled_quantity,
            o.pending_quantity,
            o.order_type,
            o.product,
            o.validity,
            None if o.price is None else to_rupees(o.price),
            None if o.trigger_price is None else to_rupees(o.trigger_price),
            o.average_price,
            o.status,
            o.status_message,
            o.tag,
            o.source,
            o.strategy,
            o.created_ns,
            o.updated_ns,
        )
