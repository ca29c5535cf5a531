"""What the Algos panel and the desk read of a parent: its status and its progress."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class AlgoStatus(StrEnum):
    WORKING = "working"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"
    """Ended before it filled: its time ran out, the gate kept refusing, or a restart (as set)."""


LIVE = (AlgoStatus.WORKING, AlgoStatus.PAUSED)


@dataclass(frozen=True, slots=True)
class AlgoView:
    """A parent's progress as the Algos panel shows it."""

    parent_id: str
    kind: str
    symbol: str
    side: str
    target: int
    filled: int
    working: int
    scheduled: int | None
    """What the schedule wants done by now (None: no time schedule)."""
    status: AlgoStatus
    reason: str
    started_ns: int
    elapsed_pct: float
    """Share of the duration gone (pauses left out), 0 to 100."""
    children: int
    average_fill: Decimal | None
    slippage_arrival_bp: Decimal | None
    on_restart: str
    owner: str
