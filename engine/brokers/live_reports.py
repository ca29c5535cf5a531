"""How a live broker's order reports become order events: the part of an adapter that reads.

Every order report (a streamed order update, an order-history entry, a reconciliation row)
becomes, through the sink, first an ``OrderFilled`` for each trade id not booked yet (trades come
with the report or from the broker's tradebook), then an ``OrderStatusChanged`` if the report says
something the order does not know. Orders placed outside DalalDesk (the broker's web or mobile
app) are adopted with an ``OrderSubmitted`` of their own so the book matches the broker's.

Nothing here is particular to one broker: an adapter (Kite, XTS) says how to read one order's
latest state and one order's trades (``latest_report``, ``order_trades``), both raising
``BrokerError`` when the broker cannot answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from engine.brokers.base import BrokerError, BrokerSink
from engine.brokers.live import LiveBrokerStats, OrderTracker
from engine.brokers.live_owed import Owed
from engine.core.clock import Clock
from engine.domain.events import (
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
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from engine.domain.origin import OrderSource, StrategyId
from engine.domain.reports import OrderReport, TradeReport

log = logging.getLogger(__name__)

OrderLookup = Callable[[OrderId], Order | None]
R = TypeVar("R")


class TradePolling(Protocol):
    @property
    def trade_poll_attempts(self) -> int:
        """Extra looks at an order's trades when the broker reports fills its tradebook lacks."""
        ...

    @property
    def trade_poll_interval_s(self) -> float: ...


class ReportFreshness:
    """Which reports are older than what the desk already knows of an order. A read (the
    orderbook, an order's history) is fetched first and applied later; a modify's own reports
    can land in between, and the older read must not put the old terms back, or the next modify
    (which sends every field) would send them to the broker. A report is older when its read
    began before the order last changed here (``OrderReport.as_of`` against a change counter:
    exact even when the broker's times are whole seconds) or when the broker's update time is
    before that of a report already applied."""

    def __init__(self) -> None:
        self._changes = 0
        self._changed_at: dict[OrderId, int] = {}
        self._updated_at: dict[OrderId, datetime] = {}

    def mark(self) -> int:
        """Noted when a read begins; its reports carry it as ``as_of``."""
        return self._changes

    def changed(self, order_id: OrderId) -> None:
        self._changes += 1
        self._changed_at[order_id] = self._changes

    def is_stale(self, order_id: OrderId, report: OrderReport) -> bool:
        if report.as_of is not None and self._changed_at.get(order_id, 0) > report.as_of:
            return True
        last = self._updated_at.get(order_id)
        return last is not None and report.updated_at is not None and report.updated_at < last

    def applied(self, order_id: OrderId, report: OrderReport) -> None:
        when = report.updated_at
        last = self._updated_at.get(order_id)
        if when is not None and (last is None or when > last):
            self._updated_at[order_id] = when


class LiveReports:
    """Applying a live broker's reports (mixed into its adapter, whose state it reads)."""

    name: str
    """The broker's short name ("kite"): the source of its messages."""
    title: str
    """The broker's name as the trader knows it ("Kite")."""
    adopted_prefix: str
    """Our id of an order placed outside DalalDesk: this letter and the broker's id."""
    config: TradePolling
    stats: LiveBrokerStats
    _clock: Clock
    _instruments: Callable[[InstrumentToken], Instrument | None]
    _publish: Callable[[object], None]
    _sink: BrokerSink | None
    _orders: OrderLookup
    _tracker: OrderTracker
    _seen_trades: set[TradeId]
    _ignored_outside: set[BrokerOrderId]
    _owed: Owed
    _spawn: Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]]

    async def latest_report(self, broker_id: BrokerOrderId) -> OrderReport | None:
        """The broker's latest state of one order (None if it has none); ``BrokerError``."""
        raise NotImplementedError

    async def order_trades(self, broker_id: BrokerOrderId) -> list[TradeReport]:
        """The trades of one order, as the broker's tradebook has them; ``BrokerError``."""
        raise NotImplementedError

    @property
    def freshness(self) -> ReportFreshness:
        """Made on first use: the adapter's ``__init__`` (``live_adapter``) does not know it."""
        fresh = self.__dict__.get("_freshness")
        if fresh is None:
            fresh = self.__dict__["_freshness"] = ReportFreshness()
        return fresh

    def readable_rows(
        self,
        rows: Iterable[dict[str, Any]],
        parse: Callable[[dict[str, Any]], R],
        unreadable: type[Exception],
        what: str,
    ) -> list[R]:
        """The rows ``parse`` can read; one it cannot is logged and left out, never guessed."""
        out = []
        for row in rows:
            try:
                out.append(parse(row))
            except unreadable as exc:
                log.error("unreadable %s %s: %s", self.title, what, exc)
        return out

    def on_order_update(self, report: OrderReport) -> None:
        """A streamed order update (synchronous callback): applied in a task, in order."""
        self._spawn(self.apply_report(report), f"{self.name}-update-{report.broker_order_id}")

    async def apply_report(
        self, report: OrderReport, trades: list[TradeReport] | None = None
    ) -> OrderId | None:
        """Apply one order report: new trades as fills, then the status; returns our id.

        ``trades`` are the order's trades when the caller has them (reconciliation); otherwise
        they are fetched when the report shows fills not booked yet.
        """
        self.stats.reports += 1
        order_id = self._match(report)
        if order_id is not None and self._found_after_all(order_id, report):
            order_id = self._take_back(order_id, report)
        if order_id is None and report.broker_order_id not in self._ignored_outside:
            owner = await self.outside_owner(report)
            order_id = self._match(report) or self._adopt(report, owner)
        if order_id is None:
            return None
        async with self._tracker.lock(order_id):
            await self._apply(order_id, report, trades)
        return order_id

    async def refresh(self, order_id: OrderId) -> bool:
        """Ask the broker for the order's latest state and apply it; whether it answered."""
        tracked = self._tracker.get(order_id)
        if tracked is None or tracked.broker_order_id is None:
            return False
        mark = self.freshness.mark()
        try:
            report = await self.latest_report(tracked.broker_order_id)
        except BrokerError as exc:
            log.warning("could not refresh order %s: %s", order_id, exc)
            return False
        if report is not None:
            await self.apply_report(dataclasses.replace(report, as_of=mark))
        return True

    def _match(self, report: OrderReport) -> OrderId | None:
        order_id = self._tracker.by_broker_id(report.broker_order_id)
        if order_id is not None:
            return order_id
        tag = report.tag
        if tag and (tag in self._tracker or self._orders(OrderId(tag)) is not None):
            order_id = OrderId(tag)
            self._tracker.acknowledge(self._tracker.track(order_id), report.broker_order_id)
            return order_id
        return None

    def _found_after_all(self, order_id: OrderId, report: OrderReport) -> bool:
        """The broker has, working or filled, an order the desk settled as never placed (its
        place had no reply, and the broker's book did not show it within the grace period)."""
        order = self._orders(order_id)
        return (
            order is not None
            and order.status is OrderStatus.CANCELLED
            and order.broker_order_id is None
            and order.filled_quantity == 0
            and (report.status in LIVE_STATUSES or report.filled_quantity > 0)
        )

    def _take_back(self, order_id: OrderId, report: OrderReport) -> OrderId | None:
        """An order settled "not placed" that the broker carried out late comes back into the
        book as an order of its own, the broker's id after ``adopted_prefix``, owned as the
        first was: its fills, position and P&L are the desk's again, and it can be cancelled
        from the desk. The first stays CANCELLED, as journaled; the trader is told."""
        first = self._orders(order_id)
        assert first is not None  # _found_after_all saw it
        # Taken back before a restart: its reports are the adopted order's, said once then.
        told = self._orders(self._adopted_id(report.broker_order_id)) is not None
        taken = self._adopt(report, taken_back_from=first)
        if taken is None or told:  # None: its instrument or product unreadable, said by _adopt
            return taken
        self._say(
            Severity.ERROR,
            f"order {order_id} was settled as not placed, but {self.title} has it after all "
            f"(order {report.broker_order_id}, {report.broker_status}, "
            f"{report.filled_quantity} of {report.quantity} filled): it is back in the book as "
            f"{taken}. Check it, and the position",
        )
        return taken

    async def outside_owner(self, report: OrderReport) -> tuple[StrategyId, str] | None:
        """Whose an order the desk did not send is when the broker sent it on the desk's
        behalf (a GTT the broker triggered): the parent strategy and the GTT's id; None for an
        order from the broker's web or mobile app."""
        return None

    def _adopt(
        self,
        report: OrderReport,
        owner: tuple[StrategyId, str] | None = None,
        *,
        taken_back_from: Order | None = None,
    ) -> OrderId | None:
        """An order the broker has that DalalDesk did not place (its web or mobile app, or a
        GTT the broker triggered, then ``owner``'s), or that the desk settled as not placed
        (``taken_back_from``, whose source and strategy it keeps): shown in the book."""
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
                f"{self.title} order {broker_id} ({report.exchange}:{report.tradingsymbol}) was "
                f"placed outside DalalDesk and is not shown ({why}); check it in {self.title}",
            )
            return None
        order_id = self._adopted_id(broker_id)
        if self._orders(order_id) is None:
            first = taken_back_from
            request = OrderRequest(
                token=report.token,
                side=report.side,
                quantity=report.quantity,
                order_type=report.order_type,
                product=product,
                validity=Validity.DAY if first is None else first.validity,
                price=report.price or None,
                trigger_price=report.trigger_price or None,
                tag=report.tag or "",
                source=OrderSource.BROKER if first is None else first.source,
                strategy=first.strategy if first is not None else owner and owner[0],
                square_off=first is not None and first.square_off,
            )
            self._emit(OrderSubmitted(order_id, self._clock.time_ns(), request))
            self.stats.adopted += 1
            if first is None:  # a taken-back order is told of by _take_back
                said = (
                    "was placed outside DalalDesk"
                    if owner is None
                    else f"was placed by {self.title}'s GTT {owner[1]} on its trigger, for "
                    f"{owner[0]}"
                )
                self._say(
                    Severity.INFO,
                    f"{self.title} order {broker_id} ({report.tradingsymbol}) {said}; "
                    f"it is shown as {order_id}",
                )
        self._tracker.acknowledge(self._tracker.track(order_id), broker_id)
        return order_id

    def _adopted_id(self, broker_id: BrokerOrderId) -> OrderId:
        return OrderId(f"{self.adopted_prefix}{broker_id}"[:20])

    async def _apply(
        self, order_id: OrderId, report: OrderReport, trades: list[TradeReport] | None
    ) -> None:
        order = self._orders(order_id)
        if order is None:
            log.error(
                "%s report for %s, which the order manager does not know", self.title, order_id
            )
            return
        tracked = self._tracker.track(order_id)
        self._tracker.acknowledge(tracked, report.broker_order_id)
        tracked.uncertain_since_ns = None
        # An older report still books its fills and an end (facts), never terms or a live status.
        stale = self.freshness.is_stale(order_id, report)
        if stale:
            self.stats.stale_reports += 1
            log.debug("order %s: older %s report; its terms are not applied", order_id, self.title)
        else:
            self.freshness.applied(order_id, report)
        if not stale and report.quantity > order.quantity and order.status in LIVE_STATUSES:
            # Modified up at the broker, and already filled past the old quantity: the new
            # terms first, or the fills would be refused as overfills.
            self._emit(
                OrderStatusChanged(
                    order.order_id,
                    self._clock.time_ns(),
                    order.status,
                    broker_order_id=report.broker_order_id,
                    quantity=report.quantity,
                )
            )
        if report.filled_quantity > order.filled_quantity:
            await self._book_trades(order, report, trades)
        if report.filled_quantity > order.filled_quantity:
            self._fills_owed(order, report)
            if report.status is not None and report.status.is_terminal:
                return  # its end waits for its fills: they are booked first
        elif self._owed.fills_booked(order_id, order.filled_quantity):
            self._say(
                Severity.INFO,
                f"order {order_id}: the fills {self.title} reported are booked now "
                f"({order.filled_quantity} filled)",
            )
        if stale and (report.status is None or not report.status.is_terminal):
            return
        event = self._status_event(order, report)
        if event is not None:
            self._emit(event)

    async def _book_trades(
        self, order: Order, report: OrderReport, trades: list[TradeReport] | None
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
            "order %s: %s reports %d filled but its tradebook shows %d; reconciliation books "
            "the rest",
            order.order_id,
            self.title,
            report.filled_quantity,
            order.filled_quantity,
        )

    def _fills_owed(self, order: Order, report: OrderReport) -> None:
        """The broker reports more filled than its trades showed: owed, asked for again
        (reconciliation) until booked; the trader is told once."""
        if self._owed.owe_fills(order.order_id, report.filled_quantity):
            self._say(
                Severity.WARNING,
                f"order {order.order_id}: {self.title} reports {report.filled_quantity} filled "
                f"but its trades could not be read yet ({order.filled_quantity} booked): the "
                f"position lacks them until they are. DalalDesk keeps asking {self.title}",
            )

    async def _fetch_trades(self, broker_id: BrokerOrderId) -> list[TradeReport]:
        try:
            return await self.order_trades(broker_id)
        except BrokerError as exc:
            log.warning("could not fetch the trades of %s order %s: %s", self.title, broker_id, exc)
            return []

    def _fill(self, order: Order, trade: TradeReport) -> None:
        if trade.trade_id in self._seen_trades or trade.trade_id in order.trade_ids:
            self.stats.duplicate_fills += 1
            return
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
        if trade.trade_id in order.trade_ids:
            # Seen once the order holds it: a fill the order manager refused (an overfill
            # before a report of larger terms) is booked again by a later report.
            self._seen_trades.add(trade.trade_id)
            self.stats.fills += 1

    def _status_event(self, order: Order, report: OrderReport) -> OrderStatusChanged | None:
        status = report.status
        if status is None:
            if not report.is_update:
                log.warning(
                    "order %s: unknown %s status %r; waiting for the next report",
                    order.order_id,
                    self.title,
                    report.broker_status,
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
            log.debug("order %s: %s report not applied (%s)", order.order_id, self.title, reason)
        return None

    def _reject(self, order_id: OrderId, reason: str) -> None:
        self.stats.rejected += 1
        self._emit(
            OrderStatusChanged(order_id, self._clock.time_ns(), OrderStatus.REJECTED, reason)
        )

    def _emit(self, event: OrderEvent) -> None:
        if self._sink is None:
            raise RuntimeError(f"the {self.title} broker is not bound to an order manager")
        self.freshness.changed(event.order_id)
        self._sink(event)

    def _say(self, severity: Severity, text: str) -> None:
        self._publish(EngineMessage(self._clock.time_ns(), severity, text, self.name))


def _trade_order(trade: TradeReport) -> tuple[float, str]:
    when = trade.fill_timestamp
    return (0.0 if when is None else when.timestamp(), trade.trade_id)
