"""The SPAN-like margin estimate and the VaR / expected shortfall figures."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from engine.core.clock import TestClock
from engine.domain.orders import Product
from engine.marketdata.quotes import QuoteCache
from engine.options import black76, implied_vol, years_to_expiry
from engine.risk.margin import MarginEstimator
from engine.risk.var import (
    KIND_LINEAR,
    KIND_OPTION,
    VarPortfolio,
    compute_var,
    ewma_covariance,
    synthetic_returns,
)
from tests.support import MONDAY_MORNING, NIFTY_CE, NIFTY_FUT, NIFTY_INDEX, quote


@pytest.fixture
def estimator() -> MarginEstimator:
    quotes = QuoteCache()
    quotes.update(quote(NIFTY_INDEX, bid=0, ask=0, ltp=2600000))
    quotes.update(quote(NIFTY_FUT, bid=2610000, ask=2610010, ltp=2610000))
    quotes.update(quote(NIFTY_CE, bid=40000, ask=40010, ltp=40000))
    instruments = {i.token: i for i in (NIFTY_CE, NIFTY_FUT, NIFTY_INDEX)}
    return MarginEstimator(
        instruments=instruments.get,
        quotes=quotes,
        spot=lambda u: quotes.ltp(NIFTY_INDEX.token) if u == "NIFTY" else None,
        clock=TestClock(MONDAY_MORNING),
    )


def test_margin_iv_when_priced_alone_or_primed_equals_the_options_solver(estimator) -> None:
    """Margin reprices at the vol of ``engine.options.implied_vol``, timed to the same expiry
    moment as ``engine.options.years_to_expiry``: one solver and one clock for the whole desk."""
    assert NIFTY_CE.expiry is not None
    rate = estimator.params.rate
    years = years_to_expiry(MONDAY_MORNING, NIFTY_CE.expiry)
    forward = 26000.0 * math.exp(rate * years)
    expected = float(implied_vol(400.0, forward, 26000.0, years, rate, True))
    assert 0.05 < expected < 1.0

    alone = estimator.risk_array(NIFTY_CE)
    assert alone.vol == pytest.approx(expected, rel=1e-12, abs=0.0)
    estimator.prime([NIFTY_CE])
    primed = estimator.risk_array(NIFTY_CE)
    assert primed is not alone
    assert primed.vol == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_margin_iv_when_the_price_has_no_time_value_is_the_fallback_vol(estimator) -> None:
    deep = replace(NIFTY_CE, strike=1_000_000)  # a 10,000 call with NIFTY at 26,000
    # Its ₹400 quote is far below its intrinsic value: no vol reproduces it.
    assert estimator.risk_array(deep).vol == estimator.params.fallback_vol


def test_long_option_margin_when_estimated_is_its_premium(estimator) -> None:
    total, _ = estimator.requirement_after(NIFTY_CE, Product.NRML, 65)
    assert total == pytest.approx(400 * 65, rel=1e-9)


def test_short_option_margin_when_estimated_is_span_plus_elm_and_far_above_premium(
    estimator,
) -> None:
    total, underlying = estimator.requirement_after(NIFTY_CE, Product.NRML, -65)
    assert total == underlying
    elm = 0.02 * 26000 * 65
    assert total > 400 * 65 + elm
    assert 80_000 < total < 250_000  # NSE's ATM short NIFTY lot is of the order of ₹1-2 lakh


def test_future_margin_when_estimated_is_price_scan_plus_elm(estimator) -> None:
    total, _ = estimator.requirement_after(NIFTY_FUT, Product.NRML, 65)
    notional = 26100 * 65
    assert total == pytest.approx(notional * (0.093 + 0.02), rel=1e-9)


def test_hedged_future_when_a_short_call_is_added_needs_less_than_both_alone(estimator) -> None:
    future_alone, _ = estimator.requirement_after(NIFTY_FUT, Product.NRML, 65)
    call_alone, _ = estimator.requirement_after(NIFTY_CE, Product.NRML, -65)
    estimator.update(NIFTY_FUT, Product.NRML, 65)
    both, _ = estimator.requirement_after(NIFTY_CE, Product.NRML, -65)
    assert both < future_alone + call_alone
    estimator.update(NIFTY_FUT, Product.NRML, 0)
    assert estimator.total == pytest.approx(0.0, abs=1e-6)


def test_margin_bound_when_books_and_orders_are_random_is_never_below_the_exact_figure(
    estimator,
) -> None:
    """The gate lets an order through on the bound alone, so it must never understate."""
    rng = np.random.default_rng(11)
    contracts = (NIFTY_CE, NIFTY_FUT)
    for _ in range(400):
        for contract in contracts:
            estimator.update(contract, Product.NRML, 65 * int(rng.integers(-6, 7)))
        contract = contracts[int(rng.integers(0, 2))]
        after = 65 * int(rng.integers(-8, 9))
        exact_total, exact_underlying = estimator.requirement_after(contract, Product.NRML, after)
        most_total, most_underlying = estimator.bound_after(contract, Product.NRML, after)
        assert most_total >= exact_total - 1e-6
        assert most_underlying >= exact_underlying - 1e-6


def test_risk_array_when_the_contract_has_no_quote_yet_is_not_kept_until_it_has_one() -> None:
    quotes = QuoteCache()
    quotes.update(quote(NIFTY_INDEX, bid=0, ask=0, ltp=2600000))
    instruments = {i.token: i for i in (NIFTY_CE, NIFTY_FUT, NIFTY_INDEX)}
    estimator = MarginEstimator(
        instruments=instruments.get,
        quotes=quotes,
        spot=lambda u: quotes.ltp(NIFTY_INDEX.token) if u == "NIFTY" else None,
        clock=TestClock(MONDAY_MORNING),
    )
    assert estimator.prime(instruments.values()) == 0  # nothing priced: nothing kept
    unpriced = estimator.risk_array(NIFTY_CE)
    quotes.update(quote(NIFTY_CE, bid=40000, ask=40010, ltp=40000))
    priced = estimator.risk_array(NIFTY_CE)
    assert priced is not unpriced and priced.value == pytest.approx(400.0)
    assert estimator.risk_array(NIFTY_CE) is priced


def test_refresh_when_prices_moved_rebuilds_the_same_positions(estimator) -> None:
    estimator.update(NIFTY_CE, Product.NRML, -65)
    before = estimator.total
    estimator.refresh()
    assert estimator.total == pytest.approx(before, rel=1e-9)


def portfolio(quantity: np.ndarray, kind: np.ndarray, **kw) -> VarPortfolio:
    returns = synthetic_returns(np.array([0.15]), np.array([0.9]), days=250, seed=3)
    n = len(quantity)
    return VarPortfolio(
        ("NIFTY",),
        np.array([26000.0]),
        returns,
        np.zeros(n, dtype=np.int64),
        kind.astype(np.int8),
        quantity.astype(np.float64),
        kw.get("price", np.full(n, 26000.0)),
        kw.get("strike", np.zeros(n)),
        kw.get("years", np.zeros(n)),
        kw.get("vol", np.zeros(n)),
        kw.get("is_call", np.zeros(n, dtype=bool)),
    )


def test_var_of_a_long_future_when_computed_matches_the_normal_figure() -> None:
    book = portfolio(np.array([65.0]), np.array([KIND_LINEAR]))
    result = compute_var(book, paths=20_000)
    var95, es95 = result.monte_carlo[0.95]
    var99, es99 = result.monte_carlo[0.99]
    assert 0 < var95 < var99 <= es99 and var95 <= es95
    # A linear position under normal moves: VaR99 = 2.326 sigma x value, ES99 = 2.665 sigma.
    sigma = math.sqrt(ewma_covariance(book.returns)[0, 0]) * 26000 * 65
    assert var99 == pytest.approx(2.326 * sigma, rel=0.05)
    assert es99 == pytest.approx(2.665 * sigma, rel=0.05)
    h95, h99 = result.historical[0.95][0], result.historical[0.99][0]
    assert 0 < h95 < h99
    assert result.mc_standard_error_99 < 0.05 * var99


def test_var_of_a_short_straddle_when_repriced_in_full_exceeds_a_long_one() -> None:
    strike, years, vol = 26000.0, 7 / 365, 0.14
    call = float(black76.price(26000, strike, years, 0.065, vol, True))
    put = float(black76.price(26000, strike, years, 0.065, vol, False))
    legs = dict(
        price=np.array([call, put]),
        strike=np.array([strike, strike]),
        years=np.array([years, years]),
        vol=np.array([vol, vol]),
        is_call=np.array([True, False]),
    )
    kinds = np.array([KIND_OPTION, KIND_OPTION])
    short = compute_var(portfolio(np.array([-65.0, -65.0]), kinds, **legs), paths=10_000)
    long = compute_var(portfolio(np.array([65.0, 65.0]), kinds, **legs), paths=10_000)
    # A long straddle loses at most its premium; a short one has the fat tail.
    assert long.monte_carlo[0.99][1] <= (call + put) * 130
    assert short.monte_carlo[0.99][0] > long.monte_carlo[0.99][0]
    assert short.historical[0.99][1] >= short.historical[0.99][0]


def test_var_when_history_is_too_short_refuses() -> None:
    book = portfolio(np.array([65.0]), np.array([KIND_LINEAR]))
    with pytest.raises(ValueError, match="at least 20 days"):
        compute_var(replace(book, returns=book.returns[:5]))


def test_margin_prime_when_whole_universe_priced_at_once_matches_one_by_one(tmp_path) -> None:
    """The vectorised pass gives the same risk arrays as pricing each contract alone."""
    from datetime import datetime as _datetime

    from engine.core.clock import IST as _IST
    from engine.core.clock import TestClock as _TestClock
    from engine.marketdata.simulated import SimulatedMarketConfig
    from engine.runtime import Engine, EngineConfig

    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'm.db'}",
            market=SimulatedMarketConfig(seed=4, strikes_each_side=8),
        ),
        clock=_TestClock(_datetime(2026, 11, 23, 11, 0, tzinfo=_IST)),
    )
    try:
        margin = engine.risk.margin
        assert margin is not None
        derivatives = [i for i in engine.registry if i.is_derivative]
        assert margin.prime(engine.registry) == len(derivatives)
        for instrument in derivatives[::7]:
            primed = margin.risk_array(instrument)
            alone = margin._compute(instrument)
            assert primed.value == pytest.approx(alone.value, rel=1e-9, abs=1e-9)
            assert primed.losses == pytest.approx(alone.losses, rel=1e-4, abs=0.01)
    finally:
        engine.close()
