"""Portfolio analytics of option positions: position Greeks and their totals (payoff and
scenarios are in ``engine.options.strategy``).

Everything here is plain numbers in, frozen values out; the engine facade (``engine.api``) gathers
the inputs (positions, lot sizes, chain analytics, the spot) and the UI shows the results.

Greeks (options_math.md §3.2): a position's Greek is the per-unit Greek × the signed quantity in
units (lots × the contract's own lot size). Δ and Γ are per point of the underlying and add only
within one underlying; across underlyings only ₹-delta (Δ × spot), theta (₹/day) and vega
(₹ per vol point) add. One missing quote must not blank a book: an option whose strike has no
smile IV is priced at a stand-in IV (``IvSource``), a future or forward stands in for an
underlying without a usable quote (``SpotSource``), and totals leave out (and count) positions
still without Greeks.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np

from engine.options.chain import ChainAnalytics
from engine.options.greeks import greeks
from engine.options.strategy import LegKind, PayoffLeg

__all__ = [
    "GreeksGrouping",
    "GreeksTotal",
    "Holding",
    "IvSource",
    "PortfolioGreeks",
    "PositionGreeks",
    "SpotSource",
    "StrikeGreeks",
    "holdings_greeks",
    "option_greeks",
    "option_iv",
    "option_payoff_leg",
    "portfolio_greeks",
    "strike_index",
]

# -- Greeks of positions -----------------------------------------------------------------------------


class IvSource(StrEnum):
    """Which IV an option's Greeks are at."""

    SMILE = "smile"
    """The strike's smile IV (from its out-of-the-money side): the rule."""
    OWN = "own"
    """The option's own IV: the smile's side of its strike has no quote (approximate)."""
    ATM = "atm"
    """The chain's ATM IV: neither option of the strike has an IV (approximate)."""
    SETTLED = "settled"
    """Past its expiry: intrinsic value, no IV."""
    MISSING = "missing"
    """No IV at all (no quotes, no forward): no Greeks."""
    NONE = ""
    """Not an option (a future or shares: Δ 1)."""


class SpotSource(StrEnum):
    """Which figure stands in for the underlying's price."""

    INDEX = "index"
    """The underlying's own quote (its index or shares)."""
    FUTURE = "future"
    """A future's own price: the underlying has no fresh quote."""
    FORWARD = "forward"
    """The option chain's forward: the underlying has no fresh quote."""
    NONE = "none"


@dataclass(frozen=True, slots=True)
class StrikeGreeks:
    """One option's per-unit IV and Greeks and which IV they are at."""

    iv: float
    source: IvSource
    delta: float
    gamma: float
    theta: float
    vega: float


def option_iv(chain: ChainAnalytics, at: int, is_call: bool) -> tuple[float, IvSource]:
    """The IV to price the option at position ``at`` of ``chain`` with: the strike's smile IV,
    else the option's own IV (the smile's side of the strike has no quote), else the chain's ATM
    IV; NaN (``MISSING``) when there is none."""
    own = (chain.call_iv if is_call else chain.put_iv)[at]
    for iv, source in (
        (chain.smile_iv[at], IvSource.SMILE),
        (own, IvSource.OWN),
        (chain.atm_iv, IvSource.ATM),
    ):
        if math.isfinite(iv):
            return float(iv), source
    return math.nan, IvSource.MISSING


def option_greeks(chain: ChainAnalytics, strike: float, is_call: bool) -> StrikeGreeks:
    """Per-unit IV and Greeks of one option of ``chain`` (strike in rupees): the chain's, at the
    strike's smile IV, or where the smile has no IV there, Black-76 at :func:`option_iv`'s stand-in
    (one unquoted option must not blank a whole book's Greeks). LookupError for a strike the chain
    does not list."""
    at = strike_index(chain, strike)
    iv, source = option_iv(chain, at, is_call)
    if chain.years <= 0 or source is IvSource.SMILE:
        side = chain.call if is_call else chain.put
        return StrikeGreeks(
            float(chain.smile_iv[at]),
            IvSource.SETTLED if chain.years <= 0 else source,
            *(float(side[name][at]) for name in _GREEK_NAMES),
        )
    unit = greeks(chain.forward, strike, chain.years, chain.rate, iv, is_call)
    return StrikeGreeks(iv, source, *(float(unit[name]) for name in _GREEK_NAMES))


def option_payoff_leg(
    chain: ChainAnalytics, strike: float, is_call: bool, quantity: int, entry: float, label: str
) -> PayoffLeg:
    """An option leg priced on its chain now, at :func:`option_iv`'s IV (rupees per unit).
    ValueError when the option has time left but no IV, or the chain has no forward."""
    iv, _ = option_iv(chain, strike_index(chain, strike), is_call)
    if chain.years > 0 and math.isnan(iv):
        raise ValueError(f"{label}: no implied volatility in its chain (no quotes)")
    if math.isnan(chain.forward):
        raise ValueError(f"{label}: its chain has no forward (no future, no parity pair)")
    return PayoffLeg(
        LegKind.CALL if is_call else LegKind.PUT,
        quantity,
        entry,
        strike=strike,
        years=chain.years,
        iv=iv,
        forward=chain.forward,
        label=label,
    )


_GREEK_NAMES = ("delta", "gamma", "theta", "vega")


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
    strike: int = 0
    """Paise; 0 for a future or shares."""
    kind: str = ""
    """The instrument type (``CE``, ``PE``, ``FUT``, ``EQ``)."""

    @property
    def chain(self) -> tuple[str, date] | None:
        """(underlying, expiry) of an option's chain; None for a future or shares."""
        is_option = self.kind in ("CE", "PE") and self.strike > 0
        return (self.underlying, self.expiry) if is_option and self.expiry else None

    def order(self) -> tuple[str, str, date, int, str, str]:
        """Sort key: by strategy, underlying, expiry (nearest first), strike, type, product."""
        return (
            self.strategy,
            self.underlying,
            self.expiry or date.max,
            self.strike,
            self.kind,
            self.product,
        )


@dataclass(frozen=True, slots=True)
class PositionGreeks:
    """One position's IV and Greeks: per unit and for the whole signed quantity."""

    holding: Holding
    spot: float
    """The underlying's price, rupees (NaN when unknown)."""
    iv: float
    """Decimal vol the Greeks are at (``iv_source`` says which); NaN for futures and cash."""
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
    iv_source: IvSource = IvSource.NONE
    spot_source: SpotSource = SpotSource.INDEX

    @property
    def lots(self) -> float:
        return self.holding.quantity / self.holding.lot_size if self.holding.lot_size else math.nan

    @property
    def approximate(self) -> bool:
        """At a stand-in IV (the option's own, or the ATM IV), not the strike's smile IV."""
        return self.iv_source in (IvSource.OWN, IvSource.ATM)

    @property
    def complete(self) -> bool:
        """Every Greek and the ₹-delta are numbers (else the totals leave it out)."""
        return all(
            math.isfinite(value)
            for value in (self.delta, self.gamma, self.theta, self.vega, self.delta_rupees)
        )


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
    spot_source: SpotSource = SpotSource.NONE
    """What ``spot`` is: the underlying's quote, or a future or forward standing in for it."""
    incomplete: int = 0
    """Positions left out of the sums: their Greeks or ₹-delta are not numbers."""


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
    stale_spots: tuple[tuple[str, float], ...] = ()
    """(underlying, seconds) of each underlying whose own quote lagged its derivatives' newest by
    more than the facade allows, so that a future or forward stands in for it."""

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
    """Sums over the positions whose Greeks are numbers (one without an IV must not blank the
    rest); how many were left out is ``incomplete``. The spot is the underlying's own quote
    when a position has it, else the first figure that stands in for it."""
    underlyings = {line.holding.underlying for line in lines}
    single = underlyings.pop() if len(underlyings) == 1 else None
    counted = [line for line in lines if line.complete]

    def add(field: str) -> float:
        return float(sum(getattr(line, field) for line in counted)) if counted else math.nan

    spots = [line for line in lines if math.isfinite(line.spot)]
    spot = next((line for line in spots if line.spot_source is SpotSource.INDEX), None)
    spot = spot or (spots[0] if spots else None)
    return GreeksTotal(
        name=name,
        underlying=single,
        positions=len(lines),
        delta=add("delta") if single is not None else math.nan,
        gamma=add("gamma") if single is not None else math.nan,
        theta=add("theta"),
        vega=add("vega"),
        delta_rupees=add("delta_rupees"),
        spot=spot.spot if single is not None and spot else math.nan,
        spot_source=spot.spot_source if single is not None and spot else SpotSource.NONE,
        incomplete=len(lines) - len(counted),
    )


def holdings_greeks(
    holdings: Sequence[Holding],
    analytics: Mapping[tuple[str, date], ChainAnalytics],
    *,
    spots: Mapping[str, float],
    own_prices: Mapping[int, float],
    stale_spots: Sequence[tuple[str, float]] = (),
) -> PortfolioGreeks:
    """The Greeks of ``holdings`` from their chains' ``analytics`` (by ``Holding.chain``).

    ``spots`` is each underlying's own price, NaN when it has none fit to use; then an option's
    chain forward stands in for it, and for a future or shares their own price (``own_prices``,
    by token, NaN when none), else the forward of the future's expiry's chain.
    """
    count = len(holdings)
    spot, iv = [math.nan] * count, [math.nan] * count
    unit = {name: [0.0] * count for name in _GREEK_NAMES}
    iv_source, spot_source = [IvSource.NONE] * count, [SpotSource.INDEX] * count
    for n, holding in enumerate(holdings):
        spot[n] = spots.get(holding.underlying, math.nan)
        key = holding.chain
        if key is None:
            unit["delta"][n] = 1.0  # a future or shares: one unit of the underlying each
            chain = analytics.get((holding.underlying, holding.expiry or date.min))
            own = SpotSource.FUTURE if holding.kind == "FUT" else SpotSource.INDEX
            for stand_in, source in (
                (own_prices.get(holding.token, math.nan), own),
                (math.nan if chain is None else chain.forward, SpotSource.FORWARD),
            ):
                if math.isnan(spot[n]):
                    spot[n], spot_source[n] = stand_in, source
            continue
        held = option_greeks(analytics[key], holding.strike / 100, holding.kind == "CE")
        iv[n], iv_source[n] = held.iv, held.source
        for name in unit:
            unit[name][n] = getattr(held, name)
        if math.isnan(spot[n]):
            spot[n], spot_source[n] = analytics[key].forward, SpotSource.FORWARD
    return portfolio_greeks(
        holdings,
        spot=spot,
        iv=iv,
        iv_source=iv_source,
        spot_source=spot_source,
        stale_spots=stale_spots,
        **unit,
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
    iv_source: Sequence[IvSource] | None = None,
    spot_source: Sequence[SpotSource] | None = None,
    stale_spots: Sequence[tuple[str, float]] = (),
) -> PortfolioGreeks:
    """Position Greeks = per-unit Greeks (aligned with ``holdings``) × signed quantity, and totals.

    Per-unit inputs are in display units (theta per day, vega per vol point); a future or a share
    has delta 1 and the rest 0. ``iv_source`` and ``spot_source`` (aligned too) say which IV and
    which figure for the underlying each position's Greeks are at.
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
    ivs = [IvSource.NONE] * count if iv_source is None else [IvSource(x) for x in iv_source]
    spots = (
        [SpotSource.INDEX] * count if spot_source is None else list(map(SpotSource, spot_source))
    )
    if len(ivs) != count or len(spots) != count:
        raise ValueError(f"portfolio_greeks: the sources must have {count} entries each")
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
            iv_source=ivs[i],
            spot_source=spots[i] if math.isfinite(arrays["spot"][i]) else SpotSource.NONE,
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
        stale_spots=tuple(stale_spots),
    )


def strike_index(chain: ChainAnalytics, strike: float) -> int:
    """Where ``strike`` (rupees) sits in the chain's arrays; LookupError if it is not listed."""
    at = int(np.searchsorted(chain.strikes, strike))
    if at >= chain.strikes.shape[0] or chain.strikes[at] != strike:
        raise LookupError(f"strike {strike:g} is not in the chain")
    return at
