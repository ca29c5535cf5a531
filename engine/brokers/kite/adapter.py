"""The Kite broker adapter: the engine's ``Broker`` port over ``KiteRest`` and the ticker's updates.

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
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from engine.brokers.base import BrokerSink, Capabilities
from engine.brokers.kite.errors import KiteError, OutcomeUnknown, SessionExpired
from engine.brokers.kite.rest import KiteRest
from engine.brokers.kite.status_map import (
    KiteDataError,
    KiteOrderReport,
    KiteTradeReport,
    parse_order,
    parse_trade,
)
from engine.core.clock import Clock
from engine.domain.events import (
    ConnectionChanged,
    EngineMessage,
    OrderEvent,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
    Severity,
)
from engine.domain.ids import BrokerOrderId, InstrumentToken, OrderId, TradeId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import (
    LIVE_STATUSES,
    Modification,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Validity,
    can_transition,
)
from engine.domain.origin import OrderSource
from engine.domain.values import Paise, to_rupees

log = logging.getLogger(__name__)

_MARGIN_KEYS = frozenset(
    {"exchange", "tradingsymbol", "transaction_type", "product", "order_type", "quantity", "price",
     "trigger_price"}
)  # fmt: skip
"""What an element of Kite's margin calculator basket carries (kite_xts_apis.md §A.11)."""

OrderLookup = Callable[[OrderId], Order | None]
Reconcile = Callable[[str], Awaitable[object]]
NOT_LOGGED_IN = "not logged in to Kite yet"


@dataclass(frozen=True, slots=True)
class KiteBrokerConfig:
    variety: str = "regular"
    market_protection: int = -1
    """Sent with MARKET and SL-M orders: -1 is Kite's automatic protection, 1..100 a percentage."""
    held_order_max_age_s: float = 120.0
    """A place held while logged out longer than this is cancelled at the login, not sent late."""
    unknown_outcome_grace_s: float = 30.0
    """A place with no reply that Kite still does not show after this long was not placed."""
    trade_poll_attempts: int = 3
    """Extra looks at an order's trades when Kite reports fills the tradebook does not show yet."""
    trade_poll_interval_s: float = 0.5
    ack_wait_s: float = 10.0
    """How long a modify or cancel waits for the place reply that gives Kite's order id."""

    def __post_init__(self) -> None:
        if self.variety not in ("regular", "amo", "iceberg", "auction", "co"):
            raise ValueError(f"unknown Kite variety {self.variety!r}")
        if not (self.market_protection == -1 or 0 < self.market_protection <= 100):
            raise ValueError("market_protection must be -1 (automatic) or 1..100 (percent)")
        for name in ("held_order_max_age_s", "unknown_outcome_grace_s", "ack_wait_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.trade_poll_attempts < 0 or self.trade_poll_interval_s < 0:
            raise ValueError("trade_poll_attempts and trade_poll_interval_s must be >= 0")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> KiteBrokerConfig:
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown KiteBrokerConfig settings: {', '.join(unknown)}")
        return cls(**values)


@dataclass
class KiteBrokerStats:
    placed: int = 0
    recovered_by_tag: int = 0
    rejected: int = 0
    unknown_outcomes: int = 0
    held: int = 0
    released: int = 0
    expired_held: int = 0
    reports: int = 0
    stale_reports: int = 0
    fills: int = 0
    duplicate_fills: int = 0
    adopted: int = 0
    modifies: int = 0
    cancels: int = 0


@dataclass(slots=True)
class _Tracked:
    order_id: OrderId
    variety: str
    broker_order_id: BrokerOrderId | None = None
    acknowledged: asyncio.Event = field(default_factory=asyncio.Event)
    uncertain_since_ns: int | None = None
    """Set while Kite may or may not have the order (a lost place reply, a restart)."""


@dataclass(frozen=True, slots=True)
class _Held:
    order_id: OrderId
    action: str
    """'place' or 'cancel'."""
    since_ns: int


class KiteBroker:
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
        self._tracked: dict[OrderId, _Tracked] = {}
        self._by_broker_id: dict[BrokerOrderId, OrderId] = {}
        self._seen_trades: set[TradeId] = set()
        self._locks: dict[OrderId, asyncio.Lock] = {}
        self._held: deque[_Held] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ignored_outside: set[BrokerOrderId] = set()
        self.paused_reason = NOT_LOGGED_IN
        """Why order flow is paused ('' while orders go out)."""
        self._pauses = 0
        self.stats = KiteBrokerStats()

    # -- wiring ----------------------------------------------------------------------------------

    def bind(self, sink: BrokerSink) -> None:
        self._sink = sink

    def attach(self, *, orders: OrderLookup, reconcile: Reconcile | None = None) -> None:
        """The order manager's orders (read only) and the reconciliation run at every login."""
        self._orders = orders
        self._reconcile = reconcile

    # -- the port --------------------------------------------------------------------------------

    def submit(self, order: Order) -> None:
        self._track(order.order_id)
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
        for held in self._held:
            if held.order_id == order_id and held.action == "place":
                self._held.remove(held)
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
            tracked = self._track(order.order_id)
            if order.broker_order_id:
                self._acknowledge(tracked, order.broker_order_id)
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

    # -- reports from Kite -----------------------------------------------------------------------

    def on_order_update(self, report: KiteOrderReport) -> None:
        """The ticker's order update (synchronous callback): applied in a task, in order."""
        self._spawn(self.apply_report(report), f"kite-update-{report.broker_order_id}")

    async def apply_report(
        self, report: KiteOrderReport, trades: list[KiteTradeReport] | None = None
    ) -> OrderId | None:
        """Apply one Kite order report: new trades as fills, then the status; returns our id.

        ``trades`` are the order's trades when the caller has them (reconciliation); otherwise
        they are fetched when the report shows fills not booked yet.
        """
        self.stats.reports += 1
        order_id = self._match(report) or self._adopt(report)
        if order_id is None:
            return None
        async with self._lock(order_id):
            await self._apply(order_id, report, trades)
        return order_id

    async def refresh(self, order_id: OrderId) -> None:
        """Ask Kite for the order's latest state (its history's last entry) and apply it."""
        tracked = self._tracked.get(order_id)
        if tracked is None or tracked.broker_order_id is None:
            return
        try:
            history = await self._rest.order_history(tracked.broker_order_id)
        except KiteError as exc:
            log.warning("could not refresh order %s: %s", order_id, exc)
            return
        if history:
            try:
                report = parse_order(history[-1])
            except KiteDataError as exc:
                log.error("unreadable order history of %s: %s", order_id, exc)
                return
            await self.apply_report(report)

    # -- what reconciliation asks ----------------------------------------------------------------

    def broker_order_id(self, order_id: OrderId) -> BrokerOrderId | None:
        tracked = self._tracked.get(order_id)
        return None if tracked is None else tracked.broker_order_id

    @property
    def has_uncertain(self) -> bool:
        return any(t.uncertain_since_ns is not None for t in self._tracked.values())

    def resolve_missing(self, at_kite: set[str]) -> list[OrderId]:
        """Orders whose fate was unknown and that Kite's orderbook (tags and ids ``at_kite``)
        still does not show after the grace period: they were not placed. Returns them."""
        now = self._clock.time_ns()
        grace_ns = int(self.config.unknown_outcome_grace_s * 1e9)
        resolved: list[OrderId] = []
        for tracked in self._tracked.values():
            since = tracked.uncertain_since_ns
            if since is None:
                continue
            order = self._orders(tracked.order_id)
            if (
                tracked.order_id in at_kite
                or (tracked.broker_order_id is not None and tracked.broker_order_id in at_kite)
                or order is None
                or order.status is not OrderStatus.PENDING_SUBMIT
            ):
                tracked.uncertain_since_ns = None
                continue
            if now - since < grace_ns:
                continue
            tracked.uncertain_since_ns = None
            waited = (now - since) / 1e9
            self._emit(
                OrderStatusChanged(
                    tracked.order_id,
                    now,
                    OrderStatus.CANCELLED,
                    f"not placed: Kite has no order tagged {tracked.order_id} {waited:.0f}s "
                    "after it was sent (the request never reached Kite); it was not sent again",
                )
            )
            resolved.append(tracked.order_id)
        return resolved

    # -- lifecycle -------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait until every request and report in flight is done (tests, shutdown)."""
        while self._tasks:
            pending = [task for task in self._tasks if not task.done()]
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            # A finished task leaves the set in its done-callback: give the loop a turn to run
            # it, or this would spin without ever yielding.
            await asyncio.sleep(0)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- requests --------------------------------------------------------------------------------

    async def _place(self, order_id: OrderId) -> None:
        tracked = self._tracked[order_id]
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
        async with self._lock(order_id):
            self._acknowledge(tracked, broker_id)
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
        tracked = self._tracked.get(order_id) or self._track(order_id)
        broker_id = await self._acknowledged(tracked)
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
            self._say(Severity.WARNING, f"modify of {order_id} failed: {exc}")
        await self.refresh(order_id)

    async def _cancel(self, order_id: OrderId) -> None:
        tracked = self._tracked.get(order_id) or self._track(order_id)
        broker_id = await self._acknowledged(tracked)
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
            self._say(Severity.WARNING, f"cancel of {order_id} failed: {exc}")
        await self.refresh(order_id)

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

    # -- applying reports ------------------------------------------------------------------------

    def _match(self, report: KiteOrderReport) -> OrderId | None:
        order_id = self._by_broker_id.get(report.broker_order_id)
        if order_id is not None:
            return order_id
        tag = report.tag
        if tag and (tag in self._tracked or self._orders(OrderId(tag)) is not None):
            order_id = OrderId(tag)
            self._acknowledge(
                self._tracked.get(order_id) or self._track(order_id), report.broker_order_id
            )
            return order_id
        return None

    def _adopt(self, report: KiteOrderReport) -> OrderId | None:
        """An order Kite has that DalalDesk did not place (Kite web, mobile): shown in the book."""
        broker_id = report.broker_order_id
        if broker_id in self._ignored_outside:
            return None
        instrument = self._instruments(report.token)
        try:
            product = Product(report.product)
        except ValueError:
            product = None
        if instrument is None or product is None:
            self._ignored_outside.add(broker_id)
            why = (
                "its instrument is not loaded"
                if instrument is None
                else f"product {report.product}"
            )
            self._say(
                Severity.WARNING,
                f"Kite order {broker_id} ({report.exchange}:{report.tradingsymbol}) was placed "
                f"outside DalalDesk and is not shown ({why}); check it in Kite",
            )
            return None
        order_id = OrderId(f"K{broker_id}"[:20])
        if self._orders(order_id) is None:
            request = OrderRequest(
                token=report.token,
                side=report.side,
                quantity=report.quantity,
                order_type=report.order_type,
                product=product,
                validity=Validity.DAY,
                price=report.price or None,
                trigger_price=report.trigger_price or None,
                tag=report.tag or "",
                source=OrderSource.BROKER,
            )
            self._emit(OrderSubmitted(order_id, self._clock.time_ns(), request))
            self.stats.adopted += 1
            self._say(
                Severity.INFO,
                f"Kite order {broker_id} ({report.tradingsymbol}) was placed outside DalalDesk; "
                f"it is shown as {order_id}",
            )
        self._acknowledge(self._track(order_id), broker_id)
        return order_id

    async def _apply(
        self, order_id: OrderId, report: KiteOrderReport, trades: list[KiteTradeReport] | None
    ) -> None:
        order = self._orders(order_id)
        if order is None:
            log.error("Kite report for %s, which the order manager does not know", order_id)
            return
        tracked = self._tracked.get(order_id) or self._track(order_id)
        self._acknowledge(tracked, report.broker_order_id)
        tracked.uncertain_since_ns = None
        if report.filled_quantity > order.filled_quantity:
            await self._book_trades(order, report, trades)
        event = self._status_event(order, report)
        if event is not None:
            self._emit(event)

    async def _book_trades(
        self, order: Order, report: KiteOrderReport, trades: list[KiteTradeReport] | None
    ) -> None:
        attempts = 0
        while True:
            if trades is None:
                trades = await self._fetch_trades(report.broker_order_id)
            for trade in sorted(trades, key=_trade_order):
                if trade.broker_order_id == report.broker_order_id:
                    self._fill(order, trade)
            if order.filled_quantity >= report.filled_quantity:
                return
            if attempts >= self.config.trade_poll_attempts:
                break
            attempts += 1
            trades = None
            await asyncio.sleep(self.config.trade_poll_interval_s)
        log.warning(
            "order %s: Kite reports %d filled but its tradebook shows %d; reconciliation books "
            "the rest",
            order.order_id,
            report.filled_quantity,
            order.filled_quantity,
        )

    async def _fetch_trades(self, broker_id: BrokerOrderId) -> list[KiteTradeReport]:
        try:
            rows = await self._rest.order_trades(broker_id)
        except KiteError as exc:
            log.warning("could not fetch the trades of Kite order %s: %s", broker_id, exc)
            return []
        trades = []
        for row in rows:
            try:
                trades.append(parse_trade(row))
            except KiteDataError as exc:
                log.error("unreadable Kite trade: %s", exc)
        return trades

    def _fill(self, order: Order, trade: KiteTradeReport) -> None:
        if trade.trade_id in self._seen_trades or trade.trade_id in order.trade_ids:
            self.stats.duplicate_fills += 1
            return
        self._seen_trades.add(trade.trade_id)
        when = trade.fill_timestamp
        ts_ns = self._clock.time_ns() if when is None else int(when.timestamp()) * 1_000_000_000
        self._emit(
            OrderFilled(
                order.order_id,
                ts_ns,
                trade.trade_id,
                order.token,
                order.side,
                order.product,
                trade.quantity,
                trade.price,
            )
        )
        self.stats.fills += 1

    def _status_event(self, order: Order, report: KiteOrderReport) -> OrderStatusChanged | None:
        status = report.status
        if status is None:
            if not report.is_update:
                log.warning(
                    "order %s: unknown Kite status %r; waiting for the next report",
                    order.order_id,
                    report.kite_status,
                )
                return None
            # UPDATE: modified or partly filled, live status unchanged.
            if order.status not in LIVE_STATUSES:
                return None
            status = order.status
        limit_like = report.order_type in (OrderType.LIMIT, OrderType.SL)
        stop_like = report.order_type in (OrderType.SL, OrderType.SL_M)
        event = OrderStatusChanged(
            order.order_id,
            self._clock.time_ns(),
            status,
            message=report.message,
            broker_order_id=report.broker_order_id,
            exchange_order_id=report.exchange_order_id,
            quantity=report.quantity,
            price=report.price if limit_like and report.price else None,
            trigger_price=report.trigger_price if stop_like and report.trigger_price else None,
            order_type=report.order_type,
        )
        reason = order.refusal(event)
        if reason is None:
            return event
        if reason != "duplicate":
            self.stats.stale_reports += 1
            log.debug("order %s: Kite report not applied (%s)", order.order_id, reason)
        return None

    # -- holding ---------------------------------------------------------------------------------

    def _hold(self, order_id: OrderId, action: str, *, since_ns: int | None = None) -> None:
        held = _Held(order_id, action, self._clock.time_ns() if since_ns is None else since_ns)
        self._held.append(held)
        self.stats.held += 1
        what = "order" if action == "place" else "cancel of"
        self._say(
            Severity.INFO,
            f"{what} {order_id} held: {self.paused_reason}; it is sent after the next Kite login",
        )

    def _release_held(self) -> None:
        now = self._clock.time_ns()
        max_age = self.config.held_order_max_age_s
        # Oldest request first, whatever order they were held in.
        pending = sorted(self._held, key=lambda held: held.since_ns)
        self._held.clear()
        for held in pending:
            order = self._orders(held.order_id)
            if order is None or not order.is_open:
                continue
            if held.action == "cancel":
                self._spawn(self._cancel(held.order_id), f"kite-cancel-{held.order_id}")
                continue
            if order.status is not OrderStatus.PENDING_SUBMIT:
                continue  # reconciliation found it at Kite: it is not sent again
            age = (now - held.since_ns) / 1e9
            if age > max_age:
                self.stats.expired_held += 1
                self._emit(
                    OrderStatusChanged(
                        held.order_id,
                        now,
                        OrderStatus.CANCELLED,
                        f"not sent: held {age:.0f}s while logged out of Kite (more than "
                        f"{max_age:.0f}s); place it again if you still want it",
                    )
                )
                continue
            self.stats.released += 1
            self._spawn(self._place(held.order_id), f"kite-place-{held.order_id}")

    # -- internals -------------------------------------------------------------------------------

    def _track(self, order_id: OrderId) -> _Tracked:
        tracked = self._tracked.get(order_id)
        if tracked is None:
            tracked = self._tracked[order_id] = _Tracked(order_id, self.config.variety)
        return tracked

    def _acknowledge(self, tracked: _Tracked, broker_id: BrokerOrderId) -> None:
        if tracked.broker_order_id is None:
            tracked.broker_order_id = broker_id
            self._by_broker_id[broker_id] = tracked.order_id
        tracked.acknowledged.set()

    async def _acknowledged(self, tracked: _Tracked) -> BrokerOrderId | None:
        try:
            await asyncio.wait_for(tracked.acknowledged.wait(), self.config.ack_wait_s)
        except TimeoutError:
            return None
        return tracked.broker_order_id

    def _lock(self, order_id: OrderId) -> asyncio.Lock:
        lock = self._locks.get(order_id)
        if lock is None:
            lock = self._locks[order_id] = asyncio.Lock()
        return lock

    def _reject(self, order_id: OrderId, reason: str) -> None:
        self.stats.rejected += 1
        self._emit(
            OrderStatusChanged(order_id, self._clock.time_ns(), OrderStatus.REJECTED, reason)
        )

    def _emit(self, event: OrderEvent) -> None:
        if self._sink is None:
            raise RuntimeError("the Kite broker is not bound to an order manager")
        self._sink(event)

    def _say(self, severity: Severity, text: str) -> None:
        self._publish(EngineMessage(self._clock.time_ns(), severity, text, "kite"))

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Kite task %s failed", task.get_name(), exc_info=task.exception())
            self._say(
                Severity.ERROR, f"Kite adapter error in {task.get_name()}: {task.exception()}"
            )


def _no_orders(order_id: OrderId) -> Order | None:
    return None


def _rupees(paise: Paise) -> Decimal:
    return to_rupees(paise)


def _trade_order(trade: KiteTradeReport) -> tuple[float, str]:
    when = trade.fill_timestamp
    return (0.0 if when is None else when.timestamp(), trade.trade_id)


def trades_by_order(
    trades: Iterable[KiteTradeReport],
) -> dict[BrokerOrderId, list[KiteTradeReport]]:
    grouped: dict[BrokerOrderId, list[KiteTradeReport]] = {}
    for trade in trades:
        grouped.setdefault(trade.broker_order_id, []).append(trade)
    return grouped
