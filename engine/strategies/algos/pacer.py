"""The order-rate budget every running algo shares: SEBI's retail-algo rule (and Kite, XTS and
NSE's OMS) allow 10 orders a second per client, counted per calendar second, so the algos
together never send an 11th child (nor an 11th change to one) in any second. What they cannot
send now waits for the next second; the gate's own throttle still guards everything else."""

from __future__ import annotations

from engine.risk.throttle import OrderThrottle

ORDERS_PER_SECOND = 10


class AlgoPacer:
    __slots__ = ("_throttle",)

    def __init__(self, per_second: int = ORDERS_PER_SECOND) -> None:
        self._throttle = OrderThrottle(per_second)

    def room(self, now_ns: int) -> int:
        """How many more orders the algos may send in the second of ``now_ns``."""
        return self._throttle.capacity(now_ns)

    def take(self, now_ns: int) -> bool:
        """Count one order about to be sent now; False (nothing counted) when the second is full."""
        return self._throttle.try_acquire(now_ns)

    def next_second_ns(self, now_ns: int) -> int:
        return self._throttle.next_window_ns(now_ns)
