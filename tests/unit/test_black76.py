"""Black-76 pricing: published values, parity, edge cases, broadcasting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.options import black76


def test_price_when_haug_textbook_example_matches_published_value() -> None:
    # Haug, The Complete Guide to Option Pricing Formulas, Black-76: F=19, K=19, T=0.75, r=10 %, v=28 %.
    assert float(black76.price(19.0, 19.0, 0.75, 0.10, 0.28, True)) == pytest.approx(
        1.7011, abs=1e-4
    )
    assert float(black76.price(19.0, 19.0, 0.75, 0.10, 0.28, False)) == pytest.approx(
        1.7011, abs=1e-4
    )


def test_price_when_hull_futures_put_example_matches_published_value() -> None:
    # Hull, Options, Futures and Other Derivatives: F=20, K=20, r=9 %, T=4 months, vol 25 % -> 1.12.
    assert float(black76.price(20.0, 20.0, 4 / 12, 0.09, 0.25, False)) == pytest.approx(
        1.12, abs=5e-3
    )


def test_price_when_at_the_money_equals_closed_form() -> None:
    forward, years, rate, vol = 26_000.0, 7 / 365, 0.065, 0.12
    half_std = 0.5 * vol * math.sqrt(years)
    normal_cdf = 0.5 * (1 + math.erf(half_std / math.sqrt(2)))
    expected = math.exp(-rate * years) * forward * (2 * normal_cdf - 1)
    assert float(black76.price(forward, forward, years, rate, vol, True)) == pytest.approx(
        expected, rel=1e-12
    )


def test_price_when_chain_priced_put_call_parity_holds() -> None:
    strikes = np.arange(24_500.0, 27_501.0, 50.0)
    forward, years, rate = 26_040.0, 21 / 365, 0.065
    vols = 0.11 + 0.2 * (np.log(strikes / forward)) ** 2
    calls = black76.price(forward, strikes, years, rate, vols, True)
    puts = black76.price(forward, strikes, years, rate, vols, False)
    np.testing.assert_allclose(
        calls - puts, math.exp(-rate * years) * (forward - strikes), atol=1e-8
    )


def test_price_when_expired_or_zero_vol_returns_intrinsic() -> None:
    result = black76.price(
        forward=[100.0, 100.0, 100.0, 100.0],
        strike=[90.0, 90.0, 110.0, 110.0],
        years=[0.0, -0.1, 0.5, 0.5],
        rate=0.05,
        vol=[0.2, 0.2, 0.0, -0.1],
        is_call=[True, True, False, True],
    )
    # Expired: undiscounted intrinsic. Zero vol with time left: intrinsic, discounted.
    np.testing.assert_allclose(result, [10.0, 10.0, 10.0 * math.exp(-0.025), 0.0])


def test_price_when_deep_out_of_the_money_is_never_negative() -> None:
    result = black76.price(26_000.0, [10_000.0, 60_000.0], 0.01, 0.065, 0.1, [False, True])
    assert np.all(result >= 0.0)
    assert np.all(result < 1e-12)


def test_price_when_scalars_and_arrays_mixed_broadcasts_to_common_shape() -> None:
    strikes = np.array([[25_900.0], [26_000.0], [26_100.0]])
    is_call = np.array([True, False])
    result = black76.price(26_000.0, strikes, 0.05, 0.065, 0.13, is_call)
    assert result.shape == (3, 2)
    assert result.dtype == np.float64
    assert result[0, 0] > result[1, 0] > result[2, 0]  # calls fall with strike
    assert result[0, 1] < result[1, 1] < result[2, 1]  # puts rise with strike


def test_price_when_all_scalar_returns_zero_dimensional_array() -> None:
    result = black76.price(100.0, 100.0, 1.0, 0.0, 0.2, True)
    assert result.shape == ()
    assert float(result) == pytest.approx(7.965567455405804, rel=1e-12)
