"""Client-side rate limits for a broker's REST API (kite_xts_apis.md §A.4 Kite, §C.11 XTS): wait,
never drop.

Brokers count requests per calendar second of their own clock (Kite: 10 orders/s, 1 quote/s, ...;
XTS: 10 orders/s shared, 1/s for each book) and Kite orders over a rolling minute (200). The
limiter hands out permits in arrival order; when the budget is spent it sleeps to the next second
(or until the oldest order of the minute ages out). A 429 from the server means our clock and the broker's
disagree about the second: ``hold_off`` blocks the limiter until the next second boundary.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable


class RateLimiter:
    def __init__(
        self,
        name: str,
        per_second: int,
        *,
        per_minute: int | None = None,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_second < 1 or (per_minute is not None and per_minute < 1):
            raise ValueError("rate limits must be >= 1")
        self.name = name
        self.per_second = per_second
        self.per_minute = per_minute
        self._now = now
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._second = -1
        self._used = 0
        self._minute: deque[float] = deque()
        self._blocked_until = 0.0
        self.waits = 0

    async def acquire(self) -> None:
        """Wait for a permit (FIFO across callers)."""
        async with self._lock:
            while True:
                wait = self._try()
                if wait <= 0:
                    return
                self.waits += 1
                await self._sleep(wait)

    def hold_off(self) -> None:
        """The server said 429: spend the rest of this second and the next."""
        now = self._now()
        self._blocked_until = max(self._blocked_until, math.floor(now) + 1.0)

    def _try(self) -> float:
        now = self._now()
        if now < self._blocked_until:
            return self._blocked_until - now
        second = math.floor(now)
        if second != self._second:
            self._second, self._used = second, 0
        minute = self._minute
        while minute and minute[0] <= now - 60.0:
            minute.popleft()
        if self._used >= self.per_second:
            return second + 1.0 - now
        if self.per_minute is not None and len(minute) >= self.per_minute:
            return minute[0] + 60.0 - now
        self._used += 1
        if self.per_minute is not None:
            minute.append(now)
        return 0.0
