"""What a command to the order manager answers."""

from __future__ import annotations

from dataclasses import dataclass

from engine.domain.ids import OrderId

REPLACED_BY_SQUARE_OFF = "cancelled first: it would have turned the position over once squared off"
"""The note on the cancel of a working order a square-off replaces (``OrderManager.square_off``)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to a command: accepted, or refused with a reason the trader can read."""

    ok: bool
    order_id: OrderId | None = None
    reason: str = ""
    note: str = ""
    """What the gate did to an accepted order (market protection, slicing, queued)."""
    children: tuple[OrderId, ...] = ()
    """Every order made from the request when it was sliced at the freeze quantity."""
    check: str = ""
    """The gate's check that refused it, when refused."""

    def __bool__(self) -> bool:
        return self.ok
