"""How long strategies hold the desk: every handler call (``on_tick``, ``on_order``,
``on_timer``) runs on the desk's one loop, so while it runs no tick is read, no order event is
handled and a kill switch the trader presses waits. The kernel times each call; this says what
to do about one that took too long.

A call over ``slow_s`` is told to the trader, once per strategy per burst of them (a burst ends
after ``quiet_s`` without one), naming the strategy, the handler and how long it held the desk.
A strategy the trader wrote that holds it over ``stall_s`` ``stalls_to_stop`` times within
``window_s`` is stopped with that reason. Time here is the wall clock (``perf_counter``): a
handler that blocks holds the desk in real seconds whatever the desk's clock says. A backtest
(``watching`` False) is not timed: nothing waits on it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from time import perf_counter

from engine.domain.events import Severity


class HandlerTimes:
    def __init__(self, say: Callable[[str, Severity, str], None], *, watching: bool) -> None:
        self._say = say
        self.slow_s = 0.1 if watching else math.inf
        """A handler call longer than this holds the desk: the trader is told."""
        self.stall_s = 1.0
        """A handler call longer than this counts towards stopping the strategy."""
        self.stalls_to_stop = 3
        self.window_s = 60.0
        self.quiet_s = 10.0
        """A burst of slow calls ends after this long without one."""
        self._last_slow: dict[str, float] = {}
        self._stalls: dict[str, deque[float]] = {}

    def overran(self, strategy_id: str, took: float, handler: str, stoppable: bool) -> str | None:
        """A call of ``handler`` took ``took`` seconds (over ``slow_s``): the trader is told
        (once a burst); why to stop the strategy, when it is ``stoppable`` and keeps at it."""
        now = perf_counter()
        last = self._last_slow.get(strategy_id)
        self._last_slow[strategy_id] = now
        if last is None or now - last > self.quiet_s:
            self._say(
                strategy_id,
                Severity.WARNING,
                f"strategy {strategy_id} held the desk for {seconds_text(took)} in {handler}: "
                "ticks, orders and the kill switch wait while a handler runs; move slow work "
                "out of it",
            )
        if not stoppable or took < self.stall_s:
            return None
        stalls = self._stalls.setdefault(strategy_id, deque())
        stalls.append(now)
        while now - stalls[0] > self.window_s:
            stalls.popleft()
        if len(stalls) < self.stalls_to_stop:
            return None
        stalls.clear()
        reason = (
            f"stopped: it held the desk for over {seconds_text(self.stall_s)} "
            f"{self.stalls_to_stop} times within {seconds_text(self.window_s)} (the last "
            f"{seconds_text(took)} in {handler})"
        )
        self._say(strategy_id, Severity.ERROR, f"strategy {strategy_id} {reason}")
        return reason

    def forget(self, strategy_id: str) -> None:
        """The strategy stopped: a new start begins with a clean record."""
        self._last_slow.pop(strategy_id, None)
        self._stalls.pop(strategy_id, None)


def seconds_text(seconds: float) -> str:
    """``3.0 s``, ``250 ms``, ``1 min``: how long, as the trader reads it."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"
