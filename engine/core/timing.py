"""How long something takes, kept cheaply where it happens: a count, a total and the last few
durations for percentiles (the metrics endpoint and the Health view read them)."""

from __future__ import annotations

from collections import deque

RECENT = 1024
"""Durations kept for percentiles."""


class Timing:
    """Durations in nanoseconds: ``add`` costs an append and two additions."""

    __slots__ = ("_recent", "count", "total_ns")

    def __init__(self) -> None:
        self.count = 0
        self.total_ns = 0
        self._recent: deque[int] = deque(maxlen=RECENT)

    def add(self, ns: int) -> None:
        self.count += 1
        self.total_ns += ns
        self._recent.append(ns)

    def quantile(self, q: float) -> int | None:
        """The ``q`` quantile (0-1) of the last ``RECENT`` durations, None before the first."""
        if not self._recent:
            return None
        ordered = sorted(self._recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
