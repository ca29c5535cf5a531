"""Portfolio analytics of option positions: position Greeks and their totals (payoff and
scenarios are in ``engine.options.strategy``).

Everything here is plain numbers in, frozen values out; the engine facade (``engine.api``) gathers
the inputs (positions, lot sizes, chain analytics, the spot) and the UI shows the results.

Greeks (options_math.md §3.2): a position's Greek is the per-unit Greek × the signed quantity in
units (lots × the contract's own lot size). Δ and Γ are per point of the underlying and add only
within one underlying; across underlyings only ₹-delta (Δ × spot), theta (₹/day) and vega
(₹ per vol point) add.

Payoff: each leg is valued on one axis, the underlying's price S. A leg's forward keeps today's
ratio to the spot (its carry), shrinking to 1 at its expiry, so F = S·(F₀/S₀)^(τ/T): at its expiry
an option is worth its intrinsic value on S, as NSE index options settle on the index. "At expiry"
is the first expiry among the legs (later legs are then still priced with Black-76 at their IV);
"target" is ``days_forward`` calendar days from now with the IVs shifted by ``iv_shift`` points.
Every curve is one broadcast numpy pass over spots × legs (× IV shifts for the scenario grid).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np

from engine.options.chain import ChainAnalytics

__all__ = [
    "GreeksGrouping",
    "GreeksTotal",
    "Holding",
    "PortfolioGreeks",
    "PositionGreeks",
    "portfolio_greeks",
    "strike_index",
]

# -- Greeks of positions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holding:
    """A position (or one strategy's share of it), as the Greeks need it."""

    token: int
    tradingsymbol: str
    underlying: str
    expiry: date | None
    product: str
    strategy: str
    """The order source that built it (``ticket``, ``strategy:demo``), or "" when not split."""
    quantity: int
    """Signed units: + long, − short (lots × lot size)."""
    lot_size: int


@dataclass(frozen=True, slots=True)
class PositionGreeks:
    """One position's IV and Greeks: per unit and for the whole signed quantity."""

    holding: Holding
    spot: float
    """The underlying's price, rupees (NaN when unknown)."""
    iv: float
    """Decimal vol the Greeks are at (the strike's smile IV); NaN for futures and cash."""
    unit_delta: float
    unit_gamma: float
    unit_theta: float
    unit_vega: float
    delta: float
    """Units of the underlying: unit delta × quantity."""
    gamma: float
    """Change of ``delta`` per point."""
    theta: float
    """Rupees per calendar day."""
    vega: float
    """Rupees per vol point."""
    delta_rupees: float
    """delta × spot: the rupee exposure to the underlying."""

    @property
    def lots(self) -> float:
        return self.holding.quantity / self.holding.lot_size if self.holding.lot_size else math.nan


@dataclass(frozen=True, slots=True)
class GreeksTotal:
    """Sums over some positions. Δ and Γ are NaN when they span more than one underlying."""

    name: str
    underlying: str | None
    """The one underlying of every position summed, or None when several."""
    positions: int
    delta: float
    gamma: float
    theta: float
    vega: float
    delta_rupees: float
    spot: float = math.nan
    """The underlying's price when there is one underlying."""


class GreeksGrouping(StrEnum):
    STRATEGY = "strategy"
    UNDERLYING = "underlying"
    EXPIRY = "expiry"
    """By underlying and expiry: weekly and monthly Greeks of one index apart."""


@dataclass(frozen=True, slots=True)
class PortfolioGreeks:
    positions: tuple[PositionGreeks, ...]
    by_underlying: tuple[GreeksTotal, ...]
    """Per underlying, sorted by name."""
    total: GreeksTotal
    """Everything: ₹-delta, theta and vega add; Δ and Γ only with a single underlying."""

    def groups(
        self, by: GreeksGrouping | str
    ) -> list[tuple[GreeksTotal, tuple[PositionGreeks, ...]]]:
        """Positions grouped (sorted by group name), each group with its totals."""
        by = GreeksGrouping(by)
        members: dict[str, list[PositionGreeks]] = defaultdict(list)
        for line in self.positions:
            members[_group_name(line.holding, by)].append(line)
        return [(_total(name, lines), tuple(lines)) for name, lines in sorted(members.items())]


def _group_name(holding: Holding, by: GreeksGrouping) -> str:
    if by is GreeksGrouping.STRATEGY:
        return holding.strategy or "—"
    if by is GreeksGrouping.UNDERLYING:
        return holding.underlying
    expiry = f"{holding.expiry:%d %b %Y}" if holding.expiry else "no expiry"
    return f"{holding.underlying} · {expiry}"


def _total(name: str, lines: Sequence[PositionGreeks]) -> GreeksTotal:
    underlyings = {line.holding.underlying for line in lines}
    single = underlyings.pop() if len(underlyings) == 1 else None

    def add(field: str) -> float:
        return float(sum(getattr(line, field) for line in lines))

    return GreeksTotal(
        name=name,
        underlying=single,
        positions=len(lines),
        delta=add("delta") if single is not None else math.nan,
        gamma=add("gamma") if single is not None else math.nan,
        theta=add("theta"),
        vega=add("vega"),
        delta_rupees=add("delta_rupees"),
        spot=lines[0].spot if single is not None and lines else math.nan,
    )


def portfolio_greeks(
    holdings: Sequence[Holding],
    *,
    spot: Sequence[float],
    iv: Sequence[float],
    delta: Sequence[float],
    gamma: Sequence[float],
    theta: Sequence[float],
    vega: Sequence[float],
) -> PortfolioGreeks:
    """Position Greeks = per-unit Greeks (aligned with ``holdings``) × signed quantity, and totals.

    Per-unit inputs are in display units (theta per day, vega per vol point); a future or a share
    has delta 1 and the rest 0.
    """
    count = len(holdings)
    arrays = {
        name: np.asarray(values, dtype=np.float64)
        for name, values in (
            ("spot", spot),
            ("iv", iv),
            ("delta", delta),
            ("gamma", gamma),
            ("theta", theta),
            ("vega", vega),
        )
    }
    for name, array in arrays.items():
        if array.shape != (count,):
            raise ValueError(f"portfolio_greeks: {name} has shape {array.shape}, want ({count},)")
    quantity = np.array([h.quantity for h in holdings], dtype=np.float64)
    scaled = {name: arrays[name] * quantity for name in ("delta", "gamma", "theta", "vega")}
    rupee_delta = scaled["delta"] * arrays["spot"]
    lines = tuple(
        PositionGreeks(
            holding=holding,
            spot=float(arrays["spot"][i]),
            iv=float(arrays["iv"][i]),
            unit_delta=float(arrays["delta"][i]),
            unit_gamma=float(arrays["gamma"][i]),
            unit_theta=float(arrays["theta"][i]),
            unit_vega=float(arrays["vega"][i]),
            delta=float(scaled["delta"][i]),
            gamma=float(scaled["gamma"][i]),
            theta=float(scaled["theta"][i]),
            vega=float(scaled["vega"][i]),
            delta_rupees=float(rupee_delta[i]),
        )
        for i, holding in enumerate(holdings)
    )
    by_underlying: dict[str, list[PositionGreeks]] = defaultdict(list)
    for line in lines:
        by_underlying[line.holding.underlying].append(line)
    return PortfolioGreeks(
        positions=lines,
        by_underlying=tuple(_total(name, by_underlying[name]) for name in sorted(by_underlying)),
        total=_total("Portfolio", lines),
    )


def strike_index(chain: ChainAnalytics, strike: float) -> int:
    """Where ``strike`` (rupees) sits in the chain's arrays; LookupError if it is not listed."""
    at = int(np.searchsorted(chain.strikes, strike))
    if at >= chain.strikes.shape[0] or chain.strikes[at] != strike:
        raise LookupError(f"strike {strike:g} is not in the chain")
    return at
