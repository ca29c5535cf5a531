"""Option strategies: payoff at expiry and at a target date, breakevens, extremes, scenarios.

Payoff: each leg is valued on one axis, the underlying's price S. A leg's forward keeps today's
ratio to the spot (its carry), shrinking to 1 at its expiry, so F = S·(F₀/S₀)^(τ/T): at its expiry
an option is worth its intrinsic value on S, as NSE index options settle on the index. "At expiry"
is the first expiry among the legs (later legs are then still priced with Black-76 at their IV);
"target" is ``days_forward`` calendar days from now with the IVs shifted by ``iv_shift`` points.
Legs are netted before pricing: options expired by the date are intrinsic on S whatever their IV,
netted by strike and type; a live call and put of one strike, expiry and IV are priced once (P =
C − DF·(F − K)); futures and shares make one slope in S. Each curve is then numpy passes over
spots × contracts (× IV shifts for the scenario grid), in blocks that keep temporaries small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from engine.options.black76 import BLOCK, FloatArray, price
from engine.options.greeks import CALENDAR_DAYS_PER_YEAR, greeks

DEFAULT_SPOT_SHIFTS = (-10.0, -5.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 5.0, 10.0)
"""Percent moves of the underlying in the scenario grid."""
DEFAULT_IV_SHIFTS = (-10.0, -5.0, -2.0, 0.0, 2.0, 5.0, 10.0)
"""Vol-point moves of every leg's IV in the scenario grid."""
_CURVE_POINTS = 401
_NONLINEAR_GRID = 1201
_REFINE_STEPS = 16
_NETTED_DATES = 8


@dataclass(frozen=True, slots=True, eq=False)
class _NettedLegs:
    """The legs netted for one date: P&L(S) = slope·S + Σ kink_quantity·max(±S − kink, 0) +
    Σ [quantity·Black-76(F = carry·S) + parity·(F − strike)] − entry; kinks are options expired
    by then (+strike a call, −strike a put), the rest live contracts; parity is the other type's
    units × its sign × the discount factor; upside is dP&L/dS as S → ∞."""

    slope: float
    upside: float
    entry: float
    kink: FloatArray
    kink_quantity: FloatArray
    strike: FloatArray
    years: FloatArray
    carry: FloatArray
    iv: FloatArray
    is_call: np.ndarray
    quantity: FloatArray
    parity: FloatArray


# -- payoff --------------------------------------------------------------------------------------------


class LegKind(StrEnum):
    CALL = "CE"
    PUT = "PE"
    FUTURE = "FUT"
    CASH = "EQ"
    """The underlying itself (shares); valued at S."""


@dataclass(frozen=True, slots=True)
class PayoffLeg:
    """One leg of a strategy, priced against the market now (rupees per unit)."""

    kind: LegKind
    quantity: int
    """Signed units: + long, − short."""
    entry_price: float
    """What was paid (long) or received (short) per unit."""
    strike: float = math.nan
    years: float = 0.0
    """Time to this leg's expiry now (options and futures)."""
    iv: float = math.nan
    """The leg's vol now, decimal (options with time left need one)."""
    forward: float = math.nan
    """The forward of the leg's expiry now (options and futures); NaN means the spot."""
    label: str = ""

    def __post_init__(self) -> None:
        kind = LegKind(self.kind)
        object.__setattr__(self, "kind", kind)
        name = self.label or f"{kind} leg"
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise ValueError(f"{name}: quantity must be a signed int of units")
        if not math.isfinite(self.entry_price) or self.entry_price < 0:
            raise ValueError(f"{name}: entry price must be a non-negative number")
        if not math.isfinite(self.years):
            raise ValueError(f"{name}: years must be finite")
        if kind in (LegKind.CALL, LegKind.PUT):
            if not (math.isfinite(self.strike) and self.strike > 0):
                raise ValueError(f"{name}: an option leg needs a positive strike")
            if self.years > 0 and not (math.isfinite(self.iv) and self.iv > 0):
                raise ValueError(f"{name}: an option with time left needs an IV (got {self.iv})")
        if not (math.isnan(self.forward) or self.forward > 0):
            raise ValueError(f"{name}: forward must be positive or NaN")


@dataclass(frozen=True, slots=True, eq=False)
class PayoffProfile:
    """P&L curves of a strategy against the underlying's price, and what a trader reads off them.

    P&L is in rupees for the legs' quantities, from their entry prices.
    """

    spot: float
    spots: FloatArray
    at_expiry: FloatArray
    """At the first expiry among the legs (later legs at their IV, shifted)."""
    at_target: FloatArray
    """``days_forward`` days from now with IVs shifted by ``iv_shift`` points (T+0 at 0 days)."""
    days_to_expiry: float
    """Calendar days from now to the first expiry."""
    days_forward: float
    iv_shift: float
    """Vol points."""
    spot_shift: float
    """Percent."""
    target_spot: float
    """spot × (1 + spot_shift %)."""
    target_pnl: float
    """P&L at the target spot, target date and IV shift."""
    target_expiry_pnl: float
    """P&L at the target spot at expiry."""
    pnl_now: float
    """Mark-to-model P&L today at the current spot and IVs."""
    breakevens: tuple[float, ...]
    """Spots where the P&L at expiry crosses zero, ascending."""
    max_profit: float
    """math.inf when unlimited."""
    max_loss: float
    """Negative (a loss); -math.inf when unlimited."""
    net_premium: float
    """Option premium received less premium paid (positive: a net credit)."""
    delta: float
    """Net Greeks now (units of the underlying, ₹/day, ₹ per vol point)."""
    gamma: float
    theta: float
    vega: float

    @property
    def unlimited_profit(self) -> bool:
        return math.isinf(self.max_profit)

    @property
    def unlimited_loss(self) -> bool:
        return math.isinf(self.max_loss)


@dataclass(frozen=True, slots=True, eq=False)
class ScenarioGrid:
    """P&L (rupees) at ``days_forward`` for each IV shift (rows) and spot move (columns)."""

    spot_shifts: FloatArray
    """Percent."""
    iv_shifts: FloatArray
    """Vol points."""
    spots: FloatArray
    days_forward: float
    pnl: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class OptionStrategy:
    """Legs on one underlying, priced against the market now: payoff and scenarios."""

    underlying: str
    spot: float
    """The underlying's price now, rupees."""
    rate: float
    legs: tuple[PayoffLeg, ...]
    _arrays: dict[str, np.ndarray] = field(init=False, repr=False)
    """The legs as aligned arrays, built once."""
    _netted: dict[float, _NettedLegs] = field(init=False, repr=False, default_factory=dict)
    """The legs netted for a date (years forward), the last few dates asked."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "legs", tuple(self.legs))
        if not self.legs:
            raise ValueError(f"a {self.underlying} strategy needs at least one leg")
        if not (math.isfinite(self.spot) and self.spot > 0):
            raise ValueError(f"{self.underlying}: the spot must be a positive price")
        if not math.isfinite(self.rate):
            raise ValueError(f"{self.underlying}: the rate must be finite")
        legs = self.legs
        kinds = [leg.kind for leg in legs]
        forward = np.array([leg.forward for leg in legs])
        is_cash = np.array([k is LegKind.CASH for k in kinds])
        carry = np.where(np.isfinite(forward) & ~is_cash, forward / self.spot, 1.0)
        object.__setattr__(
            self,
            "_arrays",
            {
                "quantity": np.array([leg.quantity for leg in legs], dtype=np.float64),
                "entry": np.array([leg.entry_price for leg in legs]),
                "strike": np.array([leg.strike for leg in legs]),
                "years": np.array([leg.years for leg in legs]),
                "iv": np.array([leg.iv for leg in legs]),
                "is_option": np.array([k in (LegKind.CALL, LegKind.PUT) for k in kinds]),
                "is_call": np.array([k is LegKind.CALL for k in kinds]),
                "is_cash": is_cash,
                "log_carry": np.log(carry),
            },
        )

    def _arr(self, name: str) -> np.ndarray:
        return self._arrays[name]

    # -- valuation -----------------------------------------------------------------------------------

    @property
    def expiry_years(self) -> float:
        """Years from now to the first expiry among the legs still alive (0 if none)."""
        years = self._arr("years")
        alive = years[(years > 0) & ~self._arr("is_cash")]
        return float(alive.min()) if alive.size else 0.0

    @property
    def net_premium(self) -> float:
        """Option premium received less paid (futures and shares carry no premium)."""
        paid = self._arr("quantity") * self._arr("entry")
        return float(-paid[self._arr("is_option")].sum())

    def pnl(
        self, spots: object, *, years_forward: float = 0.0, iv_shift: object = 0.0
    ) -> FloatArray:
        """P&L at each spot (any shape) ``years_forward`` from now with IVs + ``iv_shift`` points.

        ``iv_shift`` broadcasts against ``spots`` (a column of shifts against a row of spots makes
        a grid).
        """
        s = np.asarray(spots, dtype=np.float64)
        shift = np.asarray(iv_shift, dtype=np.float64) / 100.0
        legs = self._net(float(years_forward))
        kinks = np.maximum(np.sign(legs.kink) * s[..., None] - legs.kink, 0.0)  # max(±S ∓ K, 0)
        total = s * legs.slope - legs.entry + kinks @ legs.kink_quantity
        shape = np.broadcast_shapes(s.shape, shift.shape)
        flat_s, flat_shift, total = (np.broadcast_to(x, shape).flatten() for x in (s, shift, total))
        rows = max(1, BLOCK // max(legs.strike.size, 1))  # blocks keep temporaries in cache
        for first in range(0, total.size if legs.strike.size else 0, rows):
            block = slice(first, first + rows)
            forward = flat_s[block, None] * legs.carry
            vol = np.maximum(legs.iv + flat_shift[block, None], 0.0)
            value = price(forward, legs.strike, legs.years, self.rate, vol, legs.is_call)
            total[block] += value @ legs.quantity + (forward - legs.strike) @ legs.parity
        return total.reshape(shape)

    def _net(self, years_forward: float) -> _NettedLegs:
        """The legs netted as they stand ``years_forward`` from now (see the module's doc)."""
        if (netted := self._netted.get(years_forward)) is not None:
            return netted
        a = self._arrays
        quantity, years, strike, option = a["quantity"], a["years"], a["strike"], a["is_option"]
        remaining = years - years_forward
        with np.errstate(divide="ignore", invalid="ignore"):
            left = np.where(years > 0, np.clip(remaining / years, 0.0, 1.0), 0.0)
        carry = np.exp(a["log_carry"] * left)
        expired = option & (remaining <= 0)  # intrinsic on S whatever the IV: by ±strike
        signed = np.where(a["is_call"], strike, -strike)
        kinks, group = np.unique(signed[expired], return_inverse=True)
        kink_quantity = np.bincount(group, quantity[expired], len(kinks)).astype(np.float64)
        live = option & ~expired
        # NaN (no IV: a leg with no time left, asked about before now) as a key that groups.
        key = np.column_stack([strike, remaining, carry, np.nan_to_num(a["iv"], nan=-1.0)])
        contracts, first, group = np.unique(
            key[live], axis=0, return_index=True, return_inverse=True
        )
        calls = np.bincount(group.ravel(), (quantity * a["is_call"])[live], len(contracts))
        puts = np.bincount(group.ravel(), (quantity * ~a["is_call"])[live], len(contracts))
        priced_call = np.abs(calls) >= np.abs(puts)  # the other type follows by parity
        other = np.where(priced_call, -puts, calls)  # its quantity × its sign
        keep = (calls != 0) | (puts != 0)
        discount = np.exp(-self.rate * contracts[:, 1])  # live: years left > 0
        slope = float((quantity * carry)[~option].sum())
        netted = _NettedLegs(
            slope=slope,
            upside=slope
            + float(kink_quantity[kinks > 0].sum())
            + float((calls * discount * contracts[:, 2]).sum()),
            entry=float((quantity * a["entry"]).sum()),
            kink=kinks,
            kink_quantity=kink_quantity,
            strike=contracts[keep, 0],
            years=contracts[keep, 1],
            carry=contracts[keep, 2],
            iv=a["iv"][live][first][keep],
            is_call=priced_call[keep],
            quantity=(calls + puts)[keep],
            parity=(other * discount)[keep],
        )
        if len(self._netted) >= _NETTED_DATES:
            self._netted.clear()
        self._netted[years_forward] = netted
        return netted

    def greeks_now(self) -> dict[str, float]:
        """Net delta, gamma, theta (₹/day) and vega (₹ per vol point) at today's spot and IVs."""
        quantity = self._arr("quantity")
        forward = self.spot * np.exp(self._arr("log_carry"))
        option = self._arr("is_option")
        unit = greeks(
            forward,
            np.where(option, self._arr("strike"), forward),
            self._arr("years"),
            self.rate,
            np.where(option & np.isfinite(self._arr("iv")), self._arr("iv"), 0.0),
            self._arr("is_call"),
        )
        delta = np.where(option, unit.delta, 1.0)
        return {
            "delta": float((delta * quantity).sum()),
            "gamma": float((np.where(option, unit.gamma, 0.0) * quantity).sum()),
            "theta": float((np.where(option, unit.theta, 0.0) * quantity).sum()),
            "vega": float((np.where(option, unit.vega, 0.0) * quantity).sum()),
        }

    # -- payoff ----------------------------------------------------------------------------------------

    def payoff(
        self,
        *,
        days_forward: float = 0.0,
        spot_shift: float = 0.0,
        iv_shift: float = 0.0,
        points: int = _CURVE_POINTS,
        spots: Sequence[float] | FloatArray | None = None,
    ) -> PayoffProfile:
        """Curves at expiry and at the target date, breakevens and the extremes at expiry.

        ``days_forward`` (calendar days, clipped to the first expiry), ``spot_shift`` (percent,
        moves the target spot only) and ``iv_shift`` (vol points, every leg). ``spots`` overrides
        the plotted range, which by default spans the strikes and three standard deviations.
        """
        for name, value in (
            ("days_forward", days_forward),
            ("spot_shift", spot_shift),
            ("iv_shift", iv_shift),
        ):
            if not math.isfinite(value):
                raise ValueError(f"payoff: {name} must be finite, got {value!r}")
        if days_forward < 0:
            raise ValueError(f"payoff: days_forward must be >= 0, got {days_forward!r}")
        if spot_shift <= -100:
            raise ValueError(f"payoff: spot_shift must be above -100 %, got {spot_shift!r}")
        expiry_years = self.expiry_years
        days = min(float(days_forward), expiry_years * CALENDAR_DAYS_PER_YEAR)
        target_years = days / CALENDAR_DAYS_PER_YEAR
        extremes = self._extremes(expiry_years, iv_shift)
        axis = (
            np.asarray(spots, dtype=np.float64)
            if spots is not None
            else self._axis(points, extremes[0])
        )
        target_spot = self.spot * (1.0 + spot_shift / 100.0)
        net = self.greeks_now()
        return PayoffProfile(
            spot=self.spot,
            spots=axis,
            at_expiry=self.pnl(axis, years_forward=expiry_years, iv_shift=iv_shift),
            at_target=self.pnl(axis, years_forward=target_years, iv_shift=iv_shift),
            days_to_expiry=expiry_years * CALENDAR_DAYS_PER_YEAR,
            days_forward=days,
            iv_shift=float(iv_shift),
            spot_shift=float(spot_shift),
            target_spot=target_spot,
            target_pnl=float(self.pnl(target_spot, years_forward=target_years, iv_shift=iv_shift)),
            target_expiry_pnl=float(
                self.pnl(target_spot, years_forward=expiry_years, iv_shift=iv_shift)
            ),
            pnl_now=float(self.pnl(self.spot)),
            breakevens=extremes[0],
            max_profit=extremes[1],
            max_loss=extremes[2],
            net_premium=self.net_premium,
            delta=net["delta"],
            gamma=net["gamma"],
            theta=net["theta"],
            vega=net["vega"],
        )

    def scenarios(
        self,
        *,
        days_forward: float = 0.0,
        spot_shifts: Sequence[float] = DEFAULT_SPOT_SHIFTS,
        iv_shifts: Sequence[float] = DEFAULT_IV_SHIFTS,
    ) -> ScenarioGrid:
        """P&L for every (IV shift, spot move) pair at ``days_forward``: one broadcast pass."""
        if not (math.isfinite(days_forward) and days_forward >= 0):
            raise ValueError(f"scenarios: days_forward must be >= 0, got {days_forward!r}")
        moves = np.asarray(spot_shifts, dtype=np.float64)
        shifts = np.asarray(iv_shifts, dtype=np.float64)
        if moves.ndim != 1 or shifts.ndim != 1 or not moves.size or not shifts.size:
            raise ValueError("scenarios: spot_shifts and iv_shifts must be non-empty sequences")
        if not (np.all(np.isfinite(moves)) and np.all(np.isfinite(shifts))) or np.any(
            moves <= -100
        ):
            raise ValueError("scenarios: shifts must be finite and spot moves above -100 %")
        days = min(float(days_forward), self.expiry_years * CALENDAR_DAYS_PER_YEAR)
        years = days / CALENDAR_DAYS_PER_YEAR
        spots = self.spot * (1.0 + moves / 100.0)
        grid = self.pnl(spots[None, :], years_forward=years, iv_shift=shifts[:, None])
        return ScenarioGrid(
            spot_shifts=moves,
            iv_shifts=shifts,
            spots=spots,
            days_forward=days,
            pnl=grid,
        )

    # -- internals -------------------------------------------------------------------------------------

    def _axis(self, points: int, breakevens: tuple[float, ...]) -> FloatArray:
        """Spots to plot: the strikes, the breakevens and ±3 SD, with every strike on the grid."""
        if points < 3:
            raise ValueError(f"payoff needs at least 3 points, got {points}")
        option = self._arr("is_option")
        strikes = self._arr("strike")[option]
        vols = self._arr("iv")[option & (self._arr("years") > 0)]
        sd = float(np.nanmean(vols)) * math.sqrt(self.expiry_years) if vols.size else 0.0
        half = max(3.0 * sd, 0.02) * self.spot
        near = [self.spot, *strikes.tolist(), *breakevens]
        pad = max(half / 3.0, 0.01 * self.spot)
        low = max(min(self.spot - half, min(near) - pad), 0.01 * self.spot)
        high = max(self.spot + half, max(near) + pad)
        grid = np.linspace(low, high, points)
        return np.unique(np.concatenate([grid, strikes[(strikes > low) & (strikes < high)]]))

    def _extremes(
        self, expiry_years: float, iv_shift: float
    ) -> tuple[tuple[float, ...], float, float]:
        """Breakevens, max profit and max loss of the P&L at the first expiry, over S in [0, ∞)
        (legs expiring later at their IVs + ``iv_shift``)."""
        option = self._arr("is_option")
        strikes = self._arr("strike")[option]
        # Piecewise linear when every option has expired by then: exact on its kinks.
        linear = not np.any(option & (self._arr("years") > expiry_years))
        top = 3.0 * max(self.spot, float(strikes.max()) if strikes.size else 0.0)
        points = np.unique(
            np.concatenate(
                [[0.0], strikes, [top]]
                + ([] if linear else [np.linspace(0.0, top, _NONLINEAR_GRID)])
            )
        )
        values = self.pnl(points, years_forward=expiry_years, iv_shift=iv_shift)
        slope = self._net(expiry_years).upside
        # Unlimited means uncovered calls (or a net long/short underlying) left at expiry: the
        # count, not the slope, whose carry and discounting can leave a hedged book a hair off 0.
        naked = self._uncovered_upside()
        max_profit = math.inf if naked > 0 else float(np.max(values))
        max_loss = -math.inf if naked < 0 else float(np.min(values))
        roots = self._roots(points, values, expiry_years, iv_shift, refine=not linear)
        last, last_value = float(points[-1]), float(values[-1])
        if naked and last_value * slope < 0:
            roots.append(last - last_value / slope)
        return tuple(sorted(set(roots))), max_profit, max_loss

    def _uncovered_upside(self) -> float:
        """Net units of calls, futures and shares: the P&L slope in S far above every strike."""
        upside = self._arr("is_call") | ~self._arr("is_option")
        return float(self._arr("quantity")[upside].sum())

    def _roots(
        self,
        points: FloatArray,
        values: FloatArray,
        years: float,
        iv_shift: float,
        *,
        refine: bool,
    ) -> list[float]:
        """Zeros of the P&L at ``years``: exact between kinks, else refined in each bracket."""
        roots = [float(x) for x in points[values == 0.0]]
        crossing = np.flatnonzero(values[:-1] * values[1:] < 0)
        if not crossing.size:
            return roots
        lo, hi = points[crossing], points[crossing + 1]
        v_lo, v_hi = values[crossing], values[crossing + 1]
        if refine:
            # Illinois false position: superlinear on these smooth brackets, never leaves them.
            for _ in range(_REFINE_STEPS):
                mid = hi - v_hi * (hi - lo) / (v_hi - v_lo)
                v_mid = self.pnl(mid, years_forward=years, iv_shift=iv_shift)
                flip = np.sign(v_mid) != np.sign(v_hi)
                lo, v_lo = np.where(flip, hi, lo), np.where(flip, v_hi, 0.5 * v_lo)
                converged = np.all(np.abs(mid - hi) <= 1e-12 * mid)
                hi, v_hi = mid, v_mid
                if converged:
                    break
            found = hi
        else:
            # Linear between neighbouring kinks: interpolation is exact.
            found = lo - v_lo * (hi - lo) / (v_hi - v_lo)
        return roots + [float(x) for x in found]
