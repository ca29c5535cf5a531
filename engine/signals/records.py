"""What the journal keeps of a signal: each step it went through (received, refused, a duplicate,
waiting for approval, approved or rejected and by whom, expired, placed), with the order it
caused. The journal's order-id column links a signal's "placed" step to its order, and the
order's fills follow by that id: signal → decision → order → fill, all from the book."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar


class SignalStep(StrEnum):
    RECEIVED = "received"
    REFUSED = "refused"
    """Not a signal the desk acts on: the reason says why (passphrase, stale, symbol, ...)."""
    DUPLICATE = "duplicate"
    PENDING = "pending"
    """Waiting for the trader's approval (approve mode)."""
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    PLACED = "placed"
    """Handed to the risk gate; ``order_id`` names the order (which the gate may still deny)."""
    DENIED = "denied"
    """The risk gate refused its order: the reason is the gate's."""


@dataclass(frozen=True, slots=True)
class SignalRecord:
    kind: ClassVar[str] = "signal"
    ts_ns: int
    signal_id: str
    step: SignalStep
    strategy: str
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    """The signal's terms in plain values (source, symbol, action, lots, price, fired at) and,
    for a decision, who decided."""
    order_id: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "signal_id": self.signal_id,
            "step": self.step.value,
            "strategy": self.strategy,
            "reason": self.reason,
            "detail": self.detail,
            "order": self.order_id,
        }

    @classmethod
    def from_payload(cls, ts_ns: int, payload: dict[str, Any]) -> SignalRecord:
        detail = payload.get("detail", {})
        if not isinstance(detail, dict):
            raise ValueError("a signal record's detail must be a mapping")
        order = payload.get("order")
        return cls(
            ts_ns,
            str(payload["signal_id"]),
            SignalStep(payload["step"]),
            str(payload.get("strategy", "")),
            str(payload.get("reason", "")),
            detail,
            None if order is None else str(order),
        )
