"""Implied volatility: round trips across the box, the wings, expiry day, NaN where none exists."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.options import greeks, implied_vol
from engine.options.black76 import BLOCK, normalised_otm_price
from engine.options.iv import normalised_implied_vol

EPSILON = float(np.finfo(np.float64).eps)


def _price(forward, strike, years, rate, vol, is_call):  # type: ignore[no-untyped-def]
    return greeks(forward, strike, years, rate, vol, is_call).price


def test_implied_vol_when_textbook_black76_price_recovers_its_vol() -> None:
    # Haug, Black-76: F=19, K=19, T=0.75, r=10 %, v=28 % prices at 1.7011 (4 decimals).
    assert float(implied_vol(1.7011, 19.0, 19.0, 0.75, 0.10, True)) == pytest.approx(0.28, abs=1e-4)


def test_implied_vol_when_prices_cover_the_box_recovers_every_well_conditioned_vol() -> None:
    rng = np.random.default_rng(7)
    n = 40_000
    forward = 24_000.0
    x = rng.uniform(-3.0, 3.0, n)  # ln(F/K) far beyond any listed strike
    s = np.exp(rng.uniform(math.log(1e-3), math.log(3.0), n))  # σ√T
    years = rng.uniform(1 / 525_600, 2.0, n)
    vol = s / np.sqrt(years)
    strike = forward * np.exp(-x)
    is_call = rng.random(n) < 0.5
    price = _price(forward, strike, years, 0.065, vol, is_call)

    found = implied_vol(price, forward, strike, years, 0.065, is_call)

    g = greeks(forward, strike, years, 0.065, vol, is_call)
    intrinsic = np.exp(-0.065 * years) * np.maximum(
        np.where(is_call, 1, -1) * (forward - strike), 0
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        conditioning = EPSILON * (price + intrinsic) / (100.0 * g.vega)
    # Deep in the money the price does not pin σ down; a subnormal price has too few digits.
    determined = (conditioning < 1e-12) & (price > 1e-300)
    assert determined.sum() > 0.4 * n
    assert np.nanmax(np.abs(found - vol)[determined] / np.maximum(vol[determined], 1.0)) < 1e-10
    assert np.isfinite(found[determined]).all()


def test_implied_vol_when_deep_wing_uses_tiny_prices_still_recovers_vol() -> None:
    # Strikes |h| = |ln(F/K)|/(σ√T) = 8 … 35 standard deviations out: prices down to 1e-260.
    years, vol, forward = 2 / 365, 0.08, 24_000.0
    h = np.array([8.0, 12.0, 20.0, 30.0, 35.0, 10.0, 25.0, 35.0])
    is_call = np.array([True] * 5 + [False] * 3)
    strike = forward * np.exp(np.where(is_call, 1.0, -1.0) * h * vol * math.sqrt(years))
    price = _price(forward, strike, years, 0.065, vol, is_call)
    assert 0.0 < price.min() < 1e-250
    found = implied_vol(price, forward, strike, years, 0.065, is_call)
    np.testing.assert_allclose(found, vol, rtol=1e-12)


def test_implied_vol_when_tick_rounded_expiry_day_quotes_gives_finite_vols_that_reprice() -> None:
    # 45 minutes to expiry, every strike quoted at whole ₹0.05 ticks down to one tick.
    years = 45 / 525_600
    strike = np.arange(23_500.0, 24_501.0, 50.0)
    forward = 24_012.35
    is_call = strike >= forward
    price = (
        np.maximum(np.round(_price(forward, strike, years, 0.065, 0.14, is_call) / 0.05), 1) * 0.05
    )
    found = implied_vol(price, forward, strike, years, 0.065, is_call)
    assert np.isfinite(found).all()
    # Repriced to 1e-10: a one-tick wing price 45 minutes out is itself evaluated to ~1e-12.
    np.testing.assert_allclose(
        _price(forward, strike, years, 0.065, found, is_call), price, rtol=1e-10
    )


def test_implied_vol_when_call_and_put_satisfy_parity_gives_one_vol() -> None:
    strike = np.arange(22_000.0, 26_001.0, 100.0)
    forward, years, rate = 24_000.0, 12 / 365, 0.065
    vol = 0.12 + 0.3 * np.log(strike / forward) ** 2
    call = _price(forward, strike, years, rate, vol, True)
    put = call - math.exp(-rate * years) * (forward - strike)
    np.testing.assert_allclose(
        implied_vol(call, forward, strike, years, rate, True), vol, atol=1e-11
    )
    np.testing.assert_allclose(
        implied_vol(put, forward, strike, years, rate, False), vol, atol=1e-11
    )


def test_implied_vol_when_at_the_money_matches_closed_form_inverse() -> None:
    forward, years, vol = 24_000.0, 7 / 365, 0.13
    price = _price(forward, forward, years, 0.0, vol, True)
    assert float(implied_vol(price, forward, forward, years, 0.0, True)) == pytest.approx(
        vol, rel=1e-14
    )


@pytest.mark.parametrize(
    ("case", "price", "forward", "strike", "years", "is_call"),
    [
        ("zero price", 0.0, 24_000.0, 24_500.0, 0.02, True),
        ("negative price", -1.0, 24_000.0, 24_500.0, 0.02, True),
        ("below intrinsic (deep ITM call)", 995.0, 24_000.0, 23_000.0, 0.02, True),
        (
            "exactly the discounted intrinsic",
            1000.0 * math.exp(-0.065 * 0.02),
            24_000.0,
            23_000.0,
            0.02,
            True,
        ),
        ("below intrinsic (deep ITM put)", 990.0, 24_000.0, 25_000.0, 0.02, False),
        (
            "call at the upper bound DF·F",
            24_000.0 * math.exp(-0.065 * 0.02),
            24_000.0,
            24_500.0,
            0.02,
            True,
        ),
        ("put above the upper bound DF·K", 25_000.0, 24_000.0, 24_500.0, 0.02, False),
        ("expired", 120.0, 24_000.0, 24_000.0, 0.0, True),
        ("negative time", 120.0, 24_000.0, 24_000.0, -0.01, True),
        ("infinite time", 120.0, 24_000.0, 24_000.0, math.inf, True),
        ("missing quote", math.nan, 24_000.0, 24_000.0, 0.02, True),
        ("no forward", 120.0, math.nan, 24_000.0, 0.02, True),
        ("zero forward", 120.0, 0.0, 24_000.0, 0.02, True),
        ("negative strike", 120.0, 24_000.0, -5.0, 0.02, True),
        ("infinite price", math.inf, 24_000.0, 24_000.0, 0.02, True),
    ],
)
def test_implied_vol_when_no_vol_reproduces_the_price_returns_nan(
    case: str, price: float, forward: float, strike: float, years: float, is_call: bool
) -> None:
    assert math.isnan(float(implied_vol(price, forward, strike, years, 0.065, is_call))), case


def test_implied_vol_when_rate_not_finite_returns_nan() -> None:
    assert math.isnan(float(implied_vol(100.0, 24_000.0, 24_000.0, 0.02, math.nan, True)))


def test_implied_vol_when_scalars_returns_zero_dimensional_array() -> None:
    result = implied_vol(120.0, 24_000.0, 24_000.0, 0.02, 0.065, True)
    assert isinstance(result, np.ndarray)
    assert result.shape == ()
    assert result.dtype == np.float64


def test_implied_vol_when_mixed_shapes_broadcasts_and_keeps_the_shape() -> None:
    strikes = np.array([[23_900.0], [24_000.0], [24_100.0]])
    is_call = np.array([True, False])
    vol = np.array([[0.15, 0.16], [0.14, 0.145], [0.13, 0.135]])
    price = _price(24_000.0, strikes, 0.05, 0.065, vol, is_call)
    found = implied_vol(price, 24_000.0, strikes, 0.05, 0.065, is_call)
    assert found.shape == (3, 2)
    np.testing.assert_allclose(found, vol, rtol=1e-12)


def test_implied_vol_when_chain_has_holes_solves_the_rest() -> None:
    price = np.array([150.0, math.nan, 0.0, 80.0])
    found = implied_vol(price, 24_000.0, [24_000.0, 24_000.0, 25_000.0, 24_200.0], 0.02, 0.0, True)
    assert np.isnan(found[1]) and np.isnan(found[2])
    assert np.isfinite(found[[0, 3]]).all()


def test_implied_vol_when_vol_is_huge_recovers_it() -> None:
    # σ√T = 4: near the upper bound, but still well determined for an out-of-the-money call.
    price = _price(100.0, 150.0, 1.0, 0.0, 4.0, True)
    assert float(implied_vol(price, 100.0, 150.0, 1.0, 0.0, True)) == pytest.approx(4.0, rel=1e-9)


def test_normalised_implied_vol_when_price_is_ulps_under_its_bound_still_converges() -> None:
    # b is flat to its last digits up there: the solver bisects to an s that reprices β.
    x = np.array([-2.0, -0.3, 0.0, -1e-8])
    beta = np.exp(0.5 * x) * (1.0 - 1e-15)
    s = normalised_implied_vol(beta, x)
    assert np.isfinite(s).all() and (s > 15.0).all()
    np.testing.assert_allclose(normalised_otm_price(x, s), beta, rtol=4e-16)


def test_implied_vol_when_chain_spans_several_blocks_matches_block_by_block() -> None:
    rng = np.random.default_rng(3)
    n = 2 * BLOCK + 123
    strike = 24_000.0 + 50.0 * rng.integers(-40, 41, n)
    years = rng.uniform(1, 30, n) / 365
    is_call = rng.random(n) < 0.5
    price = _price(24_000.0, strike, years, 0.065, rng.uniform(0.1, 0.3, n), is_call)
    whole = implied_vol(price, 24_000.0, strike, years, 0.065, is_call)
    pieces = np.concatenate(
        [
            implied_vol(
                price[i : i + 1000],
                24_000.0,
                strike[i : i + 1000],
                years[i : i + 1000],
                0.065,
                is_call[i : i + 1000],
            )
            for i in range(0, n, 1000)
        ]
    )
    np.testing.assert_array_equal(whole, pieces)
