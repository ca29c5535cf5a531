"""Orders: place, modify, cancel and square off, and what the orders and trades are now.

What the order book does not keep in memory is read back from the journal: the day's refused
requests (they never became orders) and an order's refused modifications.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy.exc import SQLAlchemyError

from engine.api.parts import Service
from engine.api.snapshots import OrderSnapshot, TradeSnapshot
from engine.core.clock import IST
from engine.domain.events import EngineMessage, OrderDenied, OrderFilled, RiskDenied, Severity
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.instruments import Instrument, unlisted
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
from engine.store.journal import JournalEntry, UnreadableRow

log = logging.getLogger(__name__)


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

    def trades(self, start: int = 0) -> list[TradeSnapshot]:
        """The book's fills, oldest first: all of them, or those after the first ``start``.

        The book only ever appends fills, so a panel that has read n of them asks for
        ``start=n`` when the next fill arrives and gets just the new ones, instead of every fill
        since the book began on each update."""
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(
                f"start is how many fills were read already (0 or more), not {start!r}"
            )
        return [self._trade_snapshot(f) for f in self._orders.fills[start:]]

    # -- reads of one instrument (a chart's): snapshots only of what it shows ----------------------

    def order_token(self, order_id: OrderId | str) -> InstrumentToken | None:
        """The instrument an order is on (None for an order the book does not hold): a panel of
        one instrument tells from it whether an order's event concerns it, reading nothing else."""
        order = self._orders.orders.get(OrderId(order_id)) if isinstance(order_id, str) else None
        return None if order is None else order.token

    def open_orders_of(self, token: InstrumentToken | int) -> list[OrderSnapshot]:
        """The open orders on one instrument, oldest first. Only these become snapshots, so the
        read stays cheap however many (mostly finished) orders the book holds."""
        return [
            self._order_snapshot(o)
            for o in self._orders.orders.values()
            if o.token == token and o.status.is_open
        ]

    def trades_of(
        self, token: InstrumentToken | int, start: int = 0
    ) -> tuple[list[TradeSnapshot], int]:
        """One instrument's fills among those after the first ``start`` (oldest first), and how
        many fills the book holds now: the ``start`` to ask from when the next fill arrives, so
        each fill is looked at once (see ``trades``)."""
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(
                f"start is how many fills were read already (0 or more), not {start!r}"
            )
        fills = self._orders.fills
        end = len(fills)
        return [self._trade_snapshot(f) for f in fills[start:end] if f.token == token], end

    def trading_day(self) -> date:
        """The desk's day in IST, by its own clock (a test or replay clock runs its own day):
        the day the Trades panel and the orderbook call today."""
        return self._parts.now().astimezone(IST).date()

    def denials(self, day: date | None = None) -> list[OrderDenied]:
        """The risk gate's refusals of new requests on ``day`` (IST; the desk's day by default),
        oldest first, read from the journal: a refused request never becomes an order, so
        after a restart only the journal still has it. Denials of orders the book holds (a
        queued order refused later) are left out: that order's own status says DENIED.

        A journal that does not read gives none, and the trader is told why."""
        day = day or self.trading_day()
        start_ns = _ist_midnight_ns(day)
        end_ns = start_ns + 86_400 * 1_000_000_000
        found: list[OrderDenied] = []
        for entry in self._journal_rows("order_denied", None, "the day's denied orders"):
            if not start_ns <= entry.ts_ns < end_ns or entry.order_id is None:
                continue
            if OrderId(entry.order_id) in self._orders.orders:
                continue
            try:
                found.append(OrderDenied.from_payload(entry.order_id, entry.ts_ns, entry.payload))
            except (KeyError, TypeError, ValueError) as problem:
                log.warning("journal row %s: a denial that does not read: %s", entry.seq, problem)
        return found

    def refusals(self, order_id: OrderId | str) -> list[RiskDenied]:
        """What the risk gate refused of a live order (a modification, or sending it after the
        order-rate queue held it), oldest first, read from the journal: the order itself keeps
        no event of a refused change, but its history should show it."""
        found: list[RiskDenied] = []
        if not isinstance(order_id, str) or not order_id:
            return found
        for entry in self._journal_rows("risk_denied", order_id, f"the refusals of {order_id}"):
            payload = entry.payload
            found.append(
                RiskDenied(
                    OrderId(order_id),
                    entry.ts_ns,
                    str(payload.get("check", "")),
                    str(payload.get("reason", "")),
                    str(payload.get("action", "modify")),
                )
            )
        return found

    def _journal_rows(self, kind: str, order_id: str | None, what: str) -> list[JournalEntry]:
        """One kind of the journal's rows (of one order); rows that do not decode are left out
        (the restore set them aside and reported them). A journal that does not read gives
        none, and the trader is told, in words, ``what`` could not be read."""
        journal = self._parts.journal
        if journal is None or journal.closed:
            return []
        try:
            return [
                entry
                for entry in journal.read_tolerant(kinds=(kind,), order_id=order_id)
                if not isinstance(entry, UnreadableRow)
            ]
        except SQLAlchemyError as problem:
            log.warning("%s could not be read from the journal: %s", what, problem)
            now_ns = int(self._parts.now().timestamp() * 1_000_000_000)
            text = f"{what} could not be read from the journal ({type(problem).__name__})"
            self._bus.publish(EngineMessage(now_ns, Severity.WARNING, text, "orders"))
            return []

    def _instrument(self, token: int) -> Instrument:
        """The listed instrument of an order or a fill; for one the day's listing no longer has
        (an expired contract), the contract as its market named it where the market can say
        (the paper market's), else a stand-in (``unlisted``) shown by its token rather than
        keeping the desk from opening."""
        registry = self.instruments
        return (
            registry.find(token) or registry.find_former(token) or unlisted(InstrumentToken(token))
        )

    def _trade_snapshot(self, f: OrderFilled) -> TradeSnapshot:
        return TradeSnapshot(
            f.trade_id,
            f.order_id,
            self._instrument(f.token),
            f.side,
            f.product,
            f.quantity,
            to_rupees(f.price),
            f.charges.total if f.charges is not None else Decimal(0),
            f.ts_ns,
        )

    def _order_snapshot(self, o: Order) -> OrderSnapshot:
        return OrderSnapshot(
            o.order_id,
            self._instrument(o.token),
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


def _ist_midnight_ns(day: date) -> int:
    """The first nanosecond of ``day`` in IST."""
    return int(datetime.combine(day, time(0), tzinfo=IST).timestamp()) * 1_000_000_000
