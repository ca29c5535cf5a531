"""Implied vol and Greeks against vollib (Jäckel's Let's Be Rational) on a 20,000-option chain.

The chain is NSE-like (options_math.md §2.1): spot near 24,000, strikes every 50 out to ±25 %,
1–60 days (fractional, so intraday too), IVs 8–60 % off a skewed smile plus 20 % drawn across
the whole box, calls and puts alike; half the prices exact float64, half rounded to the ₹0.05
tick, so the deep wings hold zero prices and deep in-the-money quotes fall below intrinsic.

Which quotes are held to 1e-9: a float64 price pins σ only to about ε·(P + DF·intrinsic)/vega
(the rounding of the price and of taking the intrinsic value off it, over vega per 1.00 of
vol). A quote *determines* its IV when that bound is at most 1e-10 (options_math.md's
"well-conditioned": the price fixes σ to a tenth of the tolerance) and its normalised price is a
normal float. Every such quote must be solved within 1e-9 of vollib, with
no failure; every quote with no IV at all (time value ≤ 0 in float64, price ≥ the upper bound)
must come back NaN.

Greeks: ours and vollib's ``black.greeks.analytical`` use the same units (theta per calendar
day, vega per vol point, rho per 1 %: vollib scales by 1/365 and 0.01 as we do), so they are
compared as they are, at each option's generating vol, to 1e-8 relative. Values below 1e-290
(the chain's farthest wings, where both underflow) are compared as absolutely tiny instead.
Theta is the difference of the time decay and r·V, so its error is measured against the size of
those two terms.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from engine.options import greeks, implied_vol

FloatArray = npt.NDArray[np.float64]

CHAIN_SIZE = 20_000
SEED = 20_260_713
IV_TOLERANCE = 1e-9
GREEK_TOLERANCE = 1e-8
DETERMINED_BOUND = 1e-10
"""Largest ε·(P + DF·intrinsic)/vega at which a quote counts as determining its IV."""
NORMAL_FLOOR = 1e-290
EPSILON = float(np.finfo(np.float64).eps)
GREEK_NAMES = ("price", "delta", "gamma", "theta", "vega", "rho")


def nse_like_chain(count: int, seed: int) -> dict[str, FloatArray]:
    """Random NSE-index-like options: forward, strike, years, rate, vol, is_call, price.

    Shared with tests/bench/bench_greeks.py, which times the same chain.
    """
    rng = np.random.default_rng(seed)
    spot = rng.uniform(23_500.0, 24_500.0)
    rate, dividend_yield = 0.065, 0.012
    years = rng.uniform(1.0, 60.0, count) / 365.0
    forward = spot * np.exp((rate - dividend_yield) * years)
    strike = np.round(forward / 50.0) * 50.0 + 50.0 * rng.integers(-120, 121, count)
    is_call = rng.random(count) < 0.5
    moneyness = np.log(strike / forward) / (0.15 * np.sqrt(years))
    vol = np.clip(0.15 * (1.0 - 0.08 * moneyness + 0.02 * moneyness**2), 0.08, 0.60)
    boxed = rng.random(count) < 0.2
    vol[boxed] = rng.uniform(0.08, 0.60, int(boxed.sum()))
    price = np.asarray(greeks(forward, strike, years, rate, vol, is_call).price)
    on_tick = rng.random(count) < 0.5
    price[on_tick] = np.round(price[on_tick] / 0.05) * 0.05
    return {
        "forward": forward,
        "strike": strike,
        "years": years,
        "rate": np.full(count, rate),
        "vol": vol,
        "is_call": is_call,
        "price": price,
    }


@pytest.fixture(scope="module")
def vollib_black() -> object:
    return pytest.importorskip(
        "vollib.black",
        reason="vollib (pip install vollib) is the reference implementation for this test",
    )


@pytest.fixture(scope="module")
def chain() -> dict[str, FloatArray]:
    return nse_like_chain(CHAIN_SIZE, SEED)


@pytest.fixture(scope="module")
def reference_iv(vollib_black: object, chain: dict[str, FloatArray]) -> FloatArray:
    """vollib's IV per quote; NaN where it refuses (below intrinsic, above maximum)."""
    from py_lets_be_rational.exceptions import VolatilityValueException
    from vollib.black.implied_volatility import implied_volatility
    from vollib.helpers.exceptions import PriceIsAboveMaximum, PriceIsBelowIntrinsic

    refused = (VolatilityValueException, PriceIsAboveMaximum, PriceIsBelowIntrinsic)
    columns = zip(
        *(chain[name].tolist() for name in ("price", "forward", "strike", "rate", "years")),
        chain["is_call"].tolist(),
        strict=True,
    )
    out = np.empty(CHAIN_SIZE)
    for i, (price, forward, strike, rate, years, is_call) in enumerate(columns):
        try:
            out[i] = implied_volatility(
                price, forward, strike, rate, years, "c" if is_call else "p"
            )
        except refused:
            out[i] = math.nan
    return out


def _no_iv(chain: dict[str, FloatArray]) -> npt.NDArray[np.bool_]:
    price, forward, strike = chain["price"], chain["forward"], chain["strike"]
    discount = np.exp(-chain["rate"] * chain["years"])
    call = chain["is_call"]
    intrinsic = np.maximum(np.where(call, forward - strike, strike - forward), 0.0)
    upper = np.where(call, forward, strike)
    return (price <= discount * intrinsic) | (price >= discount * upper)


def _determined(chain: dict[str, FloatArray], reference: FloatArray) -> npt.NDArray[np.bool_]:
    price, forward, strike = chain["price"], chain["forward"], chain["strike"]
    discount = np.exp(-chain["rate"] * chain["years"])
    call = chain["is_call"]
    intrinsic = np.maximum(np.where(call, forward - strike, strike - forward), 0.0)
    vega_per_unit_vol = (
        100.0 * greeks(forward, strike, chain["years"], chain["rate"], reference, call).vega
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = EPSILON * (price + discount * intrinsic) / vega_per_unit_vol
        normalised = (price / discount - intrinsic) / np.sqrt(forward * strike)
    return (
        ~_no_iv(chain)
        & (reference > 0.0)
        & (bound <= DETERMINED_BOUND)
        & (normalised >= np.finfo(np.float64).tiny)
    )


def test_implied_vol_when_chain_solved_matches_vollib_on_every_determined_quote(
    chain: dict[str, FloatArray], reference_iv: FloatArray
) -> None:
    ours = implied_vol(
        chain["price"],
        chain["forward"],
        chain["strike"],
        chain["years"],
        chain["rate"],
        chain["is_call"],
    )
    determined = _determined(chain, reference_iv)
    error = np.abs(ours - reference_iv)[determined]
    failures = int(np.count_nonzero(~(error <= IV_TOLERANCE)))  # NaN counts as a failure
    summary = (
        f"{determined.sum()} of {CHAIN_SIZE} quotes determine their IV; "
        f"max |error| {np.nanmax(error):.2e}, median {np.nanmedian(error):.2e}, "
        f"failures {failures}"
    )
    print(summary)
    assert failures == 0, summary
    assert determined.sum() > 0.75 * CHAIN_SIZE  # the test covers most of the chain


def test_implied_vol_when_quote_has_no_iv_returns_nan(
    chain: dict[str, FloatArray], reference_iv: FloatArray
) -> None:
    ours = implied_vol(
        chain["price"],
        chain["forward"],
        chain["strike"],
        chain["years"],
        chain["rate"],
        chain["is_call"],
    )
    no_iv = _no_iv(chain)
    print(f"{no_iv.sum()} quotes have no IV ({(chain['price'] <= 0).sum()} at zero)")
    assert no_iv.sum() > 0.05 * CHAIN_SIZE  # tick rounding leaves plenty of them
    assert np.isnan(ours[no_iv]).all()
    # vollib agrees there is none: it refuses, or answers 0 for a zero price.
    assert (np.isnan(reference_iv[no_iv]) | (reference_iv[no_iv] == 0.0)).all()
    # ... and wherever vollib does find one, so do we.
    assert np.isfinite(ours[reference_iv > 0.0]).all()


def test_greeks_when_compared_with_vollib_analytical_agree_to_1e_8_relative(
    vollib_black: object, chain: dict[str, FloatArray]
) -> None:
    from vollib.black import black
    from vollib.black.greeks import analytical

    forward, strike, years, rate, vol = (
        chain[name] for name in ("forward", "strike", "years", "rate", "vol")
    )
    ours = greeks(forward, strike, years, rate, vol, chain["is_call"])
    theirs = {name: np.empty(CHAIN_SIZE) for name in GREEK_NAMES}
    functions = {"price": black} | {
        name: getattr(analytical, name) for name in GREEK_NAMES if name != "price"
    }
    rows = zip(
        ("c" if c else "p" for c in chain["is_call"].tolist()),
        forward.tolist(),
        strike.tolist(),
        years.tolist(),
        rate.tolist(),
        vol.tolist(),
        strict=True,
    )
    for i, row in enumerate(rows):
        for name, function in functions.items():
            theirs[name][i] = function(*row)

    density_term = np.abs(ours.theta - rate * ours.price / 365.0)
    scale = {name: np.abs(theirs[name]) for name in GREEK_NAMES}
    scale["theta"] = density_term + np.abs(rate * ours.price / 365.0)
    worst = {}
    for name in GREEK_NAMES:
        normal = scale[name] >= NORMAL_FLOOR
        relative = np.abs(ours[name] - theirs[name])[normal] / scale[name][normal]
        worst[name] = float(relative.max())
        assert np.abs(ours[name][~normal]).max(initial=0.0) < 1e-280, name
    print(
        "max relative difference from vollib: "
        + ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
    )
    assert max(worst.values()) <= GREEK_TOLERANCE, worst
