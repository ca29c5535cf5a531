"""How far a trailing stop follows the market: a fixed distance in points or a percentage of the
best price seen, moved only in whole steps (each move is a modification, and a broker allows an
order only so many)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.domain.orders import Side
from engine.domain.values import rupees_text


@dataclass(frozen=True, slots=True)
class Trail:
    points: int | None = None
    """Distance behind the best price, paise."""
    percent: Decimal | None = None
    """Distance behind the best price, per cent of it."""
    step: int = 0
    """The stop moves only when it can move at least this far (paise); 0: one tick."""

    def __post_init__(self) -> None:
        if (self.points is None) == (self.percent is None):
            raise ValueError("a trail is either points or a percentage, not both or neither")
        if self.points is not None and self.points <= 0:
            raise ValueError(f"a trail of {rupees_text(self.points)} points must be positive")
        if self.percent is not None and not Decimal(0) < self.percent < Decimal(50):
            raise ValueError(f"a trail of {self.percent}% must be above 0 and below 50")
        if self.step < 0:
            raise ValueError("a trail's step cannot be negative")

    def stop_for(self, best: int, holding: Side, tick: int) -> int:
        """The stop this far behind ``best`` on the tick grid, rounded away from the market."""
        if self.points is not None:
            distance = self.points
        else:
            assert self.percent is not None
            distance = int(Decimal(best) * self.percent / 100)
        if holding is Side.BUY:
            return max(tick, (best - distance) // tick * tick)
        return -(-(best + distance) // tick) * tick

    def as_dict(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "percent": None if self.percent is None else str(self.percent),
            "step": self.step,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Trail | None:
        if not data:
            return None
        percent = data.get("percent")
        return cls(
            points=data.get("points"),
            percent=None if percent is None else Decimal(str(percent)),
            step=int(data.get("step") or 0),
        )

    def describe(self) -> str:
        if self.points is not None:
            return f"trailing {rupees_text(self.points)}"
        return f"trailing {self.percent}%"
