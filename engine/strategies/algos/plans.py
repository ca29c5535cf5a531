"""How much of its parent each kind of algo wants done (filled or working) at a moment, and the
largest child it sends: the one place the kinds differ. Everything else (pricing, chasing,
pacing, the freeze quantity, never over-filling) is the parent's, the same for every kind."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.strategies.algos.schedule import NS, Schedule, build_schedule
from engine.strategies.algos.spec import AlgoKind, AlgoSpec


@dataclass(frozen=True, slots=True)
class Progress:
    """What a plan reads of its parent now."""

    active_ns: int
    """Time since the start, pauses left out."""
    target: int
    planned: int
    """The quantity the schedule was built for (the target may since have been changed)."""
    filled: int
    working: int
    market_volume: int
    """Volume traded on the feed since the start."""
    since_last_child_ns: int
    """Time since the parent's last child (a large number before the first)."""


class Plan(Protocol):
    def wanted(self, now: Progress) -> int:
        """How much should be filled or working now (never above the target)."""
        ...

    def child_limit(self) -> int | None:
        """The largest child this kind sends (None: only the freeze quantity limits it)."""
        ...

    def expired(self, now: Progress) -> bool:
        """Whether the parent has run its time (it then stops with what it filled)."""
        ...

    def scheduled(self, now: Progress) -> int | None:
        """What the schedule says should be done by now (None: no time schedule)."""
        ...


@dataclass(frozen=True, slots=True)
class Scheduled:
    """TWAP and VWAP: a time schedule of slices; past its end, everything is wanted (and the
    unfilled rest chased) until filled or cancelled."""

    schedule: Schedule
    lot: int

    def wanted(self, now: Progress) -> int:
        return self._scaled(now)

    def _scaled(self, now: Progress) -> int:
        due = self.schedule.due(now.active_ns)
        if due >= now.planned:
            return now.target
        if now.target != now.planned:
            due = due * now.target // now.planned // self.lot * self.lot
        return min(due, now.target)

    def child_limit(self) -> int | None:
        return None

    def expired(self, now: Progress) -> bool:
        return False

    def scheduled(self, now: Progress) -> int | None:
        return self._scaled(now)


@dataclass(frozen=True, slots=True)
class Participation:
    """POV: the set share of what traded on the feed since the start, in whole lots, no two
    children closer than the minimum interval."""

    share: float
    lot: int
    duration_ns: int
    min_interval_ns: int

    def wanted(self, now: Progress) -> int:
        if now.since_last_child_ns < self.min_interval_ns:
            return now.filled + now.working
        lots = int(now.market_volume * self.share) // self.lot
        return min(lots * self.lot, now.target)

    def child_limit(self) -> int | None:
        return None

    def expired(self, now: Progress) -> bool:
        return now.active_ns >= self.duration_ns

    def scheduled(self, now: Progress) -> int | None:
        return None


@dataclass(frozen=True, slots=True)
class Iceberg:
    """One visible child at a time: the next only once the last has filled (or ended)."""

    visible: int
    duration_ns: int

    def wanted(self, now: Progress) -> int:
        if now.working:
            return now.filled + now.working
        return min(now.filled + self.visible, now.target)

    def child_limit(self) -> int | None:
        return self.visible

    def expired(self, now: Progress) -> bool:
        return now.active_ns >= self.duration_ns

    def scheduled(self, now: Progress) -> int | None:
        return None


@dataclass(frozen=True, slots=True)
class Slicer:
    """Everything at once, cut at the freeze quantity; the pacer spreads the children over
    seconds."""

    def wanted(self, now: Progress) -> int:
        return now.target

    def child_limit(self) -> int | None:
        return None

    def expired(self, now: Progress) -> bool:
        return False

    def scheduled(self, now: Progress) -> int | None:
        return None


def plan_for(
    spec: AlgoSpec,
    parent_id: str,
    lot: int,
    started_ns: int,
    profile: Sequence[float] | None = None,
) -> Plan:
    duration_ns = int(spec.duration_seconds * NS)
    if spec.kind in (AlgoKind.TWAP, AlgoKind.VWAP):
        return Scheduled(build_schedule(spec, parent_id, lot, started_ns, profile), lot)
    if spec.kind is AlgoKind.POV:
        return Participation(
            spec.participation_pct / 100.0,
            lot,
            duration_ns,
            int(spec.min_interval_seconds * NS),
        )
    if spec.kind is AlgoKind.ICEBERG:
        return Iceberg(spec.visible_quantity, duration_ns)
    return Slicer()
