"""Settings of the simulated NSE market, declared with defaults and checked when built."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedMarketConfig:
    seed: int = 7
    """Seed of the market's random stream: the same seed and steps give the same ticks."""
    ticks_per_second: float = 200.0
    """Target tick rate over the whole universe (underlyings and futures tick every step)."""
    strikes_each_side: int = 30
    """Strikes listed above and below the at-the-money strike, per expiry."""
    weekly_expiries: int = 2
    """NIFTY weekly expiries listed (a weekly falling on a monthly expiry is the monthly)."""
    monthly_expiries: int = 2
    """Monthly option expiries per index: current and next month."""
    extra_expiries: int = 0
    """Further monthly option expiries per index, to grow the universe for benchmarks."""
    futures_months: int = 1
    """Monthly futures listed per index, near month first."""
    always_open: bool = False
    """Tick in ``run()`` even when the calendar says the F&O market is closed (demos, tests)."""
    rate: float = 0.065
    """Annual risk-free rate (continuous) for futures carry and option discounting."""
    batch_interval: float = 0.25
    """Seconds between the batches ``run()`` publishes."""
    closed_poll_seconds: float = 5.0
    """How often ``run()`` asks the calendar again while the market is closed."""
    strike_steps: Mapping[str, int] = field(default_factory=dict)
    """Strike interval per index in rupees (``{"NIFTY": 100}``), overriding the universe file."""
    universe_path: Path | None = None
    """Another universe file in the layout of resources/instruments/simulated_market.json."""

    def __post_init__(self) -> None:
        problems = []
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            problems.append(f"seed must be a non-negative int, got {self.seed!r}")
        for name in ("ticks_per_second", "batch_interval", "closed_poll_seconds"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                problems.append(f"{name} must be a positive number, got {value!r}")
        for name in (
            "strikes_each_side",
            "weekly_expiries",
            "monthly_expiries",
            "extra_expiries",
            "futures_months",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"{name} must be a non-negative int, got {value!r}")
        if not (isinstance(self.rate, int | float) and math.isfinite(self.rate)):
            problems.append(f"rate must be a finite number, got {self.rate!r}")
        for underlying, step in self.strike_steps.items():
            if isinstance(step, bool) or not isinstance(step, int) or step <= 0:
                problems.append(
                    f"strike_steps[{underlying!r}] must be a positive int, got {step!r}"
                )
        if problems:
            raise ValueError("SimulatedMarketConfig: " + "; ".join(problems))
