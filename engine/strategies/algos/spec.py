"""What the trader asks of an execution algo: its kind, the order it works, and the settings of
its kind, checked at the edge. A spec is frozen; it is journaled with the algo's saved state
(``to_state``) so a restarted desk resumes the same parent from the book alone."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from engine.domain.orders import OrderType, Product, Side
from engine.domain.requests import MAX_PRICE_PAISE
from engine.strategies.algos.profile import SESSION_MINUTES

MAX_DURATION_SECONDS = 24 * 60 * 60
"""An algo runs for at most a day: a bound that keeps absurd numbers out of the clock arithmetic."""
MAX_LIMIT_PRICE = Decimal(MAX_PRICE_PAISE) / 100
"""Rupees: the highest price an order may carry (``rupees_to_paise`` refuses more)."""
MIN_LIMIT_PRICE = Decimal("0.01")


class AlgoKind(StrEnum):
    TWAP = "twap"
    """Even slices over a duration (sizes and times may be randomised)."""
    VWAP = "vwap"
    """Slices weighted by the session's intraday volume profile."""
    POV = "pov"
    """A share of the volume the feed shows trading."""
    ICEBERG = "iceberg"
    """One visible child at a time, the next once it has filled."""
    SLICER = "slicer"
    """Everything now, in children at the freeze quantity, paced under the order-rate limit."""


class OnRestart(StrEnum):
    RESUME = "resume"
    STOP = "stop"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlgoSpec:
    kind: AlgoKind
    token: int
    side: Side
    quantity: int
    """The parent's target, in units (a lot multiple for derivatives)."""
    product: Product = Product.NRML
    duration_seconds: float = 600.0
    """TWAP and VWAP: how long the schedule runs; POV and iceberg: the longest they may run."""
    slices: int = 10
    """TWAP and VWAP: how many slices the schedule has."""
    randomise_size_pct: float = 0.0
    """TWAP: each slice's size moves up to this share of an even slice (the total stays)."""
    randomise_time_pct: float = 0.0
    """TWAP: each slice's time moves up to this share of the interval between slices."""
    order_type: OrderType = OrderType.LIMIT
    """Children's type: LIMIT (at the touch plus the buffer) or MARKET."""
    limit_buffer_ticks: int = 1
    """A child's limit is this many ticks beyond the touch (the far side); negative rests."""
    limit_price: Decimal | None = None
    """Never pay above (BUY) or sell below (SELL) this price, rupees; None: no cap."""
    chase_seconds: float = 5.0
    """A child still unfilled this long is moved to the touch again (0: never chased)."""
    participation_pct: float = 10.0
    """POV: the share of traded volume to take."""
    visible_quantity: int = 0
    """Iceberg: the one child shown at a time (a lot multiple)."""
    min_interval_seconds: float = 1.0
    """POV: at least this long between two children."""
    on_restart: OnRestart = OnRestart.RESUME
    """After a restart (a crash, or the desk closed while it ran): go on, or stop."""
    owner: str = "manual"
    """Who started it (the ticket, the API, a strategy's id): execution quality groups by it."""
    volume_profile: tuple[float, ...] | None = None
    """VWAP: relative volume of each session minute from 09:15 (``history_volume_profile``
    makes one from the instrument's past days); None: the simulated market's intraday shape."""

    def problems(self) -> list[str]:
        out: list[str] = []
        if self.quantity <= 0:
            out.append(f"quantity must be positive, got {self.quantity}")
        duration_ok = (
            math.isfinite(self.duration_seconds)
            and 0 < self.duration_seconds <= MAX_DURATION_SECONDS
        )
        if not duration_ok:
            out.append(
                f"duration_seconds must be above 0 and at most a day ({MAX_DURATION_SECONDS}), "
                f"got {self.duration_seconds}"
            )
        # A wait longer than the algo may run is never reached; beyond a day it overflows.
        longest = self.duration_seconds if duration_ok else MAX_DURATION_SECONDS
        if not 1 <= self.slices <= 1000:
            out.append(f"slices must be between 1 and 1000, got {self.slices}")
        for name in ("randomise_size_pct", "randomise_time_pct"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= 50):
                out.append(f"{name} must be between 0 and 50, got {value}")
        if self.order_type not in (OrderType.LIMIT, OrderType.MARKET):
            out.append(f"children are LIMIT or MARKET orders, not {self.order_type}")
        if not -100 <= self.limit_buffer_ticks <= 100:
            out.append(
                f"limit_buffer_ticks must be between -100 and 100, got {self.limit_buffer_ticks}"
            )
        if self.limit_price is not None and not (
            self.limit_price.is_finite() and MIN_LIMIT_PRICE <= self.limit_price <= MAX_LIMIT_PRICE
        ):
            out.append(
                f"limit_price must be a price from {MIN_LIMIT_PRICE} to {MAX_LIMIT_PRICE:,.0f} "
                f"rupees, got {_shown(self.limit_price)}"
            )
        for name in ("chase_seconds", "min_interval_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= longest):
                out.append(
                    f"{name} must be 0 or more and at most the duration ({longest:g} seconds), "
                    f"got {value}"
                )
        if self.kind is AlgoKind.POV and not (
            math.isfinite(self.participation_pct) and 0 < self.participation_pct <= 50
        ):
            out.append(
                f"participation_pct must be above 0 and at most 50, got {self.participation_pct}"
            )
        if self.kind is AlgoKind.ICEBERG and self.visible_quantity <= 0:
            out.append("an iceberg needs a positive visible_quantity")
        if not self.owner or len(self.owner) > 48:
            out.append("owner must be 1 to 48 characters")
        profile = self.volume_profile
        if profile is not None and (
            not 1 <= len(profile) <= SESSION_MINUTES
            or not all(math.isfinite(v) and v >= 0 for v in profile)
            or not sum(profile) > 0
        ):
            out.append(
                f"volume_profile must be 1 to {SESSION_MINUTES} non-negative minute volumes, "
                "not all zero"
            )
        return out

    def to_state(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, StrEnum):
                out[key] = value.value
        out["limit_price"] = None if self.limit_price is None else str(self.limit_price)
        out["volume_profile"] = None if self.volume_profile is None else list(self.volume_profile)
        return out


def _shown(price: Decimal) -> str:
    """A price as the trader typed it, cut short: a refusal never repeats a page of digits."""
    text = str(price)
    return text if len(text) <= 24 else f"{text[:20]}…"


_ENUMS: dict[str, type[StrEnum]] = {
    "kind": AlgoKind,
    "side": Side,
    "product": Product,
    "order_type": OrderType,
    "on_restart": OnRestart,
}
_INTS = {"token", "quantity", "slices", "limit_buffer_ticks", "visible_quantity"}
_FLOATS = {
    "duration_seconds",
    "randomise_size_pct",
    "randomise_time_pct",
    "chase_seconds",
    "participation_pct",
    "min_interval_seconds",
}
_NAMES = {f.name for f in fields(AlgoSpec)}


def parse_spec(data: dict[str, Any]) -> AlgoSpec:
    """``data`` (the trader's settings, or a journaled state) as a checked spec; ``ValueError``
    naming every problem, with unknown keys refused."""
    if not isinstance(data, dict):
        raise ValueError(f"an algo's settings are a mapping, not {type(data).__name__}")
    problems = [f"unknown setting {key!r}" for key in data if key not in _NAMES]
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in _NAMES:
            continue
        try:
            values[key] = _convert(key, raw)
        except (TypeError, ValueError, InvalidOperation) as problem:
            problems.append(f"{key}: {problem}")
    for required in ("kind", "token", "side", "quantity"):
        if required not in data:
            problems.append(f"{required} is required")
    if problems:
        raise ValueError("; ".join(problems))
    spec = AlgoSpec(**values)
    problems = spec.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return spec


def _convert(key: str, raw: Any) -> Any:
    if key in _ENUMS:
        kind = _ENUMS[key]
        try:
            return kind(str(raw).lower() if kind in (AlgoKind, OnRestart) else str(raw).upper())
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise ValueError(f"{raw!r} is not one of {allowed}") from None
    if key in _INTS:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise TypeError(f"a whole number is needed, not {raw!r}")
        return raw
    if key in _FLOATS:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise TypeError(f"a number is needed, not {raw!r}")
        if not math.isfinite(raw):
            raise ValueError(f"a finite number is needed, not {raw!r}")
        return float(raw)
    if key == "limit_price":
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | str | Decimal):
            raise TypeError(f"a price in rupees is needed, not {raw!r}")
        return Decimal(str(raw))
    if key == "volume_profile":
        if raw is None:
            return None
        if not isinstance(raw, list | tuple) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in raw
        ):
            raise TypeError("a list of minute volumes is needed")
        return tuple(float(v) for v in raw)
    if key == "owner":
        if not isinstance(raw, str):
            raise TypeError(f"text is needed, not {raw!r}")
        return raw
    raise ValueError(f"unknown setting {key!r}")


def spec_of(state: dict[str, Any]) -> AlgoSpec:
    """The spec a parent journaled with its state."""
    spec = state.get("spec")
    if not isinstance(spec, dict):
        raise ValueError("the saved algo has no spec")
    return parse_spec(spec)
