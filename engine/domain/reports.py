"""What a broker says about our book, in the desk's terms: orders, trades and net positions as
reports, and one read of all of them (a ``BrokerBook``) that reconciliation compares with the
journal. Every live broker's adapter turns its own rows into these."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from engine.domain.ids import BrokerOrderId, ExchangeOrderId, InstrumentToken, TradeId
from engine.domain.orders import OrderStatus, OrderType, Side
from engine.domain.values import Paise


@dataclass(frozen=True, slots=True)
class OrderReport:
    """One order as the broker reports it (an orderbook row, a history entry, a streamed update)."""

    broker_order_id: BrokerOrderId
    broker_status: str
    """The status in the broker's own words."""
    status: OrderStatus | None
    """None when the report leaves the status as it was (a modification) and for a status the
    desk does not know (the order is then asked for again)."""
    tag: str | None
    token: InstrumentToken
    exchange: str
    tradingsymbol: str
    side: Side
    order_type: OrderType
    product: str
    variety: str
    quantity: int
    filled_quantity: int
    pending_quantity: int
    cancelled_quantity: int
    price: Paise
    trigger_price: Paise
    average_price: Paise | None
    """Average fill price in paise when it is whole paise; None before any fill or when the
    average falls between paise (the fills, not this figure, carry exact prices)."""
    exchange_order_id: ExchangeOrderId | None
    message: str
    order_timestamp: datetime | None
    exchange_update_timestamp: datetime | None
    is_update: bool = False
    """A modification with the status unchanged (Kite's UPDATE)."""
    updated_at: datetime | None = None
    """When the broker last changed the order (XTS's ``LastUpdateDateTime``; the later of Kite's
    ``order_timestamp`` and ``exchange_update_timestamp``); None when the broker does not say. A
    report older than one already applied leaves the order's terms."""
    as_of: int | None = None
    """The adapter's change mark when the read that produced this report began (None for a
    report the broker pushed): a read begun before the desk last changed the order is older
    than what the desk knows, and leaves the order's terms."""

    @property
    def open_quantity(self) -> int:
        """Quantity still working; zero once terminal (a broker may leave a pending quantity on
        a cancelled order)."""
        if self.status is not None and self.status.is_terminal:
            return 0
        return self.quantity - self.filled_quantity - self.cancelled_quantity


@dataclass(frozen=True, slots=True)
class TradeReport:
    """One trade (fill) as the broker reports it."""

    trade_id: TradeId
    broker_order_id: BrokerOrderId
    token: InstrumentToken
    side: Side
    product: str
    quantity: int
    price: Paise
    fill_timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class PositionReport:
    """A net position as the broker holds it."""

    token: InstrumentToken
    product: str
    quantity: int
    name: str
    """How the broker names the instrument (``NFO:NIFTY26DEC26000CE``)."""


@dataclass(frozen=True, slots=True)
class BrokerBook:
    """One read of the broker's orderbook, tradebook, positions and funds."""

    orders: list[OrderReport]
    trades: list[TradeReport]
    positions: list[PositionReport]
    unreadable: int = 0
    """Rows the adapter could not read (logged; left out of the comparison)."""
    available_cash: Decimal | None = None
    extra: dict[str, object] = field(default_factory=dict)
    """What the broker's adapter keeps from the read for itself (Kite: its margins)."""


def trades_by_order(trades: Iterable[TradeReport]) -> dict[BrokerOrderId, list[TradeReport]]:
    """The trades of a tradebook grouped by the broker's order id, in the book's order."""
    grouped: dict[BrokerOrderId, list[TradeReport]] = {}
    for trade in trades:
        grouped.setdefault(trade.broker_order_id, []).append(trade)
    return grouped
