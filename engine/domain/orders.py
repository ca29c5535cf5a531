"""Order vocabulary: sides, types, products, statuses, the status table and the order request.

The order status table below is the single statement of which status may follow which. It covers
every Kite status (kite_xts_apis.md §A.8) plus DalalDesk's own PENDING_SUBMIT (accepted by the
local gate, not yet acknowledged by the broker) and DENIED (refused locally, never sent).
``Order.apply(event)`` is the only mutator: a transition the table does not allow is refused and
logged, a duplicate trade id is ignored, and a terminal order never moves again (a late OPEN after
COMPLETE changes nothing). Fills are facts: they are accepted in any non-DENIED status as long as
they are new and fit the quantity, because a fill can overtake the status update that announces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.domain.ids import InstrumentToken
from engine.domain.origin import OrderSource, StrategyId, origin_label
from engine.domain.values import Paise


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"
    """Stop-loss limit: becomes a LIMIT at ``price`` when ``trigger_price`` trades."""
    SL_M = "SL-M"
    """Stop-loss market: becomes a MARKET order when ``trigger_price`` trades."""


class Product(StrEnum):
    MIS = "MIS"
    NRML = "NRML"
    CNC = "CNC"


class Validity(StrEnum):
    DAY = "DAY"
    IOC = "IOC"


class OrderStatus(StrEnum):
    PENDING_SUBMIT = "PENDING SUBMIT"
    DENIED = "DENIED"
    PUT_ORDER_REQ_RECEIVED = "PUT ORDER REQ RECEIVED"
    AMO_REQ_RECEIVED = "AMO REQ RECEIVED"
    VALIDATION_PENDING = "VALIDATION PENDING"
    OPEN_PENDING = "OPEN PENDING"
    OPEN = "OPEN"
    TRIGGER_PENDING = "TRIGGER PENDING"
    MODIFY_VALIDATION_PENDING = "MODIFY VALIDATION PENDING"
    MODIFY_PENDING = "MODIFY PENDING"
    MODIFIED = "MODIFIED"
    CANCEL_PENDING = "CANCEL PENDING"
    COMPLETE = "COMPLETE"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_open(self) -> bool:
        """Live at the broker or exchange: can still fill, be modified or cancelled."""
        return self not in TERMINAL_STATUSES


S = OrderStatus
TERMINAL_STATUSES = frozenset({S.COMPLETE, S.CANCELLED, S.REJECTED, S.DENIED})

_ENDINGS = {S.COMPLETE, S.CANCELLED, S.REJECTED}
LIVE_STATUSES = frozenset({S.OPEN, S.TRIGGER_PENDING})
_LIVE = LIVE_STATUSES
_MODIFYING = {S.MODIFY_VALIDATION_PENDING, S.MODIFY_PENDING, S.MODIFIED}

# from-status -> statuses that may follow it. Skipping intermediate states is allowed (brokers do
# not always report every step: a MARKET order is often seen only as COMPLETE); going back is not.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_SUBMIT: frozenset(
        {
            S.PUT_ORDER_REQ_RECEIVED,
            S.AMO_REQ_RECEIVED,
            S.VALIDATION_PENDING,
            S.OPEN_PENDING,
            S.CANCEL_PENDING,
            S.DENIED,
            *_LIVE,
            *_ENDINGS,
        }
    ),
    S.PUT_ORDER_REQ_RECEIVED: frozenset(
        {S.VALIDATION_PENDING, S.OPEN_PENDING, S.CANCEL_PENDING, *_LIVE, *_ENDINGS}
    ),
    S.AMO_REQ_RECEIVED: frozenset(
        {S.VALIDATION_PENDING, S.OPEN_PENDING, S.CANCEL_PENDING, *_MODIFYING, *_LIVE, *_ENDINGS}
    ),
    S.VALIDATION_PENDING: frozenset({S.OPEN_PENDING, S.CANCEL_PENDING, *_LIVE, *_ENDINGS}),
    S.OPEN_PENDING: frozenset({S.CANCEL_PENDING, *_MODIFYING, *_LIVE, *_ENDINGS}),
    S.OPEN: frozenset({S.OPEN, S.CANCEL_PENDING, *_MODIFYING, *_ENDINGS}),
    S.TRIGGER_PENDING: frozenset(
        {S.TRIGGER_PENDING, S.OPEN, S.CANCEL_PENDING, *_MODIFYING, *_ENDINGS}
    ),
    S.MODIFY_VALIDATION_PENDING: frozenset(
        {S.MODIFY_PENDING, S.MODIFIED, S.CANCEL_PENDING, *_LIVE, *_ENDINGS}
    ),
    S.MODIFY_PENDING: frozenset({S.MODIFIED, S.CANCEL_PENDING, *_LIVE, *_ENDINGS}),
    S.MODIFIED: frozenset(
        {S.MODIFY_VALIDATION_PENDING, S.MODIFY_PENDING, S.CANCEL_PENDING, *_LIVE, *_ENDINGS}
    ),
    # A cancel can lose the race to a fill (COMPLETE) or be refused (back to the live status).
    S.CANCEL_PENDING: frozenset({*_LIVE, *_ENDINGS}),
    S.COMPLETE: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.DENIED: frozenset(),
}


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    return new in TRANSITIONS[current]


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a trader, strategy or script asks for. Prices in paise; quantity in units."""

    token: InstrumentToken
    side: Side
    quantity: int
    order_type: OrderType = OrderType.LIMIT
    product: Product = Product.NRML
    validity: Validity = Validity.DAY
    price: Paise | None = None
    trigger_price: Paise | None = None
    tag: str = ""
    source: OrderSource = OrderSource.API
    """Who asked for it; the gate's privileges follow it (``engine.domain.origin``)."""
    strategy: StrategyId | None = None
    """The strategy (or signal route) the order belongs to; its P&L is attributed to it."""
    square_off: bool = False
    """Placed to close a position (a square-off may close while trading is halted)."""

    @property
    def origin(self) -> str:
        """Where the order came from, as the trader reads it: ``strategy demo``, ``manual``."""
        return origin_label(self.source, self.strategy)


@dataclass(frozen=True, slots=True)
class Modification:
    quantity: int | None = None
    price: Paise | None = None
    trigger_price: Paise | None = None
    order_type: OrderType | None = None
