"""Settings of the paper venue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time


@dataclass(frozen=True, slots=True)
class PaperConfig:
    latency_ms: float = 0.0
    """Delay between a request and the venue acting on it; 0 acts at once (tests, benchmarks)."""
    market_protection_pct: float = 2.0
    """A MARKET order's unfilled rest becomes a LIMIT this far beyond LTP, as Kite's MPP does."""
    mis_square_off_at: time = time(15, 20)
    """IST time at which open intraday (MIS) positions are squared off and MIS orders cancelled."""
    mis_square_off: bool = True

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0 < self.market_protection_pct <= 100:
            raise ValueError("market_protection_pct must be in (0, 100]")
