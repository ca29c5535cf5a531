"""The Kite broker adapter: the engine's ``Broker`` port over ``KiteRest`` and the ticker's updates
(how Kite's reports become order events is in ``engine.brokers.kite.reports``).

Out: ``submit`` places the order with ``tag`` = our order id (Kite's only client order id, at most
20 characters), so a place whose reply is lost is found again by its tag and never re-sent.
MARKET and SL-M orders carry ``market_protection`` (Kite refuses them without it).

In: every Kite order report (a ticker order update, an order-history entry, a reconciliation
row) becomes, through the sink, first an ``OrderFilled`` for each trade id not booked yet (the
updates carry no trade ids, so trades come from REST), then an ``OrderStatusChanged`` if the
report says something the order does not know. The adapter reads orders through a lookup and
never changes one; the order state table refuses anything stale. Orders placed outside DalalDesk
(Kite web, mobile) are adopted with an ``OrderSubmitted`` of their own so the book matches Kite.

Session expiry pauses order flow: places and cancels wait in a FIFO (a place refused with
TokenException was not placed, so it waits too) and go out after the next login and a
reconciliation; a place held longer than ``held_order_max_age_s`` is cancelled with a reason
instead of being sent late. Modifications are not held: the trader is told to modify again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from engine.brokers.base import BrokerSink, Capabilities
from engine.brokers.kite.book import read_kite_book
from engine.brokers.kite.config import KiteBrokerConfig, KiteBrokerStats
from engine.brokers.kite.errors import KiteError, OutcomeUnknown, SessionExpired
from engine.brokers.kite.funds import funds_changed
from engine.brokers.kite.reports import KiteReports, OrderLookup
from engine.brokers.kite.rest import KiteRest
from engine.brokers.live import BrokerTasks, HeldRequests, OrderTracker
from engine.core.clock import Clock
from engine.domain.events import (
    ConnectionChanged,
    OrderStatusChanged,
    Severity,
)
from engine.domain.ids import BrokerOrderId, InstrumentToken, OrderId, TradeId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import (
    Modification,
    OrderRequest,
    OrderStatus,
    OrderType,
    can_transition,
)
from engine.domain.reports import BrokerBook
from engine.domain.values import Paise, to_rupees

log = logging.getLogger(__name__)

_MARGIN_KEYS = frozenset(
    {"exchange", "tradingsymbol", "transaction_type", "product", "order_type", "quantity", "price",
     "trigger_price"}
)  # fmt: skip
"""What an element of Kite's margin calculator basket carries (kite_xts_apis.md §A.11)."""

Reconcile = Callable[[str], Awaitable[object]]
NOT_LOGGED_IN = "not logged in to Kite yet"


class KiteBroker(KiteReports):
    name = "kite"
    capabilities = Capabilities(
        order_types=frozenset(OrderType), modify=True, market_protection=True, in_process=False
    )

    def __init__(
        self,
        rest: KiteRest,
        *,
        instruments: Callable[[InstrumentToken], Instrument | None],
        clock: Clock,
        publish: Callable[[object], None],
        config: KiteBrokerConfig | None = None,
    ) -> None:
        self.config = config or KiteBrokerConfig()
        self._rest = rest
        self._instruments = instruments
        self._clock = clock
        self._publish = publish
        self._sink: BrokerSink | None = None
        self._orders: OrderLookup = _no_orders
        self._reconcile: Reconcile | None = None
        self._tracker = OrderTracker(self.config.variety)
        self._seen_trades: set[TradeId] = set()
        self._held = HeldRequests()
        self.tasks = BrokerTasks(self._task_failed)
        self._spawn = self.tasks.spawn
        self._ignored_outside: set[BrokerOrderId] = set()
        self.paused_reason = NOT_LOGGED_IN
        """Why order flow is paused ('' while orders go out)."""
        self._pauses = 0
        self.stats = KiteBrokerStats()
        self.funds_read: Callable[[], None] | None = None
        """Told when a reconciliation has published Kite's funds (the funds watch waits)."""

    # -- wiring ----------------------------------------------------------------------------------

    def bind(self, sink: BrokerSink) -> None:
        self._sink = sink

    def attach(self, *, orders: OrderLookup, reconcile: Reconcile | None = None) -> None:
        """The order manager's orders (read only) and the reconciliation run at every login."""
        self._orders = orders
        self._reconcile = reconcile

    # -- the port --------------------------------------------------------------------------------

    def submit(self, order: Order) -> None:
        self._tracker.track(order.order_id)
        if self.paused_reason:
            self._hold(order.order_id, "place", since_ns=order.created_ns)
            return
        self._spawn(self._place(order.order_id), f"kite-place-{order.order_id}")

    def modify(self, order: Order, change: Modification) -> None:
        if self.paused_reason:
            self._say(
                Severity.WARNING,
                f"modify of {order.order_id} not sent: {self.paused_reason}; "
                "log in to Kite and modify it again",
            )
            return
        self._spawn(self._modify(order.order_id, change), f"kite-modify-{order.order_id}")

    def cancel(self, order: Order) -> None:
        order_id = order.order_id
        if self._held.take_place(order_id):
            self._emit(
                OrderStatusChanged(
                    order_id,
                    self._clock.time_ns(),
                    OrderStatus.CANCELLED,
                    "cancelled before it was sent (it was held while logged out of Kite)",
                )
            )
            return
        if self.paused_reason:
            self._hold(order_id, "cancel")
            return
        self._spawn(self._cancel(order_id), f"kite-cancel-{order_id}")

    def restore(self, open_orders: list[Order]) -> None:
        """Orders the journal says are open: Kite is asked about each at the first login."""
        for order in open_orders:
            tracked = self._tracker.track(order.order_id)
            if order.broker_order_id:
                self._tracker.acknowledge(tracked, order.broker_order_id)
            else:
                # It may or may not have reached Kite before the engine stopped: never re-send,
                # let reconciliation find it by its tag or say it was not sent.
                tracked.uncertain_since_ns = order.created_ns
            self._seen_trades.update(order.trade_ids)

    # -- session ---------------------------------------------------------------------------------

    def pause(self, reason: str) -> None:
        self._pauses += 1
        if self.paused_reason and self.paused_reason != NOT_LOGGED_IN:
            return
        self.paused_reason = f"the Kite session has ended ({reason})"
        now = self._clock.time_ns()
        self._publish(ConnectionChanged(now, "broker", "login required", reason))
        self._say(
            Severity.ERROR,
            f"Kite session ended ({reason}): order flow is paused. Log in to Kite again; orders "
            f"placed meanwhile are held and sent after the login (a held order older than "
            f"{self.config.held_order_max_age_s:.0f}s is cancelled instead)",
        )

    async def resume(self, reason: str = "login") -> None:
        """After a login: reconcile with Kite, then send what was held, oldest first."""
        if not self.paused_reason:
            return
        pauses = self._pauses
        self._publish(ConnectionChanged(self._clock.time_ns(), "broker", "connected", "logged in"))
        if self._reconcile is not None:
            try:
                await self._reconcile(reason)
            except KiteError as exc:
                log.warning("reconciliation at login failed: %s", exc)
        if self._pauses != pauses:
            return  # the session ended again meanwhile: stay paused
        held = len(self._held)
        self._release_held()
        self.paused_reason = ""
        if held:
            self._say(Severity.INFO, f"Kite order flow resumed: {held} held requests released")

    @property
    def held(self) -> list[OrderId]:
        return [held.order_id for held in self._held]

    # -- what reconciliation asks ----------------------------------------------------------------

    def broker_order_id(self, order_id: OrderId) -> BrokerOrderId | None:
        tracked = self._tracker.get(order_id)
        return None if tracked is None else tracked.broker_order_id

    @property
    def has_uncertain(self) -> bool:
        return self._tracker.has_uncertain

    def resolve_missing(self, at_kite: set[str]) -> list[OrderId]:
        """Orders whose fate was unknown and that Kite's orderbook (tags and ids ``at_kite``)
        still does not show after the grace period: they were not placed. Returns them."""
        resolved = self._tracker.resolve_missing(
            at_kite,
            self._orders,
            now_ns=self._clock.time_ns(),
            grace_s=self.config.unknown_outcome_grace_s,
            broker="Kite",
        )
        for cancelled in resolved:
            self._emit(cancelled)
        return [cancelled.order_id for cancelled in resolved]

    # -- reconciliation's view of Kite ----------------------------------------------------------

    title = "Kite"

    async def read_book(self) -> BrokerBook:
        return await read_kite_book(self._rest)

    def booked(self) -> tuple[int, int]:
        return self.stats.fills, self.stats.adopted

    def book_applied(self, book: BrokerBook) -> None:
        """Kite's funds, read with the books, go to the risk layer (and the funds watch)."""
        margins = book.extra.get("margins")
        equity = margins.get("equity") if isinstance(margins, dict) else None
        funds = funds_changed(equity, self._clock.time_ns()) if equity is not None else None
        if funds is not None:
            self._publish(funds)
            if self.funds_read is not None:
                self.funds_read()

    # -- lifecycle -------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait until every request and report in flight is done (tests, shutdown)."""
        await self.tasks.drain()

    async def close(self) -> None:
        await self.tasks.close()

    # -- requests --------------------------------------------------------------------------------

    async def _place(self, order_id: OrderId) -> None:
        tracked = self._tracker.track(order_id)
        order = self._orders(order_id)
        if order is None or order.status is not OrderStatus.PENDING_SUBMIT:
            return  # cancelled or found by reconciliation meanwhile
        try:
            params = self._place_params(order)
        except ValueError as exc:
            self._reject(order_id, f"not sent to Kite: {exc}")
            return
        try:
            placed = await self._rest.place_order(tag=order_id, variety=tracked.variety, **params)
        except SessionExpired:
            # Refused on the token before Kite looked at the order: it was not placed.
            self._hold(order_id, "place", since_ns=order.created_ns)
            return
        except OutcomeUnknown as exc:
            self.stats.unknown_outcomes += 1
            tracked.uncertain_since_ns = self._clock.time_ns()
            self._say(Severity.WARNING, f"order {order_id}: {exc}")
            return
        except KiteError as exc:
            self._reject(order_id, str(exc))
            return
        self.stats.placed += 1
        if placed.recovered:
            self.stats.recovered_by_tag += 1
        broker_id = BrokerOrderId(placed.order_id)
        async with self._tracker.lock(order_id):
            self._tracker.acknowledge(tracked, broker_id)
            order = self._orders(order_id)
            if order is not None and can_transition(
                order.status, OrderStatus.PUT_ORDER_REQ_RECEIVED
            ):
                self._emit(
                    OrderStatusChanged(
                        order_id,
                        self._clock.time_ns(),
                        OrderStatus.PUT_ORDER_REQ_RECEIVED,
                        broker_order_id=broker_id,
                    )
                )
        # The ticker does not always push the first states; ask once.
        await self.refresh(order_id)

    async def _modify(self, order_id: OrderId, change: Modification) -> None:
        tracked = self._tracker.track(order_id)
        broker_id = await self._tracker.acknowledged(tracked, self.config.ack_wait_s)
        if broker_id is None:
            self._say(
                Severity.WARNING,
                f"modify of {order_id} not sent: Kite has not acknowledged the order yet",
            )
            return
        params: dict[str, Any] = {}
        if change.quantity is not None:
            params["quantity"] = change.quantity
        if change.price is not None:
            params["price"] = _rupees(change.price)
        if change.trigger_price is not None:
            params["trigger_price"] = _rupees(change.trigger_price)
        if change.order_type is not None:
            params["order_type"] = change.order_type.value
            if change.order_type in (OrderType.MARKET, OrderType.SL_M):
                params["market_protection"] = self.config.market_protection
        try:
            await self._rest.modify_order(tracked.variety, broker_id, **params)
            self.stats.modifies += 1
        except SessionExpired:
            self._say(
                Severity.WARNING,
                f"modify of {order_id} not sent: the Kite session has ended; "
                "log in and modify it again",
            )
            return
        except KiteError as exc:
            await self._refused_after_the_end(order_id, "modify", exc)
            return
        await self.refresh(order_id)

    async def _cancel(self, order_id: OrderId) -> None:
        tracked = self._tracker.track(order_id)
        broker_id = await self._tracker.acknowledged(tracked, self.config.ack_wait_s)
        if broker_id is None:
            self._say(
                Severity.WARNING,
                f"cancel of {order_id} not sent: Kite has not acknowledged the order yet; "
                "cancel it again in a moment",
            )
            return
        try:
            await self._rest.cancel_order(tracked.variety, broker_id)
            self.stats.cancels += 1
        except SessionExpired:
            self._hold(order_id, "cancel")
            return
        except KiteError as exc:
            await self._refused_after_the_end(order_id, "cancel", exc)
            return
        await self.refresh(order_id)

    async def _refused_after_the_end(self, order_id: OrderId, action: str, exc: KiteError) -> None:
        """Kite refused a modify or cancel: the trader is told, unless the order had already
        ended at Kite (filled, cancelled or rejected before the request arrived, its news still
        on the way): then there was nothing left to change, and the order's end is applied."""
        await self.refresh(order_id)
        order = self._orders(order_id)
        if order is not None and order.status.is_terminal:
            log.info(
                "%s of %s not needed: it is %s at Kite (%s)", action, order_id, order.status, exc
            )
            return
        self._say(Severity.WARNING, f"{action} of {order_id} failed: {exc}")

    async def order_margin(self, request: OrderRequest) -> Decimal:
        """What Kite's margin calculator says one order needs, counting the positions held
        (``final.total`` of a one-order basket). Raises ``KiteError`` when Kite cannot answer,
        ``ValueError`` for an instrument or answer that cannot be used."""
        params = {k: v for k, v in self._place_params(request).items() if k in _MARGIN_KEYS}
        params["variety"] = self.config.variety
        answer = await self._rest.basket_margins([params], consider_positions=True)
        try:
            total = answer["final"]["total"]
            if isinstance(total, bool) or not isinstance(total, int | float):
                raise TypeError(total)
            return Decimal(repr(total)).quantize(Decimal("0.01"))
        except (KeyError, TypeError, ArithmeticError) as exc:
            log.error("Kite's margin calculator answered without final.total: %r", answer)
            raise ValueError("Kite's margin calculator gave no total") from exc

    def _place_params(self, order: Order | OrderRequest) -> dict[str, Any]:
        instrument = self._instruments(order.token)
        if instrument is None:
            raise ValueError(f"instrument {order.token} is not in the Kite instruments master")
        params: dict[str, Any] = {
            "exchange": instrument.exchange.value,
            "tradingsymbol": instrument.tradingsymbol,
            "transaction_type": order.side.value,
            "quantity": order.quantity,
            "product": order.product.value,
            "order_type": order.order_type.value,
            "validity": order.validity.value,
        }
        if order.order_type in (OrderType.LIMIT, OrderType.SL):
            if order.price is None:
                raise ValueError(f"a {order.order_type} order needs a price")
            params["price"] = _rupees(order.price)
        if order.order_type in (OrderType.SL, OrderType.SL_M):
            if order.trigger_price is None:
                raise ValueError(f"a {order.order_type} order needs a trigger price")
            params["trigger_price"] = _rupees(order.trigger_price)
        if order.order_type in (OrderType.MARKET, OrderType.SL_M):
            params["market_protection"] = self.config.market_protection
        return params

    # -- holding ---------------------------------------------------------------------------------

    def _hold(self, order_id: OrderId, action: str, *, since_ns: int | None = None) -> None:
        self._held.hold(order_id, action, self._clock.time_ns() if since_ns is None else since_ns)
        self.stats.held += 1
        what = "order" if action == "place" else "cancel of"
        self._say(
            Severity.INFO,
            f"{what} {order_id} held: {self.paused_reason}; it is sent after the next Kite login",
        )

    def _release_held(self) -> None:
        released = self._held.release(
            self._orders,
            now_ns=self._clock.time_ns(),
            max_age_s=self.config.held_order_max_age_s,
            broker="Kite",
        )
        for cancelled in released.expired:
            self.stats.expired_held += 1
            self._emit(cancelled)
        for order_id in released.cancels:
            self._spawn(self._cancel(order_id), f"kite-cancel-{order_id}")
        for order_id in released.places:
            self.stats.released += 1
            self._spawn(self._place(order_id), f"kite-place-{order_id}")

    # -- internals -------------------------------------------------------------------------------

    def _task_failed(self, task: asyncio.Task[Any]) -> None:
        log.error("Kite task %s failed", task.get_name(), exc_info=task.exception())
        self._say(Severity.ERROR, f"Kite adapter error in {task.get_name()}: {task.exception()}")


def _no_orders(order_id: OrderId) -> Order | None:
    return None


def _rupees(paise: Paise) -> Decimal:
    return to_rupees(paise)
