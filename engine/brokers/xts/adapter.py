"""The XTS broker adapter: the shared live-broker order flow (``engine.brokers.live_adapter``)
over ``XtsRest`` and the interactive socket's events.

Out: ``submit`` places with ``orderUniqueIdentifier`` = our order id (at most 20 characters,
echoed back in every order and trade), so a place whose reply is lost is found in the orderbook
and never placed twice. A modify sends the order's whole desired state (XTS's modify replaces
every field; kite_xts_apis.md §C.4). Orders go out as MARKET / LIMIT / STOPMARKET / STOPLIMIT
with prices in rupees; XTS has no market protection of its own.

In: order reports (the interactive socket's ``order`` and ``trade`` events, the orderbook read
while the socket is down, reconciliation rows) become order events through
``engine.brokers.live_reports``. A ``trade`` event is the order with one execution: it books that
execution (``ExecutionID`` is the trade id, so a fill is never counted twice) and the order's
state; an order's trades otherwise come from the tradebook.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from engine.brokers.base import Capabilities
from engine.brokers.live import PlacedOrder, Tracked
from engine.brokers.live_adapter import LiveBroker
from engine.brokers.xts.book import funds_changed, read_xts_book
from engine.brokers.xts.config import XtsBrokerConfig
from engine.brokers.xts.errors import XtsDataError
from engine.brokers.xts.rest import XtsRest
from engine.brokers.xts.status_map import (
    WIRE_ORDER_TYPES,
    parse_order,
    parse_trade,
    xts_instrument_of,
)
from engine.core.clock import Clock
from engine.domain.ids import BrokerOrderId, InstrumentToken
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderRequest, OrderType
from engine.domain.reports import BrokerBook, OrderReport, TradeReport
from engine.domain.values import to_rupees

log = logging.getLogger(__name__)

_LIMITED = (OrderType.LIMIT, OrderType.SL)
_STOPS = (OrderType.SL, OrderType.SL_M)
_PARSE_ON_LOOP = 50
"""Orderbook rows parsed on the loop at most (about 70 µs each); more go to a worker thread."""


class XtsBroker(LiveBroker):
    config: XtsBrokerConfig
    name = "xts"
    title = "XTS"
    adopted_prefix = "X"
    capabilities = Capabilities(
        order_types=frozenset(OrderType), modify=True, market_protection=False, in_process=False
    )

    def __init__(
        self,
        rest: XtsRest,
        *,
        instruments: Callable[[InstrumentToken], Instrument | None],
        clock: Clock,
        publish: Callable[[object], None],
        config: XtsBrokerConfig | None = None,
    ) -> None:
        self.config = config or XtsBrokerConfig()
        super().__init__(variety="regular", instruments=instruments, clock=clock, publish=publish)
        self._rest = rest
        self.polls = 0
        self._poll_seen: dict[str, object] = {}
        """The ``LastUpdateDateTime`` of each untracked orderbook row at the last poll."""
        self.events_read = 0
        self.events_unreadable = 0

    # -- XTS's requests --------------------------------------------------------------------------

    def order_params(self, order: Order | OrderRequest) -> dict[str, Any]:
        instrument = self._instruments(order.token)
        if instrument is None:
            raise ValueError(f"instrument {order.token} is not in the XTS instrument master")
        segment, instrument_id = xts_instrument_of(instrument.token)
        kind = order.order_type
        if kind in _LIMITED and order.price is None:
            raise ValueError(f"a {kind} order needs a price")
        if kind in _STOPS and order.trigger_price is None:
            raise ValueError(f"a {kind} order needs a trigger price")
        return {
            "exchangeSegment": segment,
            "exchangeInstrumentID": instrument_id,
            "productType": order.product.value,
            "orderType": WIRE_ORDER_TYPES[kind],
            "orderSide": order.side.value,
            "timeInForce": order.validity.value,
            "disclosedQuantity": 0,
            "orderQuantity": order.quantity,
            "limitPrice": _rupees(order.price) if kind in _LIMITED else 0,
            "stopPrice": _rupees(order.trigger_price) if kind in _STOPS else 0,
        }

    async def send_place(self, tracked: Tracked, params: dict[str, Any]) -> PlacedOrder:
        return await self._rest.place_order(tracked.order_id, params)

    async def send_modify(
        self, order: Order, tracked: Tracked, broker_id: BrokerOrderId, change: Modification
    ) -> None:
        kind = change.order_type or order.order_type
        price = change.price if change.price is not None else order.price
        trigger = change.trigger_price if change.trigger_price is not None else order.trigger_price
        await self._rest.modify_order(
            {
                "appOrderID": int(broker_id),
                "modifiedProductType": order.product.value,
                "modifiedOrderType": WIRE_ORDER_TYPES[kind],
                "modifiedOrderQuantity": change.quantity or order.quantity,
                "modifiedDisclosedQuantity": 0,
                "modifiedLimitPrice": _rupees(price) if kind in _LIMITED else 0,
                "modifiedStopPrice": _rupees(trigger) if kind in _STOPS else 0,
                "modifiedTimeInForce": order.validity.value,
                "orderUniqueIdentifier": tracked.order_id,
            }
        )

    async def send_cancel(self, tracked: Tracked, broker_id: BrokerOrderId) -> None:
        await self._rest.cancel_order(broker_id, tracked.order_id)

    async def latest_report(self, broker_id: BrokerOrderId) -> OrderReport | None:
        """The last entry of the order's history (``GET /orders?appOrderID=``)."""
        history = await self._rest.order_history(broker_id)
        reports = self.readable_rows(history[-1:], parse_order, XtsDataError, "order history")
        return reports[0] if reports else None

    async def order_trades(self, broker_id: BrokerOrderId) -> list[TradeReport]:
        """The order's executions in the tradebook (XTS has no per-order trade call)."""
        rows = [row for row in await self._rest.trades() if str(row.get("AppOrderID")) == broker_id]
        return self.readable_rows(rows, parse_trade, XtsDataError, "trade")

    # -- the interactive socket's events and the polled orderbook --------------------------------

    def on_order_event(self, payload: object) -> None:
        """An ``order`` event (a JSON string, or already decoded)."""
        data = self._decode("order", payload)
        if data is None:
            return
        try:
            report = parse_order(data)
        except XtsDataError as exc:
            self.events_unreadable += 1
            log.error("unreadable XTS order event: %s", exc)
            return
        self.on_order_update(report)

    def on_trade_event(self, payload: object) -> None:
        """A ``trade`` event: the order as it stands and the one execution it reports."""
        data = self._decode("trade", payload)
        if data is None:
            return
        try:
            report, trade = parse_order(data), parse_trade(data)
        except XtsDataError as exc:
            self.events_unreadable += 1
            log.error("unreadable XTS trade event: %s", exc)
            return
        self._spawn(self.apply_report(report, [trade]), f"xts-trade-{trade.trade_id}")

    async def poll_orders(self) -> int:
        """Read the orderbook and apply what changed for the orders still open here (the
        socket's events are lost while it is down); returns how many reports were applied.
        Only rows that can matter are parsed: the desk's open orders and rows not seen before
        or changed since the last poll (an order placed outside DalalDesk)."""
        self.polls += 1
        mark = self.freshness.mark()
        rows = [row for row in await self._rest.orders() if self._worth_parsing(row)]
        if len(rows) > _PARSE_ON_LOOP:
            reports = await asyncio.to_thread(self._poll_reports, rows, mark)
        else:
            reports = self._poll_reports(rows, mark)
        applied = 0
        for report in reports:
            order_id = self._tracker.by_broker_id(report.broker_order_id)
            order = None if order_id is None else self._orders(order_id)
            if order is not None and not order.is_open:
                continue
            if order is not None and _same_state(order, report):
                continue
            await self.apply_report(report)
            applied += 1
        return applied

    def _worth_parsing(self, row: dict[str, Any]) -> bool:
        broker_id = str(row.get("AppOrderID"))
        order_id = self._tracker.by_broker_id(BrokerOrderId(broker_id))
        if order_id is None and row.get("OrderUniqueIdentifier") in self._tracker:
            return True  # placed from here, its acknowledgement not read yet
        if order_id is not None:
            order = self._orders(order_id)
            return order is None or order.is_open
        if broker_id in self._ignored_outside:
            return False
        updated = row.get("LastUpdateDateTime")
        if self._poll_seen.get(broker_id) == updated:
            return False
        self._poll_seen[broker_id] = updated
        return True

    @staticmethod
    def _poll_reports(rows: list[dict[str, Any]], mark: int) -> list[OrderReport]:
        reports = []
        for row in rows:
            try:
                reports.append(parse_order(row, as_of=mark))
            except XtsDataError as exc:
                log.error("orderbook poll: %s", exc)
        return reports

    def _decode(self, event: str, payload: object) -> dict[str, Any] | None:
        self.events_read += 1
        try:
            data = json.loads(payload) if isinstance(payload, str | bytes) else payload
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.events_unreadable += 1
            log.error("XTS %s event is not a JSON object: %.200r", event, payload)
            return None
        return data

    # -- reconciliation's view of XTS ------------------------------------------------------------

    async def read_book(self) -> BrokerBook:
        return await read_xts_book(self._rest, as_of=self.freshness.mark())

    def book_applied(self, book: BrokerBook) -> None:
        """XTS's limits, read with the books, go to the risk layer."""
        limits = book.extra.get("limits")
        if isinstance(limits, dict):
            funds = funds_changed(limits, self._clock.time_ns())
            if funds is not None:
                self._publish(funds)


def _same_state(order: Order, report: OrderReport) -> bool:
    """Whether an orderbook row says nothing the order does not know: its status, fills and
    terms (a price changed at XTS with the socket down must reach the desk, or the next modify,
    which sends every field, would send the old price back)."""
    limited = report.order_type in _LIMITED
    stop = report.order_type in _STOPS
    return (
        report.status is order.status
        and report.filled_quantity == order.filled_quantity
        and report.quantity == order.quantity
        and report.order_type is order.order_type
        and (not limited or report.price == order.price)
        and (not stop or report.trigger_price == order.trigger_price)
    )


def _rupees(paise: int | None) -> float:
    """A price in rupees for the JSON body (paise / 100: its float repr is exact)."""
    return float(to_rupees(paise or 0))
