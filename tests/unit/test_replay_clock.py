"""The simulated clock backtests replay on: timers fire at their own moments in time order, a
repeating timer fires once after a jump in time, cancelled timers stay quiet, and time never
runs backwards."""

from __future__ import annotations

from datetime import datetime

from engine.core.clock import IST, SimulatedClock

START = datetime(2026, 11, 23, 9, 15, tzinfo=IST)
S = 1_000_000_000


def test_replay_clock_fires_timers_in_order_each_at_its_own_moment() -> None:
    clock = SimulatedClock(START)
    t0 = clock.time_ns()
    fired: list[tuple[str, int]] = []
    clock.call_later(2.0, lambda: fired.append(("two", clock.time_ns() - t0)))
    clock.call_later(0.5, lambda: fired.append(("half", clock.time_ns() - t0)))
    quiet = clock.call_later(1.0, lambda: fired.append(("cancelled", 0)))
    quiet.cancel()
    clock.advance_to(t0 + 3 * S)
    assert fired == [("half", S // 2), ("two", 2 * S)]
    assert clock.time_ns() == t0 + 3 * S
    clock.advance_to(t0 + S)  # an earlier stamp: the clock stays where it is
    assert clock.time_ns() == t0 + 3 * S


def test_replay_clock_repeating_timer_fires_once_after_a_jump_then_keeps_its_beat() -> None:
    clock = SimulatedClock(START)
    t0 = clock.time_ns()
    beats: list[int] = []
    handle = clock.every(1.0, lambda: beats.append((clock.time_ns() - t0) // S))
    for second in range(1, 4):
        clock.advance_to(t0 + second * S)
    assert beats == [1, 2, 3]
    clock.advance_to(t0 + 3_600 * S)  # an hour without data: one beat, not 3,597
    assert beats == [1, 2, 3, 4]
    clock.advance_to(t0 + 3_601 * S)
    assert beats == [1, 2, 3, 4, 3_601]
    handle.cancel()
    clock.advance(10)
    assert beats[-1] == 3_601 and clock.pending_timers == 0
