"""The order-rate throttle: orders sent to the broker per calendar second and calendar minute.

Kite (and SEBI's retail-algo rule) count orders per calendar second of the broker's clock, not in
a sliding window: 10 at 09:15:00.999 and 10 more at 09:15:01.000 are both within the limit. The
throttle counts the same way on the engine's clock, so it never lets an 11th order out in any
second. It counts only what is actually sent; what is held back is the order manager's queue.
"""

from __future__ import annotations

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND


class OrderThrottle:
    __slots__ = ("_minute", "_minute_count", "_second", "_second_count", "per_minute", "per_second")

    def __init__(self, per_second: int | None, per_minute: int | None = None) -> None:
        for name, value in (("per_second", per_second), ("per_minute", per_minute)):
            if value is not None and (isinstance(value, bool) or value <= 0):
                raise ValueError(f"{name} must be a positive number of orders, got {value!r}")
        self.per_second = per_second
        self.per_minute = per_minute
        self._second = -1
        self._second_count = 0
        self._minute = -1
        self._minute_count = 0

    def capacity(self, now_ns: int) -> int:
        """How many more orders may go out in the calendar second (and minute) of ``now_ns``."""
        room = 1 << 30
        if self.per_second is not None:
            used = self._second_count if now_ns // NS_PER_SECOND == self._second else 0
            room = self.per_second - used
        if self.per_minute is not None:
            used = self._minute_count if now_ns // NS_PER_MINUTE == self._minute else 0
            room = min(room, self.per_minute - used)
        return room

    def try_acquire(self, now_ns: int) -> bool:
        """Count one order sent now, if the limits allow it; False (nothing counted) if not."""
        second = now_ns // NS_PER_SECOND
        if second != self._second:
            self._second = second
            self._second_count = 0
        minute = now_ns // NS_PER_MINUTE
        if minute != self._minute:
            self._minute = minute
            self._minute_count = 0
        if self.per_second is not None and self._second_count >= self.per_second:
            return False
        if self.per_minute is not None and self._minute_count >= self.per_minute:
            return False
        self._second_count += 1
        self._minute_count += 1
        return True

    def next_window_ns(self, now_ns: int) -> int:
        """When capacity can next appear: the start of the next second (or minute, if that is
        the limit reached)."""
        if (
            self.per_minute is not None
            and self._minute == now_ns // NS_PER_MINUTE
            and self._minute_count >= self.per_minute
        ):
            return (now_ns // NS_PER_MINUTE + 1) * NS_PER_MINUTE
        return (now_ns // NS_PER_SECOND + 1) * NS_PER_SECOND

    def describe(self) -> str:
        parts = []
        if self.per_second is not None:
            parts.append(f"{self.per_second} orders a second")
        if self.per_minute is not None:
            parts.append(f"{self.per_minute} a minute")
        return " and ".join(parts) or "no limit"
