"""What a live broker and the desk still owe each other after a request or a report went
unanswered, and when to read the broker's book again to settle it.

- A cancel that could not be sent (the place had no reply yet), whose reply was lost (no reply,
  a 5xx), or that the broker refused for a passing reason while the order is still open there
  (HTTP 429, the order's modify on its way) is owed: it is sent again once the broker answers
  again (after the next reconciliation that read its book whole), and again until the broker
  cancels. Cancelling an order that has already ended is harmless; an order that is no longer
  open owes nothing.
- Fills the broker reports (an order's filled quantity) that its tradebook has not shown yet are
  owed to the desk: the order's end (COMPLETE) waits for them, and reconciliation is asked for,
  with a growing delay, until they are booked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.domain.ids import OrderId

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0


@dataclass(slots=True)
class Owed:
    """Cancels owed to the broker and fills owed by it, with the reconciliation backoff."""

    cancels: set[OrderId] = field(default_factory=set)
    fills: dict[OrderId, int] = field(default_factory=dict)
    """Order -> the filled quantity the broker reported and the desk has not booked."""
    _due_ns: int = 0
    _delay_s: float = FIRST_DELAY_S

    def __bool__(self) -> bool:
        return bool(self.cancels or self.fills)

    def owe_fills(self, order_id: OrderId, reported: int) -> bool:
        """The broker reports ``reported`` filled, more than the desk booked; whether this is
        news (the trader is told once per order)."""
        new = order_id not in self.fills
        self.fills[order_id] = max(reported, self.fills.get(order_id, 0))
        return new

    def fills_booked(self, order_id: OrderId, booked: int) -> bool:
        """The desk booked ``booked``; whether that settled fills owed."""
        owed = self.fills.get(order_id)
        if owed is None or booked < owed:
            return False
        del self.fills[order_id]
        return True

    def due(self, now_ns: int) -> bool:
        """Whether to ask for a reconciliation now: at once when something is first owed, then
        after 1, 2, 4 ... 30 s while it stays owed (an outage costs a handful of reads)."""
        if not self:
            self._due_ns, self._delay_s = 0, FIRST_DELAY_S
            return False
        if now_ns < self._due_ns:
            return False
        self._due_ns = now_ns + int(self._delay_s * 1e9)
        self._delay_s = min(self._delay_s * 2, MAX_DELAY_S)
        return True
