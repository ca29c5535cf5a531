"""Payoffs with legs netted by contract equal the leg-by-leg definition, and net what they should.

The reference here prices every leg on its own with Black-76 (the module's definition: a leg's
forward is S·(F₀/S₀)^(τ/T), options are intrinsic on S once expired) and reads the extremes and
breakevens off the documented grid at the first expiry (0, the strikes, three times the top of
spot and strikes, and 1,201 points between when an option outlives it), refining each bracket
by bisection. Every figure of ``payoff`` and ``scenarios`` must match it to ~1e-13 of the book's
size on ratio spreads, calendars, futures with options, shares, expired legs and 100+ legs with
repeats and legs that cancel.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine.options.strategy as strategy_module
from engine.options.black76 import BLOCK, price
from engine.options.greeks import CALENDAR_DAYS_PER_YEAR
from engine.options.strategy import LegKind, OptionStrategy, PayoffLeg, PayoffProfile

SPOT = 52_000.0
RATE = 0.065
LOT = 30
NEAR, FAR = 3 / 365, 31 / 365
NEAR_FORWARD, FAR_FORWARD = 52_040.0, 52_310.0
OPTION = (LegKind.CALL, LegKind.PUT)


def option(kind: str, quantity: int, entry: float, strike: float, **kw: float) -> PayoffLeg:
    terms = {"years": NEAR, "iv": 0.14, "forward": NEAR_FORWARD} | kw
    return PayoffLeg(LegKind(kind), quantity, entry, strike=strike, **terms)


def far(kind: str, quantity: int, entry: float, strike: float, **kw: float) -> PayoffLeg:
    return option(kind, quantity, entry, strike, **({"years": FAR, "forward": FAR_FORWARD} | kw))


def future(
    quantity: int, entry: float, *, years: float = NEAR, fwd: float = NEAR_FORWARD
) -> PayoffLeg:
    return PayoffLeg(LegKind.FUTURE, quantity, entry, years=years, forward=fwd)


# -- the reference: leg by leg -------------------------------------------------------------------


def reference_pnl(
    book: OptionStrategy, spots: object, years_forward: float = 0.0, iv_shift: object = 0.0
) -> np.ndarray:
    """Σ quantity × (value − entry), every leg a column of its own: nothing netted."""
    legs = book.legs
    s = np.asarray(spots, dtype=np.float64)[..., None]
    shift = np.asarray(iv_shift, dtype=np.float64)[..., None] / 100.0
    years = np.array([leg.years for leg in legs])
    remaining = years - years_forward
    left = np.array([min(max((y - years_forward) / y, 0.0), 1.0) if y > 0 else 0.0 for y in years])
    ratio = [
        leg.forward / book.spot
        if math.isfinite(leg.forward) and leg.kind is not LegKind.CASH
        else 1.0
        for leg in legs
    ]
    forward = s * np.array(ratio) ** left
    vol = np.maximum(np.array([leg.iv for leg in legs]) + shift, 0.0)
    strike = np.array([leg.strike for leg in legs])
    is_call = np.array([leg.kind is LegKind.CALL for leg in legs])
    options = price(forward, strike, remaining, book.rate, vol, is_call)
    is_option = np.array([leg.kind in OPTION for leg in legs])
    is_cash = np.array([leg.kind is LegKind.CASH for leg in legs])
    value = np.where(is_option, options, np.where(is_cash, s, forward))
    entry = np.array([leg.entry_price for leg in legs])
    quantity = np.array([leg.quantity for leg in legs], dtype=np.float64)
    return np.asarray((quantity * (value - entry)).sum(axis=-1))


def reference_extremes(book: OptionStrategy, iv_shift: float) -> tuple[list[float], float, float]:
    years = book.expiry_years

    def pnl(spots: np.ndarray) -> np.ndarray:
        return reference_pnl(book, spots, years, iv_shift)

    strikes = [leg.strike for leg in book.legs if leg.kind in OPTION]
    top = 3.0 * max([book.spot, *strikes])
    linear = all(leg.years <= years for leg in book.legs if leg.kind in OPTION)
    grid = [] if linear else [np.linspace(0.0, top, 1201)]
    points = np.unique(np.concatenate([[0.0], strikes, [top], *grid]))
    values = pnl(points)
    naked = sum(leg.quantity for leg in book.legs if leg.kind is not LegKind.PUT)
    max_profit = math.inf if naked > 0 else float(values.max())
    max_loss = -math.inf if naked < 0 else float(values.min())
    roots = [float(x) for x in points[values == 0.0]]
    crossing = np.flatnonzero(values[:-1] * values[1:] < 0)
    lo, hi, v_lo = points[crossing], points[crossing + 1], values[crossing]
    for _ in range(60):  # bisection, all brackets at once: to a few ulps
        mid = 0.5 * (lo + hi)
        same = np.sign(pnl(mid)) == np.sign(v_lo)
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    roots += [float(x) for x in 0.5 * (lo + hi)]
    # Beyond the grid an unhedged book goes on at its slope as S → ∞ (the documented rule).
    slope = 0.0
    for leg in book.legs:
        expired = leg.years <= years
        left = 0.0 if expired else (leg.years - years) / leg.years
        carry = (leg.forward / book.spot) ** left if math.isfinite(leg.forward) else 1.0
        if leg.kind is LegKind.CALL:
            discount = math.exp(-book.rate * (leg.years - years))
            slope += leg.quantity * (1.0 if expired else carry * discount)
        elif leg.kind is not LegKind.PUT:
            slope += leg.quantity * (1.0 if leg.kind is LegKind.CASH else carry)
    if naked and values[-1] * slope < 0:
        roots.append(top - float(values[-1]) / slope)
    return sorted(roots), max_profit, max_loss


# -- the books -----------------------------------------------------------------------------------


def many_legs(seed: int, count: int = 120) -> tuple[PayoffLeg, ...]:
    """``count`` legs drawn from a few contracts of two expiries: repeats, both sides, one IV a
    strike and expiry (so a call and a put there net), a few repeats at another IV, futures."""
    rng = np.random.default_rng(seed)
    strikes = np.arange(50_000.0, 54_001.0, 250.0)
    smile = {(k, e): 0.12 + 0.2 * abs(k / SPOT - 1) + 0.01 * e for k in strikes for e in (0, 1)}
    legs = []
    for _ in range(count):
        expiry = int(rng.integers(2))
        if rng.random() < 0.06:
            fwd = (NEAR_FORWARD, FAR_FORWARD)[expiry]
            legs.append(future(int(rng.choice([-1, 1])) * LOT, float(rng.normal(fwd, 80)),
                               years=(NEAR, FAR)[expiry], fwd=fwd))  # fmt: skip
            continue
        strike = float(rng.choice(strikes))
        iv = smile[(strike, expiry)] + (0.03 if rng.random() < 0.1 else 0.0)
        maker = (option, far)[expiry]
        kind = str(rng.choice(["CE", "PE"]))
        quantity = int(rng.choice([-3, -2, -1, 1, 2, 3])) * LOT
        legs.append(maker(kind, quantity, round(float(rng.uniform(0.05, 2_500)), 2), strike, iv=iv))
    legs += [legs[3], legs[7], legs[11]]  # exact repeats
    flipped = legs[5]
    legs.append(PayoffLeg(flipped.kind, -flipped.quantity, flipped.entry_price + 1.0,
                          strike=flipped.strike, years=flipped.years, iv=flipped.iv,
                          forward=flipped.forward))  # fmt: skip
    return tuple(legs)


BOOKS: dict[str, tuple[PayoffLeg, ...]] = {
    "call_ratio_spread_1x2": (
        option("CE", LOT, 420.0, 51_800),
        option("CE", -2 * LOT, 150.0, 52_300),
    ),
    "put_ratio_backspread": (
        option("PE", -LOT, 380.0, 52_000),
        option("PE", 3 * LOT, 95.0, 51_400),
    ),
    "call_calendar": (option("CE", -LOT, 260.0, 52_000), far("CE", LOT, 880.0, 52_000)),
    "double_calendar_uneven": (
        option("CE", -2 * LOT, 120.0, 52_500),
        far("CE", LOT, 610.0, 52_500),
        option("PE", -LOT, 140.0, 51_500),
        far("PE", 2 * LOT, 590.0, 51_500),
    ),
    "long_future_collar": (
        future(LOT, 52_060.0),
        option("PE", LOT, 180.0, 51_500),
        option("CE", -LOT, 150.0, 52_600),
    ),
    "far_future_short_near_straddle": (
        future(-LOT, 52_300.0, years=FAR, fwd=FAR_FORWARD),
        option("CE", -LOT, 300.0, 52_000),
        option("PE", -LOT, 280.0, 52_000),
    ),
    "synthetic_long_and_shares": (
        far("CE", LOT, 900.0, 52_000),
        far("PE", -LOT, 640.0, 52_000),
        PayoffLeg(LegKind.CASH, -LOT, 51_950.0),
    ),
    "expired_legs_with_live_ones": (
        PayoffLeg(LegKind.CALL, LOT, 200.0, strike=51_900.0, years=0.0),
        PayoffLeg(LegKind.PUT, -LOT, 150.0, strike=51_900.0, years=0.0),
        option("PE", 2 * LOT, 90.0, 51_600),
        far("CE", -LOT, 500.0, 52_800),
    ),
    "same_contract_bought_and_sold_cancels": (
        far("CE", 2 * LOT, 700.0, 52_200),
        far("CE", -2 * LOT, 720.0, 52_200),
        option("PE", -LOT, 160.0, 51_800),
        option("CE", LOT, 140.0, 52_200),
    ),
    "naked_call_breakeven_beyond_the_grid": (
        option("CE", -2 * LOT, 130_000.0, 52_000),
        far("CE", LOT, 900.0, 52_500),
    ),
    "108_legs_seed_1": many_legs(1, 104),
    "120_legs_seed_2": many_legs(2),
    "160_legs_seed_3": many_legs(3, 156),
}
SHIFTS = [
    {},
    {"days_forward": 2.0, "spot_shift": 1.5, "iv_shift": 3.0},
    {"days_forward": 30.0, "spot_shift": -4.0, "iv_shift": -40.0},  # past expiry; IVs floored at 0
]


def size(book: OptionStrategy) -> float:
    """Rupees a rounding error is measured against: every unit at the top of the strikes."""
    top = max([book.spot] + [leg.strike for leg in book.legs if leg.kind in OPTION])
    return sum(abs(leg.quantity) for leg in book.legs) * 3.0 * top


def assert_matches_reference(book: OptionStrategy, profile: PayoffProfile, iv_shift: float) -> None:
    tol = 1e-13 * size(book)
    target_years = profile.days_forward / CALENDAR_DAYS_PER_YEAR
    expiry = book.expiry_years
    np.testing.assert_allclose(
        profile.at_expiry, reference_pnl(book, profile.spots, expiry, iv_shift), rtol=0, atol=tol
    )
    np.testing.assert_allclose(
        profile.at_target,
        reference_pnl(book, profile.spots, target_years, iv_shift),
        rtol=0,
        atol=tol,
    )
    target = profile.target_spot
    assert profile.target_pnl == pytest.approx(
        float(reference_pnl(book, target, target_years, iv_shift)), rel=0, abs=tol
    )
    assert profile.target_expiry_pnl == pytest.approx(
        float(reference_pnl(book, target, expiry, iv_shift)), rel=0, abs=tol
    )
    assert profile.pnl_now == pytest.approx(float(reference_pnl(book, book.spot)), rel=0, abs=tol)
    roots, max_profit, max_loss = reference_extremes(book, iv_shift)
    assert profile.unlimited_profit is math.isinf(max_profit)
    assert profile.unlimited_loss is math.isinf(max_loss)
    assert profile.max_profit == pytest.approx(max_profit, rel=0, abs=tol)
    assert profile.max_loss == pytest.approx(max_loss, rel=0, abs=tol)
    assert len(profile.breakevens) == len(roots)
    assert list(profile.breakevens) == pytest.approx(roots, rel=1e-9)


@pytest.mark.parametrize("shifts", SHIFTS, ids=["today", "two_days_on", "past_expiry"])
@pytest.mark.parametrize("name", list(BOOKS))
def test_payoff_when_legs_are_netted_matches_leg_by_leg_pricing(name: str, shifts: dict) -> None:
    book = OptionStrategy("BANKNIFTY", SPOT, RATE, BOOKS[name])
    profile = book.payoff(**shifts)
    assert_matches_reference(book, profile, shifts.get("iv_shift", 0.0))


@pytest.mark.parametrize("name", ["double_calendar_uneven", "120_legs_seed_2"])
def test_scenarios_and_pnl_when_netted_match_leg_by_leg_in_every_shape(name: str) -> None:
    book = OptionStrategy("BANKNIFTY", SPOT, RATE, BOOKS[name])
    tol = 1e-13 * size(book)
    grid = book.scenarios(days_forward=1.5)
    expected = reference_pnl(book, grid.spots[None, :], 1.5 / 365.0, grid.iv_shifts[:, None])
    assert grid.pnl.shape == expected.shape == (7, 11)
    np.testing.assert_allclose(grid.pnl, expected, rtol=0, atol=tol)
    at_one_spot = book.pnl(SPOT, years_forward=FAR / 2, iv_shift=2.0)
    assert at_one_spot.shape == ()
    assert float(at_one_spot) == pytest.approx(
        float(reference_pnl(book, SPOT, FAR / 2, 2.0)), rel=0, abs=tol
    )
    column = book.pnl(np.full(3, SPOT), years_forward=book.expiry_years, iv_shift=[[-5.0], [5.0]])
    assert column.shape == (2, 3)


# -- what gets priced ---------------------------------------------------------------------------


def test_pnl_when_legs_repeat_a_contract_prices_each_live_contract_once_in_small_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    legs = BOOKS["120_legs_seed_2"]
    book = OptionStrategy("BANKNIFTY", SPOT, RATE, legs)
    priced: list[tuple[int, ...]] = []

    def counting_price(forward, strike, years, rate, vol, is_call):  # type: ignore[no-untyped-def]
        priced.append(np.broadcast_shapes(np.shape(forward), np.shape(strike), np.shape(vol)))
        return price(forward, strike, years, rate, vol, is_call)

    monkeypatch.setattr(strategy_module, "price", counting_price)
    spots = np.linspace(40_000.0, 64_000.0, 1_231)
    for years_forward in (0.0, NEAR):
        priced.clear()
        book.pnl(spots, years_forward=years_forward)
        # A live contract: one strike, expiry and IV, its calls and puts together (parity),
        # priced unless its calls and its puts each net to nothing.
        units: dict[tuple[float, float, float], list[int]] = {}
        for leg in legs:
            if leg.kind in OPTION and leg.years > years_forward:
                net = units.setdefault((leg.strike, leg.years, leg.iv), [0, 0])
                net[leg.kind is LegKind.PUT] += leg.quantity
        contracts = sum(1 for calls, puts in units.values() if calls or puts)
        assert contracts < sum(
            1 for leg in legs if leg.kind in OPTION and leg.years > years_forward
        )
        assert {shape[-1] for shape in priced} == {contracts}
        assert sum(shape[0] for shape in priced) == spots.size
        assert all(math.prod(shape) <= BLOCK for shape in priced)
