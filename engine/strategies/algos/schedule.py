"""The time schedules of TWAP and VWAP parents: when each slice falls due and how much of the
parent should be done (filled or working) by then. A schedule is a pure function of the spec,
the parent's id and its start, so a restarted desk rebuilds exactly the schedule it had (the
randomisation is seeded by the parent's id, never by the process)."""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from engine.strategies.algos.profile import session_minute, u_shape, volume_between
from engine.strategies.algos.spec import AlgoKind, AlgoSpec

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Schedule:
    offsets_ns: tuple[int, ...]
    """When each slice falls due, from the parent's start (active time: pauses excluded)."""
    cumulative: tuple[int, ...]
    """How much should be done once each slice has fallen due; the last is the target."""
    interval_ns: int
    """The nominal time between two slices."""

    def due(self, active_ns: int) -> int:
        """How much should be done ``active_ns`` into the parent's life."""
        n = bisect_right(self.offsets_ns, active_ns)
        return 0 if n == 0 else self.cumulative[n - 1]

    def next_ns(self, active_ns: int) -> int | None:
        """The active time of the next slice after ``active_ns``, or None."""
        n = bisect_right(self.offsets_ns, active_ns)
        return None if n >= len(self.offsets_ns) else self.offsets_ns[n]

    def slice_of(self, active_ns: int) -> int:
        """Which slice (0-based) is the last one due at ``active_ns`` (-1: none yet)."""
        return bisect_right(self.offsets_ns, active_ns) - 1


def build_schedule(
    spec: AlgoSpec,
    parent_id: str,
    lot: int,
    start_ns: int,
    profile: Sequence[float] | None = None,
) -> Schedule:
    """The schedule of a TWAP or VWAP parent of ``spec.quantity`` in lots of ``lot``."""
    n = spec.slices
    duration_ns = int(spec.duration_seconds * NS)
    interval = duration_ns // n
    rng = random.Random(f"{parent_id}:{spec.kind.value}")
    if spec.kind is AlgoKind.VWAP:
        weights = _volume_weights(profile or u_shape(), start_ns, interval, n)
        times = [i * interval for i in range(n)]
    else:
        size_jitter = spec.randomise_size_pct / 100.0
        time_jitter = spec.randomise_time_pct / 100.0
        weights = [1.0 + size_jitter * (2 * rng.random() - 1) for _ in range(n)]
        times = [
            max(0, int(i * interval + time_jitter * interval * (2 * rng.random() - 1))) if i else 0
            for i in range(n)
        ]
        times = [min(t, duration_ns - 1) for t in times]
    total = sum(weights) or 1.0
    lots = spec.quantity // lot
    cumulative: list[int] = []
    running = 0.0
    for w in weights:
        running += w
        cumulative.append(int(lots * running / total + 1e-9) * lot)
    cumulative[-1] = spec.quantity
    # Never a slice due before the one before it (time jitter may cross neighbours).
    ordered = sorted(times)
    return Schedule(tuple(ordered), tuple(cumulative), interval)


def _volume_weights(
    profile: Sequence[float], start_ns: int, interval_ns: int, n: int
) -> list[float]:
    """Each slice's share of the profile's volume over the slice's own interval."""
    start = session_minute(start_ns)
    step = interval_ns / NS / 60.0
    weights = [volume_between(profile, start + i * step, start + (i + 1) * step) for i in range(n)]
    return weights if sum(weights) > 0 else [1.0] * n
