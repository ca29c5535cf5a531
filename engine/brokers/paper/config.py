"""Settings of the paper venue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from engine.core.clock import IST


@dataclass(frozen=True, slots=True)
class PaperConfig:
    latency_ms: float = 0.0
    """Delay between a request and the venue acting on it; 0 acts at once (tests, benchmarks)."""
    market_protection_pct: float = 2.0
    """A MARKET order's unfilled rest becomes a LIMIT this far beyond LTP, as Kite's MPP does."""
    mis_square_off_at: time = time(15, 20)
    """IST time at which open intraday (MIS) positions are squared off and MIS orders cancelled,
    on a day whose close the venue is not told (a regular day's close less ``mis_before_close``)."""
    mis_before_close: timedelta = timedelta(minutes=10)
    """How long before the day's close the square-off runs when the venue is told the close: a
    special session (Muhurat) is squared off inside it, never after it."""
    mis_square_off: bool = True

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0 < self.market_protection_pct <= 100:
            raise ValueError("market_protection_pct must be in (0, 100]")

    def square_off_at(self, day: date, close: datetime | None) -> datetime:
        """When ``day``'s intraday square-off runs (IST): ``mis_before_close`` before the day's
        ``close`` when the calendar gives one, never later than ``mis_square_off_at``."""
        fixed = datetime.combine(day, self.mis_square_off_at, tzinfo=IST)
        return fixed if close is None else min(fixed, close - self.mis_before_close).astimezone(IST)
