"""What the journal keeps of a strategy: each start and stop, and the state it saved, so a
restart resumes it exactly (the last record of each strategy says where it was)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from engine.domain.origin import StrategyId


class StrategyStatus(StrEnum):
    STOPPED = "stopped"
    RUNNING = "running"
    FAILED = "failed"
    """Stopped by the desk: the strategy raised, or could not be started (the reason says)."""


@dataclass(frozen=True, slots=True)
class StrategyRecord:
    kind: ClassVar[str] = "strategy"
    order_id: ClassVar[None] = None
    ts_ns: int
    strategy: StrategyId
    status: StrategyStatus
    reason: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    """What the strategy saved (plain values: numbers, text, Decimal, dates, lists, mappings)."""

    def to_payload(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "status": self.status.value,
            "reason": self.reason,
            "state": self.state,
        }

    @classmethod
    def from_payload(cls, ts_ns: int, payload: dict[str, Any]) -> StrategyRecord:
        state = payload.get("state", {})
        if not isinstance(state, dict):
            raise ValueError("a strategy's saved state must be a mapping")
        return cls(
            ts_ns,
            StrategyId(str(payload["strategy"])),
            StrategyStatus(payload["status"]),
            str(payload.get("reason", "")),
            state,
        )
