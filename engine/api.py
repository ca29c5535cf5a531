"""The engine's facade: the one surface the UI, the headless runner and scripts use.

Commands go in (place, modify, cancel, square off); snapshots and events come out. Snapshots are
plain frozen values: reading them never reaches into engine state that can change underneath.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from engine.brokers.base import Modification
from engine.core.bus import EventBus
from engine.domain.events import (
    BreakerTripped,
    ConnectionChanged,
    EngineMessage,
    OrderDenied,
    OrderFilled,
    OrderQueued,
    OrderStatusChanged,
    OrderSubmitted,
    PositionChanged,
    RiskDenied,
    RiskLimitsChanged,
    RiskStateChanged,
    TradingState,
    VarReport,
)
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side, Validity
from engine.domain.positions import Position, PositionBook
from engine.domain.ticks import Tick
from engine.domain.values import Paise, to_paise, to_rupees
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.quotes import QuoteCache
from engine.oms.order_manager import OrderManager, Outcome
from engine.risk.limits import RiskLimits, RiskSettings
from engine.risk.manager import KillSwitchReport, LimitUsage, RiskManager, TradingStatus

E = TypeVar("E")

__all__ = [
    "BreakerTripped",
    "ConnectionChanged",
    "EngineApi",
    "EngineMessage",
    "KillSwitchReport",
    "LimitUsage",
    "MarginSnapshot",
    "Modification",
    "OrderDenied",
    "OrderFilled",
    "OrderQueued",
    "OrderRequest",
    "OrderSnapshot",
    "OrderStatus",
    "OrderStatusChanged",
    "OrderSubmitted",
    "OrderType",
    "Outcome",
    "PositionChanged",
    "PositionSnapshot",
    "Product",
    "RiskDenied",
    "RiskLimits",
    "RiskLimitsChanged",
    "RiskSettings",
    "RiskStateChanged",
    "Side",
    "Tick",
    "TradeSnapshot",
    "TradingState",
    "TradingStatus",
    "Validity",
    "VarReport",
]


@dataclass(frozen=True, slots=True)
class MarginSnapshot:
    required: Decimal
    """What the current exposure (open orders counted as filled) needs, rupees (estimate)."""
    available: Decimal
    """Capital plus the day's MTM after charges."""
    by_underlying: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    order_id: OrderId
    instrument: Instrument
    side: Side
    quantity: int
    filled_quantity: int
    pending_quantity: int
    order_type: OrderType
    product: Product
    validity: Validity
    price: Decimal | None
    trigger_price: Decimal | None
    average_price: Decimal
    status: OrderStatus
    status_message: str
    tag: str
    source: str
    created_ns: int
    updated_ns: int


@dataclass(frozen=True, slots=True)
class TradeSnapshot:
    trade_id: str
    order_id: OrderId
    instrument: Instrument
    side: Side
    product: Product
    quantity: int
    price: Decimal
    charges: Decimal
    ts_ns: int


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    instrument: Instrument
    product: Product
    net_quantity: int
    overnight_quantity: int
    average_price: Decimal
    ltp: Decimal | None
    buy_quantity: int
    sell_quantity: int
    realised: Decimal
    unrealised: Decimal
    pnl: Decimal
    """Total P&L before charges (realised + unrealised)."""
    charges: Decimal
    net_pnl: Decimal
    """P&L after charges."""
    day_pnl: Decimal
    """Today's P&L: overnight quantity from the previous close plus today's trades, before charges."""


def _price(value: Decimal | int | str | None) -> Paise | None:
    return None if value is None else to_paise(value)


class EngineApi:
    def __init__(
        self,
        *,
        bus: EventBus,
        orders: OrderManager,
        positions: PositionBook,
        quotes: QuoteCache,
        instruments: InstrumentRegistry,
        risk: RiskManager | None = None,
    ) -> None:
        self._bus = bus
        self._orders = orders
        self._positions = positions
        self._quotes = quotes
        self.instruments = instruments
        self._risk = risk

    # -- commands ----------------------------------------------------------------------------------

    def place(self, request: OrderRequest) -> Outcome:
        return self._orders.submit(request)

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
        source: str = "api",
    ) -> Outcome:
        """Place an order with prices in rupees (``Decimal('101.05')`` or ``'101.05'``)."""
        return self.place(
            OrderRequest(
                token=InstrumentToken(int(token)),
                side=Side(side),
                quantity=quantity,
                order_type=OrderType(order_type),
                product=Product(product),
                validity=Validity(validity),
                price=_price(price),
                trigger_price=_price(trigger_price),
                tag=tag,
                source=source,
            )
        )

    def modify(
        self,
        order_id: OrderId | str,
        *,
        quantity: int | None = None,
        price: Decimal | int | str | None = None,
        trigger_price: Decimal | int | str | None = None,
        order_type: OrderType | str | None = None,
    ) -> Outcome:
        change = Modification(
            quantity=quantity,
            price=_price(price),
            trigger_price=_price(trigger_price),
            order_type=None if order_type is None else OrderType(order_type),
        )
        return self._orders.modify(OrderId(order_id), change)

    def cancel(self, order_id: OrderId | str) -> Outcome:
        return self._orders.cancel(OrderId(order_id))

    def cancel_all(self) -> list[Outcome]:
        return self._orders.cancel_all()

    def square_off(
        self, token: InstrumentToken | int, product: Product | str, *, source: str = "square-off"
    ) -> list[Outcome]:
        """Close one position with MARKET orders, sliced at the freeze quantity."""
        position = self._positions.get(InstrumentToken(int(token)), Product(product))
        if position is None or position.net_quantity == 0:
            return []
        instrument = self.instruments.get(position.token)
        side = Side.SELL if position.net_quantity > 0 else Side.BUY
        remaining = abs(position.net_quantity)
        largest = instrument.max_order_quantity() or remaining
        outcomes = []
        while remaining > 0:
            quantity = min(remaining, largest)
            remaining -= quantity
            outcomes.append(
                self.place(
                    OrderRequest(
                        position.token,
                        side,
                        quantity,
                        OrderType.MARKET,
                        position.product,
                        source=source,
                    )
                )
            )
        return outcomes

    def square_off_all(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for position in self._positions.open():
            outcomes += self.square_off(position.token, position.product)
        return outcomes

    # -- risk --------------------------------------------------------------------------------------

    def kill_switch(self, *, square_off: bool = False, reason: str = "") -> KillSwitchReport:
        """HALT trading, cancel every open and queued order, and square off every position if
        ``square_off``; trading stays halted until ``rearm``."""
        return self._risk_layer().kill_switch(square_off=square_off, reason=reason)

    def rearm(self, reason: str = "re-armed by the trader") -> bool:
        """Back to ACTIVE after a kill switch or a breaker; False if already active."""
        return self._risk_layer().rearm(reason)

    def set_trading_state(self, state: TradingState | str, reason: str) -> bool:
        """Tighten the trading state (REDUCING or HALTED); loosening is ``rearm``'s alone."""
        return self._risk_layer().set_state(TradingState(state), reason, "trader")

    def trading_state(self) -> TradingStatus:
        return self._risk_layer().status()

    def risk_limits(self) -> RiskSettings:
        return self._risk_layer().settings

    def risk_limit_fields(self) -> list[tuple[str, str, str, Any]]:
        """(name, description, unit, default) of every limit, for a settings page."""
        return RiskLimits.describe()

    def set_risk_limits(self, settings: RiskSettings | Mapping[str, Any], reason: str = "") -> None:
        """Replace the risk limits (a ``RiskSettings`` or its mapping form, validated: a bad key
        or value raises ValueError and changes nothing)."""
        if not isinstance(settings, RiskSettings):
            settings = RiskSettings.from_mapping(settings)
        self._risk_layer().configure(settings, reason)

    def risk_usage(self) -> list[LimitUsage]:
        return self._risk_layer().usage()

    def breaker_history(self) -> list[BreakerTripped]:
        return list(self._risk_layer().history)

    def var(self) -> VarReport | None:
        """The last VaR report (recomputed periodically off the event loop)."""
        return self._risk_layer().last_var

    def margin(self) -> MarginSnapshot:
        risk = self._risk_layer()
        estimator = risk.margin
        limits = risk.gate.account_limits
        assert limits is not None
        cents = Decimal("0.01")
        available = (limits.capital + risk.breakers.day_mtm()).quantize(cents)
        if estimator is None:
            return MarginSnapshot(Decimal(0), available, {})
        return MarginSnapshot(
            Decimal(repr(estimator.total)).quantize(cents),
            available,
            {u: Decimal(repr(v)).quantize(cents) for u, v in estimator.by_underlying().items()},
        )

    def _risk_layer(self) -> RiskManager:
        if self._risk is None:
            raise RuntimeError("this engine was built without the risk layer")
        return self._risk

    # -- snapshots ---------------------------------------------------------------------------------

    def orders(self) -> list[OrderSnapshot]:
        return [self._order_snapshot(o) for o in self._orders.orders.values()]

    def order(self, order_id: OrderId | str) -> OrderSnapshot | None:
        order = self._orders.orders.get(OrderId(order_id))
        return None if order is None else self._order_snapshot(order)

    def order_history(self, order_id: OrderId | str) -> list[object]:
        order = self._orders.orders.get(OrderId(order_id))
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

    def positions(self) -> list[PositionSnapshot]:
        return [self._position_snapshot(p) for p in self._positions.all()]

    def quote(self, token: InstrumentToken | int) -> Tick | None:
        return self._quotes.get(InstrumentToken(int(token)))

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        return self._bus.subscribe(event_type, handler)

    def subscribe_all(self, handler: Callable[[object], None]) -> Callable[[], None]:
        return self._bus.subscribe_all(handler)

    # -- internals ---------------------------------------------------------------------------------

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
            o.created_ns,
            o.updated_ns,
        )

    def _position_snapshot(self, p: Position) -> PositionSnapshot:
        tick = self._quotes.get(p.token)
        ltp = None if tick is None else tick.ltp
        mark = ltp if ltp is not None else 0
        pnl = p.pnl(mark) if ltp is not None or p.net_quantity == 0 else p.realised
        unrealised = pnl - p.realised
        return PositionSnapshot(
            self.instruments.get(p.token),
            p.product,
            p.net_quantity,
            p.overnight_quantity,
            p.average_price,
            None if ltp is None else to_rupees(ltp),
            p.buy_quantity,
            p.sell_quantity,
            p.realised,
            unrealised,
            pnl,
            p.charges,
            pnl - p.charges,
            p.day_pnl(mark, tick.close or mark) if tick is not None else p.realised,
        )
