"""Black-76 Greeks: published values, finite differences, parity, display units, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.options import Greeks, black76, greeks
from engine.options.black76 import BLOCK

# vollib's documented Black-76 example (its doctests): F=49, K=50, r=5 %, t=0.3846, σ=20 %.
F, K, T, R, VOL = 49.0, 50.0, 0.3846, 0.05, 0.2


def test_greeks_when_vollib_documented_example_matches_its_published_values() -> None:
    call = greeks(F, K, T, R, VOL, True)
    put = greeks(F, K, T, R, VOL, False)
    assert float(call.delta) == pytest.approx(0.45107017482201828, rel=1e-12)
    assert float(call.gamma) == pytest.approx(0.0640646705882, rel=1e-11)
    assert float(call.vega) == pytest.approx(0.118317785624, rel=1e-11)
    assert float(call.theta) == pytest.approx(-0.00816236877462, rel=1e-11)
    assert float(put.theta) == pytest.approx(-0.00802799155312, rel=1e-11)
    assert float(call.rho) == pytest.approx(-0.0074705380059582258, rel=1e-12)
    assert float(put.rho) == pytest.approx(-0.011243286001308292, rel=1e-12)


@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize("strike", [22_000.0, 23_800.0, 24_000.0, 24_300.0, 26_500.0])
def test_greeks_when_compared_with_finite_differences_of_the_price_agree(
    is_call: bool, strike: float
) -> None:
    forward, years, rate, vol = 24_000.0, 9 / 365, 0.065, 0.16

    def price(f: float = forward, t: float = years, r: float = rate, v: float = vol) -> float:
        return float(greeks(f, strike, t, r, v, is_call).price)

    g = greeks(forward, strike, years, rate, vol, is_call)
    bump = 0.5  # central differences: truncation error ~bump², hence the loose tolerances
    assert float(g.delta) == pytest.approx(
        (price(f=forward + bump) - price(f=forward - bump)) / (2 * bump), rel=1e-4, abs=1e-9
    )
    assert float(g.gamma) == pytest.approx(
        (price(f=forward + bump) - 2 * price() + price(f=forward - bump)) / bump**2,
        rel=1e-4,
        abs=1e-9,
    )
    # Display units: vega per vol point, rho per 1 %, theta per calendar day (time running down).
    assert float(g.vega) == pytest.approx(
        (price(v=vol + 1e-4) - price(v=vol - 1e-4)) / 2e-4 / 100, rel=1e-4
    )
    assert float(g.rho) == pytest.approx(
        (price(r=rate + 1e-5) - price(r=rate - 1e-5)) / 2e-5 / 100, rel=1e-6
    )
    day = 1 / 365
    assert float(g.theta) == pytest.approx(
        (price(t=years - 1e-3 * day) - price(t=years + 1e-3 * day)) / 2e-3, rel=1e-5
    )


def test_greeks_when_call_and_put_share_a_strike_obey_parity() -> None:
    strike = np.arange(22_000.0, 26_001.0, 250.0)
    forward, years, rate = 24_000.0, 30 / 365, 0.065
    vol = 0.13 + 0.2 * np.log(strike / forward) ** 2
    call, put = (
        greeks(forward, strike, years, rate, vol, True),
        greeks(forward, strike, years, rate, vol, False),
    )
    discount = math.exp(-rate * years)
    np.testing.assert_allclose(call.price - put.price, discount * (forward - strike), atol=1e-9)
    np.testing.assert_allclose(call.delta - put.delta, discount, rtol=1e-14)
    np.testing.assert_allclose(call.gamma, put.gamma, rtol=1e-14)
    np.testing.assert_allclose(call.vega, put.vega, rtol=1e-14)


def test_greeks_price_when_compared_with_black76_price_agrees() -> None:
    strike = np.arange(20_000.0, 28_001.0, 500.0)
    ours = greeks(24_000.0, strike, 0.1, 0.065, 0.18, strike >= 24_000.0).price
    np.testing.assert_allclose(
        ours, black76.price(24_000.0, strike, 0.1, 0.065, 0.18, strike >= 24_000.0), rtol=1e-12
    )


def test_greeks_price_when_far_out_of_the_money_keeps_relative_precision() -> None:
    # The textbook F·Φ(d1) − K·Φ(d2) cancels to noise here; ours stays positive and smooth.
    strike = 24_000.0 * np.exp(np.linspace(0.05, 0.25, 41))
    price = greeks(24_000.0, strike, 3 / 365, 0.065, 0.12, True).price
    assert (price > 0).all()
    assert (np.diff(np.log(price)) < 0).all()
    # ln price is concave in ln K out here: second differences all negative.
    assert (np.diff(np.log(price), 2) < 0).all()


def test_greeks_when_expired_gives_intrinsic_and_flat_greeks() -> None:
    g = greeks(
        24_000.0,
        [23_000.0, 25_000.0, 23_000.0, 25_000.0],
        0.0,
        0.065,
        0.15,
        [True, True, False, False],
    )
    np.testing.assert_array_equal(g.price, [1000.0, 0.0, 0.0, 1000.0])
    np.testing.assert_array_equal(g.delta, [1.0, 0.0, 0.0, -1.0])
    for name in ("gamma", "theta", "vega", "rho"):
        np.testing.assert_array_equal(g[name], 0.0)


@pytest.mark.parametrize("years", [0.0, -1e-5, -0.02])
def test_greeks_when_expired_with_no_iv_settles_at_intrinsic(years: float) -> None:
    # implied_vol gives NaN at or after expiry; fed straight back in, it must not matter.
    strikes = [23_000.0, 24_000.0, 25_000.0] * 2
    is_call = [True] * 3 + [False] * 3
    g = greeks(24_000.0, strikes, years, 0.065, math.nan, is_call)
    np.testing.assert_array_equal(g.price, [1000.0, 0.0, 0.0, 0.0, 0.0, 1000.0])
    # At the money it settles worthless: delta 0 for the call and the put alike.
    np.testing.assert_array_equal(g.delta, [1.0, 0.0, 0.0, 0.0, 0.0, -1.0])
    for name in ("gamma", "theta", "vega", "rho"):
        np.testing.assert_array_equal(g[name], 0.0)


@pytest.mark.parametrize(
    ("forward", "strike", "vol"),
    [(math.nan, 24_000.0, math.nan), (24_000.0, 0.0, math.nan), (24_000.0, 24_000.0, -0.1)],
)
def test_greeks_when_expired_but_input_is_invalid_everything_is_nan(
    forward: float, strike: float, vol: float
) -> None:
    g = greeks(forward, strike, 0.0, 0.065, vol, True)
    assert all(math.isnan(float(value)) for value in g.values())


def test_greeks_when_zero_vol_gives_discounted_intrinsic_and_carry_theta() -> None:
    years, rate = 0.25, 0.08
    g = greeks(100.0, 90.0, years, rate, 0.0, True)
    discount = math.exp(-rate * years)
    assert float(g.price) == pytest.approx(10.0 * discount, rel=1e-15)
    assert float(g.delta) == pytest.approx(discount, rel=1e-15)
    assert float(g.gamma) == 0.0 and float(g.vega) == 0.0
    assert float(g.theta) == pytest.approx(rate * 10.0 * discount / 365, rel=1e-15)
    assert float(g.rho) == pytest.approx(-years * 10.0 * discount / 100, rel=1e-15)


@pytest.mark.parametrize(
    ("forward", "strike", "years", "vol"),
    [
        (24_000.0, 24_000.0, 0.02, math.nan),  # no IV
        (24_000.0, 24_000.0, 0.02, -0.1),
        (math.nan, 24_000.0, 0.02, 0.15),
        (-1.0, 24_000.0, 0.02, 0.15),
        (24_000.0, 0.0, 0.02, 0.15),
        (24_000.0, 24_000.0, math.nan, 0.15),
    ],
)
def test_greeks_when_input_is_invalid_everything_is_nan(
    forward: float, strike: float, years: float, vol: float
) -> None:
    g = greeks(forward, strike, years, 0.065, vol, True)
    assert all(math.isnan(float(value)) for value in g.values())


def test_greeks_when_read_as_mapping_has_the_six_names() -> None:
    g = greeks(F, K, T, R, VOL, True)
    assert isinstance(g, Greeks)
    assert list(g) == ["price", "delta", "gamma", "theta", "vega", "rho"]
    assert g["delta"] is g.delta
    with pytest.raises(KeyError):
        g["vanna"]


def test_greeks_when_trading_day_basis_scales_theta_only() -> None:
    calendar = greeks(F, K, T, R, VOL, True)
    trading = greeks(F, K, T, R, VOL, True, days_per_year=252)
    assert float(trading.theta) == pytest.approx(float(calendar.theta) * 365 / 252, rel=1e-14)
    assert float(trading.vega) == float(calendar.vega)


def test_greeks_when_days_per_year_is_not_positive_raises() -> None:
    with pytest.raises(ValueError, match="days_per_year"):
        greeks(F, K, T, R, VOL, True, days_per_year=0)


def test_greeks_when_scalars_and_arrays_mixed_broadcasts() -> None:
    strikes = np.array([[23_900.0], [24_000.0], [24_100.0]])
    g = greeks(24_000.0, strikes, 0.05, 0.065, 0.13, np.array([True, False]))
    assert all(value.shape == (3, 2) for value in g.values())
    scalar = greeks(F, K, T, R, VOL, True)
    assert all(isinstance(value, np.ndarray) and value.shape == () for value in scalar.values())


def test_greeks_when_chain_spans_several_blocks_matches_block_by_block() -> None:
    rng = np.random.default_rng(5)
    n = 2 * BLOCK + 77
    strike = 24_000.0 + 50.0 * rng.integers(-40, 41, n)
    years = rng.uniform(1, 30, n) / 365
    vol = rng.uniform(0.1, 0.3, n)
    is_call = rng.random(n) < 0.5
    whole = greeks(24_000.0, strike, years, 0.065, vol, is_call)
    for start in (0, BLOCK - 5, n - 10):
        part = slice(start, start + 10)
        piece = greeks(24_000.0, strike[part], years[part], 0.065, vol[part], is_call[part])
        for name in piece:
            np.testing.assert_array_equal(whole[name][part], piece[name])


@pytest.mark.parametrize(
    ("forward", "strike", "rate"),
    [(math.inf, 24_000.0, 0.065), (24_000.0, math.inf, 0.065), (24_000.0, 24_000.0, math.inf)],
)
def test_greeks_when_an_input_is_infinite_everything_is_nan(
    forward: float, strike: float, rate: float
) -> None:
    g = greeks(forward, strike, 0.02, rate, 0.15, True)
    assert all(math.isnan(float(value)) for value in g.values())
