"""A desk on a simulated clock (a backtest, the simulated market run fast): what the live desk
does on the wall clock's time, done on the clock's own timers, so a run gives the same events
however fast it goes and whatever else the machine is doing.

- the once-a-second housekeeping (intraday square-off, day-end marks, health, signals);
- the margin arrays' refresh (``risk_tasks.margin_beat``);
- the order throttle: an order held back by the rate limit is released at the moment of market
  time it is due, not when a wall-clock sleep happens to end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.core.clock import SimulatedClock, SimulatedTimer
from engine.runtime.risk_tasks import margin_beat

if TYPE_CHECKING:
    from engine.runtime.engine import Engine


def follow_simulated_clock(engine: Engine, clock: SimulatedClock) -> list[SimulatedTimer]:
    """Set the desk's timed work on ``clock``; the timers, for ``cancel`` at stop."""
    timers = [clock.every(1.0, _housekeeping(engine))]
    orders = engine.orders
    pending: list[SimulatedTimer] = []

    def release() -> None:
        pending.clear()
        orders.release_queued()
        schedule()

    def schedule() -> None:
        due = orders.next_release_ns()
        if due is None or pending:
            return
        pending.append(clock.call_later(max(due - clock.time_ns(), 0) / 1e9, release))

    orders.queue_listener = schedule
    return timers


def _housekeeping(engine: Engine) -> Callable[[], None]:
    """The once-a-second work: the desk's heartbeat, then the margin arrays' refresh (one timer
    for both: they fall due together, in this order)."""
    beat = engine._beat
    if engine.risk is None:
        return beat
    margin = margin_beat(engine)

    def housekeeping() -> None:
        beat()
        margin()

    return housekeeping
