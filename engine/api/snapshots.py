"""The plain frozen values the facade hands out: reading them never reaches into engine state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.domain.ids import OrderId
from engine.domain.instruments import Instrument
from engine.domain.orders import (
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
)
from engine.domain.origin import OrderSource, StrategyId, origin_label


@dataclass(frozen=True, slots=True)
class MarginSnapshot:
    required: Decimal
    """What the current exposure (open orders counted as filled) needs, rupees (estimate)."""
    available: Decimal
    """The most margin the desk may use: capital plus the day's MTM after charges (paper), or
    the broker's available margin plus what the desk holds (live)."""
    by_underlying: dict[str, Decimal]
    source: str = "capital"
    """Where ``available`` comes from: ``capital``, or the live broker (``kite``)."""
    as_of: datetime | None = None
    """When the broker gave its figure (live only)."""


@dataclass(frozen=True, slots=True)
class OrderMargin:
    """What one order would need before it is placed (the estimate the margin check uses)."""

    needed: Decimal
    """Rupees the order adds to the desk's margin (negative: it frees margin)."""
    free: Decimal
    """Rupees still free for new orders (the margin budget less what the desk holds)."""
    source: str
    """Where the budget comes from: ``capital`` (paper) or the live broker."""


@dataclass(frozen=True, slots=True)
class RiskLimitField:
    """One limit of the declared schema, with what a settings page needs to edit it."""

    name: str
    description: str
    unit: str
    default: Any
    kind: str
    """'bool', 'amount' (Decimal), 'integer', 'number' (float), 'choice' or 'text'."""
    optional: bool
    """``None`` switches the limit off."""
    choices: tuple[str, ...] = ()
    per_underlying: bool = False
    """An underlying may override it (order-level limits); otherwise it is the account's."""


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
    source: OrderSource
    strategy: StrategyId | None
    """The strategy the order belongs to (strategy and signal orders)."""
    created_ns: int
    updated_ns: int

    @property
    def origin(self) -> str:
        """Where the order came from, as the orderbook shows it: ``strategy demo``, ``manual``."""
        return origin_label(self.source, self.strategy)


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
    day_charges: Decimal = Decimal(0)
    """The charges of today's fills."""


@dataclass(frozen=True, slots=True)
class StrategyLeg:
    """A leg of an options strategy in a trader's terms: what, how many, at what price."""

    instrument: Instrument
    quantity: int
    """Signed units: + long, − short (lots × the contract's lot size)."""
    price: Decimal
    """Entry price per unit, rupees (the position's average, or where a new leg would fill)."""
    product: Product | None = None
    """The position's product when the leg is an open position."""

    @property
    def side(self) -> Side:
        return Side.BUY if self.quantity > 0 else Side.SELL

    @property
    def lots(self) -> float:
        return self.quantity / self.instrument.lot_size if self.instrument.lot_size else 0.0


@dataclass(frozen=True, slots=True)
class ContractGreeks:
    """One contract's implied volatility and Greeks per unit, in the display conventions (Δ in
    units of the underlying, Γ per point, Θ ₹ per calendar day, vega ₹ per vol point); NaN where
    none exists. Multiply by a signed quantity for a position's."""

    iv: float
    delta: float
    gamma: float
    theta: float
    vega: float


@dataclass(frozen=True, slots=True)
class StrategyPnl:
    """One strategy's P&L for the day, rupees (realised + unrealised − charges = net)."""

    strategy: str
    """The strategy's id (``demo``), or for orders of no strategy their source (``manual``)."""
    realised: Decimal
    unrealised: Decimal
    charges: Decimal
    net: Decimal
    open_positions: int
    fills: int
