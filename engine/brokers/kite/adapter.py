"""The Kite broker adapter: the shared live-broker order flow (``engine.brokers.live_adapter``)
over ``KiteRest`` and the ticker's order updates.

Out: ``submit`` places the order with ``tag`` = our order id (Kite's only client order id, at most
20 characters), so a place whose reply is lost is found again by its tag and never re-sent.
MARKET and SL-M orders carry ``market_protection`` (Kite refuses them without it). A modify
sends only what changes.

In: every Kite order report (a ticker order update, an order-history entry, a reconciliation
row) becomes order events through ``engine.brokers.live_reports``; the updates carry no trade
ids, so an order's trades come from REST. Session expiry holds places and cancels until the next
login, as for every live broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine.brokers.base import BrokerError, Capabilities
from engine.brokers.kite.book import read_kite_book
from engine.brokers.kite.config import KiteBrokerConfig
from engine.brokers.kite.funds import funds_changed
from engine.brokers.kite.gtt import KiteGttError, gtt_arguments, parse_gtt
from engine.brokers.kite.rest import KiteRest
from engine.brokers.kite.status_map import KiteDataError, parse_order, parse_trade
from engine.brokers.live import PlacedOrder, Tracked
from engine.brokers.live_adapter import LiveBroker
from engine.core.clock import Clock
from engine.domain.gtt import GttReport, GttRequest
from engine.domain.ids import BrokerOrderId, InstrumentToken
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderRequest, OrderType
from engine.domain.origin import StrategyId
from engine.domain.reports import BrokerBook, OrderReport, TradeReport
from engine.domain.values import Paise, to_rupees

log = logging.getLogger(__name__)

_MARGIN_KEYS = frozenset(
    {"exchange", "tradingsymbol", "transaction_type", "product", "order_type", "quantity", "price",
     "trigger_price"}
)  # fmt: skip
"""What an element of Kite's margin calculator basket carries (kite_xts_apis.md §A.11)."""


class KiteBroker(LiveBroker):
    config: KiteBrokerConfig
    name = "kite"
    title = "Kite"
    adopted_prefix = "K"
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
        super().__init__(
            variety=self.config.variety, instruments=instruments, clock=clock, publish=publish
        )
        self._rest = rest
        self._gtt_parents: dict[str, StrategyId] = {}
        """The strategy each GTT placed here was placed for (``gtt-<id>`` when not here)."""
        self.funds_read: Callable[[], None] | None = None
        """Told when a reconciliation has published Kite's funds (the funds watch waits)."""

    # -- Kite's requests -------------------------------------------------------------------------

    async def send_place(self, tracked: Tracked, params: dict[str, Any]) -> PlacedOrder:
        return await self._rest.place_order(tag=tracked.order_id, variety=tracked.variety, **params)

    async def send_modify(
        self, order: Order, tracked: Tracked, broker_id: BrokerOrderId, change: Modification
    ) -> None:
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
        await self._rest.modify_order(tracked.variety, broker_id, **params)

    async def send_cancel(self, tracked: Tracked, broker_id: BrokerOrderId) -> None:
        await self._rest.cancel_order(tracked.variety, broker_id)

    async def latest_report(self, broker_id: BrokerOrderId) -> OrderReport | None:
        """The last entry of the order's history."""
        history = await self._rest.order_history(broker_id)
        reports = self.readable_rows(history[-1:], parse_order, KiteDataError, "order history")
        return reports[0] if reports else None

    async def order_trades(self, broker_id: BrokerOrderId) -> list[TradeReport]:
        rows = await self._rest.order_trades(broker_id)
        return self.readable_rows(rows, parse_trade, KiteDataError, "trade")

    # -- reconciliation's view of Kite ----------------------------------------------------------

    async def read_book(self) -> BrokerBook:
        """Marked when the read begins: a row read before a modify lands, and is older than
        the modify's own reports (``engine.brokers.live_reports.ReportFreshness``)."""
        return await read_kite_book(self._rest, as_of=self.freshness.mark())

    def book_applied(self, book: BrokerBook) -> None:
        """Kite's funds, read with the books, go to the risk layer (and the funds watch)."""
        margins = book.extra.get("margins")
        equity = margins.get("equity") if isinstance(margins, dict) else None
        funds = funds_changed(equity, self._clock.time_ns()) if equity is not None else None
        if funds is not None:
            self._publish(funds)
            if self.funds_read is not None:
                self.funds_read()

    # -- GTT (Kite keeps them: engine.brokers.kite.gtt) ----------------------------------------

    async def place_gtt(self, request: GttRequest, parent: StrategyId | None = None) -> str:
        gtt_id = str(
            await self._rest.place_gtt(**gtt_arguments(request, self._gtt_instrument(request)))
        )
        if parent is not None:
            self.claim_gtt(gtt_id, parent)
        return gtt_id

    def claim_gtt(self, gtt_id: str, parent: StrategyId) -> None:
        self._gtt_parents[str(gtt_id)] = parent

    async def outside_owner(self, report: OrderReport) -> tuple[StrategyId, str] | None:
        """An order Kite placed because one of the GTTs triggered (the GTT's ``orders[].result
        .order_result.order_id``) is the GTT's parent's: the strategy it was placed for, or
        ``gtt-<id>``."""
        try:
            reports = await self.gtts()
        except BrokerError as problem:
            log.warning(
                "could not read Kite's GTTs for order %s: %s", report.broker_order_id, problem
            )
            return None
        for gtt in reports:
            if gtt.order_id and gtt.order_id == str(report.broker_order_id):
                parent = self._gtt_parents.get(gtt.gtt_id) or StrategyId(f"gtt-{gtt.gtt_id}")
                return parent, gtt.gtt_id
        return None

    async def modify_gtt(self, gtt_id: str, request: GttRequest) -> None:
        arguments = gtt_arguments(request, self._gtt_instrument(request))
        await self._rest.modify_gtt(_trigger_id(gtt_id), **arguments)

    async def delete_gtt(self, gtt_id: str) -> None:
        await self._rest.delete_gtt(_trigger_id(gtt_id))

    async def gtts(self) -> list[GttReport]:
        rows = await self._rest.gtts()
        return self.readable_rows(rows, parse_gtt, KiteGttError, "GTT")

    def _gtt_instrument(self, request: GttRequest) -> Instrument:
        instrument = self._instruments(request.token)
        if instrument is None:
            raise ValueError(f"instrument {request.token} is not in the Kite instruments master")
        return instrument

    # -- margins -------------------------------------------------------------------------------

    async def order_margin(self, request: OrderRequest) -> Decimal:
        """What Kite's margin calculator says one order needs, counting the positions held
        (``final.total`` of a one-order basket). Raises ``KiteError`` when Kite cannot answer,
        ``ValueError`` for an instrument or answer that cannot be used."""
        params = {k: v for k, v in self.order_params(request).items() if k in _MARGIN_KEYS}
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

    def order_params(self, order: Order | OrderRequest) -> dict[str, Any]:
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


def _trigger_id(gtt_id: str) -> int:
    if not str(gtt_id).isdigit():
        raise ValueError(f"a Kite GTT id is a number, not {gtt_id!r}")
    return int(gtt_id)


def _rupees(paise: Paise) -> Decimal:
    return to_rupees(paise)
