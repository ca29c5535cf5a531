"""GTT (good till triggered) orders in engine terms, whoever keeps them: Kite's GTT service on a
live Kite desk, the desk itself on paper (kite_xts_apis.md §A.15).

A single GTT has one trigger and one order: when the last price crosses the trigger (from the
side it stood at when the GTT was placed) the order is placed. A two-leg (OCO) GTT has a lower
and an upper trigger, one order each (the order index matches the trigger index): whichever is
crossed first places its order and the other is dropped. Prices are integer paise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from engine.domain.ids import InstrumentToken
from engine.domain.orders import OrderType, Product, Side
from engine.domain.values import Paise


class GttType(StrEnum):
    SINGLE = "single"
    TWO_LEG = "two-leg"


class GttStatus(StrEnum):
    ACTIVE = "active"
    TRIGGERED = "triggered"
    DISABLED = "disabled"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    DELETED = "deleted"

    @property
    def is_live(self) -> bool:
        return self is GttStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class GttLeg:
    side: Side
    quantity: int
    price: Paise
    """The limit the order is placed at when its trigger is crossed."""
    order_type: OrderType = OrderType.LIMIT
    product: Product = Product.CNC


@dataclass(frozen=True, slots=True)
class GttRequest:
    token: InstrumentToken
    kind: GttType
    triggers: tuple[Paise, ...]
    """One for a single GTT; (lower, upper) for a two-leg one."""
    legs: tuple[GttLeg, ...]
    last_price: Paise
    """The market when the GTT was placed: which side of the trigger the price starts from."""


@dataclass(frozen=True, slots=True)
class GttReport:
    """One GTT as its keeper reports it."""

    gtt_id: str
    request: GttRequest
    status: GttStatus
    created_at: datetime | None
    expires_at: datetime | None
    triggered_leg: int | None = None
    """Which leg's trigger was crossed (0 or 1), once triggered."""
    order_id: str = ""
    """The order the trigger placed (the broker's id on Kite, the desk's on paper)."""
    rejection: str = ""
    """Why the triggered order failed, when it did."""


def crossed(request: GttRequest, price: int) -> int | None:
    """The leg whose trigger ``price`` has crossed, or None."""
    if request.kind is GttType.TWO_LEG:
        lower, upper = request.triggers
        if price <= lower:
            return 0
        if price >= upper:
            return 1
        return None
    [trigger] = request.triggers
    rising = trigger > request.last_price
    return 0 if (price >= trigger if rising else price <= trigger) else None


@dataclass(frozen=True, slots=True)
class GttRecord:
    """A GTT the broker keeps, as the journal records what the desk asked of it (the audit trail
    of GTTs placed, modified and deleted at the broker; the desk's own GTTs on paper are
    strategies, journaled as such)."""

    kind: ClassVar[str] = "gtt"
    ts_ns: int
    gtt_id: str
    action: str
    """placed, modified or deleted."""
    terms: dict[str, Any] = field(default_factory=dict)
    order_id: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {"gtt": self.gtt_id, "action": self.action, "terms": self.terms}
