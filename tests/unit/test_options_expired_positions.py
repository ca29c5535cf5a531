"""Options held past their expiry moment, through the facade on the simulated market.

An expired chain stops quoting, so its newest quote stays a moment short of the expiry moment;
the desk's clock says when the expiry has passed, and then each option is its intrinsic value
on the underlying's last price: delta 0 or ±1, no gamma, theta or vega, no IV.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from engine.core.clock import IST, TestClock
from engine.domain.instruments import Instrument
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.options import ChainAnalytics
from engine.runtime import Engine, EngineConfig

EXPIRY = date(2026, 12, 1)
"""A NIFTY weekly of the simulated market; it expires at the F&O close, 15:40 IST."""
NEXT_EXPIRY = date(2026, 12, 8)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Engine, TestClock]]:
    # The desk's clock is a test clock, days behind the wall clock: expiries must be judged by
    # the desk's time (a replay's, in a backtest), never the machine's.
    clock = TestClock(datetime(2026, 12, 1, 15, 39, tzinfo=IST))
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=5, strikes_each_side=10),
        ),
        clock=clock,
    )
    run_market(engine, clock, seconds=2)
    yield engine, clock
    engine.close()


def run_market(engine: Engine, clock: TestClock, *, seconds: int) -> None:
    for _ in range(2 * seconds):
        clock.advance(0.5)
        for tick in engine.market.step(0.5):
            engine.on_tick(tick)


def nifty_option(engine: Engine, expiry: date, offset: int, kind: str) -> Instrument:
    """The ``kind`` option ``offset`` strikes above the one nearest the spot."""
    spot = engine.api.underlying_price("NIFTY")
    rows = engine.registry.chain("NIFTY", expiry)
    at = min(range(len(rows)), key=lambda i: abs(rows[i][0] - spot * 100))
    _strike, call, put = rows[at + offset]
    return call if kind == "CE" else put


def hold(engine: Engine, *orders: tuple[Instrument, str]) -> None:
    """One lot of each instrument, bought or sold at the market."""
    for instrument, side in orders:
        result = engine.api.place_order(instrument.token, side, instrument.lot_size, "MARKET")
        assert result.ok, result.reason


def pass_the_expiry(engine: Engine, clock: TestClock) -> None:
    """Run the market past the expiry moment, which the expiring chain's quotes stop short of."""
    run_market(engine, clock, seconds=65)
    expiry_moment = engine.api.expiry_moment(EXPIRY)
    assert clock.now() > expiry_moment
    last_quote_ns = max(
        tick.ts_ns
        for _strike, *options in engine.registry.chain("NIFTY", EXPIRY)
        for option in options
        if option is not None and (tick := engine.quotes.get(option.token)) is not None
    )
    assert last_quote_ns < expiry_moment.timestamp() * 1e9


def settled_delta(instrument: Instrument, spot: float) -> float:
    strike = instrument.strike / 100
    if instrument.instrument_type == "CE":
        return 1.0 if spot > strike else 0.0
    return -1.0 if spot < strike else 0.0


def assert_settled(chain: ChainAnalytics, spot: float) -> None:
    strikes = chain.strikes
    assert chain.years <= 0.0 and chain.forward == spot
    assert np.isnan(chain.smile_iv).all() and math.isnan(chain.atm_iv)
    np.testing.assert_array_equal(chain.call.price, np.maximum(spot - strikes, 0.0))
    np.testing.assert_array_equal(chain.put.price, np.maximum(strikes - spot, 0.0))
    np.testing.assert_array_equal(chain.call.delta, np.where(spot > strikes, 1.0, 0.0))
    np.testing.assert_array_equal(chain.put.delta, np.where(spot < strikes, -1.0, 0.0))
    for side in (chain.call, chain.put):
        for name in ("gamma", "theta", "vega"):
            np.testing.assert_array_equal(side[name], 0.0)


def test_position_greeks_when_only_an_expired_option_is_held_settle_at_intrinsic(
    desk: tuple[Engine, TestClock],
) -> None:
    engine, clock = desk
    call = nifty_option(engine, EXPIRY, -3, "CE")
    hold(engine, (call, "SELL"))
    pass_the_expiry(engine, clock)
    report = engine.api.position_greeks()
    [line] = report.positions
    spot = float(engine.api.underlying_price("NIFTY"))
    assert spot > call.strike / 100  # in the money: settled, it is short the underlying
    assert math.isnan(line.iv)
    assert (line.unit_delta, line.unit_gamma, line.unit_theta, line.unit_vega) == (1, 0, 0, 0)
    assert (line.delta, line.theta, line.vega) == (-call.lot_size, 0.0, 0.0)
    [nifty] = report.by_underlying
    assert (nifty.delta, nifty.gamma, nifty.theta, nifty.vega) == (-call.lot_size, 0, 0, 0)


def test_position_greeks_when_expiry_passed_by_the_clock_settle_beside_live_ones(
    desk: tuple[Engine, TestClock],
) -> None:
    engine, clock = desk
    expiring = [
        (nifty_option(engine, EXPIRY, -3, "CE"), "SELL"),
        (nifty_option(engine, EXPIRY, 3, "CE"), "SELL"),
        (nifty_option(engine, EXPIRY, 3, "PE"), "BUY"),
    ]
    next_week = nifty_option(engine, NEXT_EXPIRY, 0, "CE")
    hold(engine, *expiring, (next_week, "BUY"))
    pass_the_expiry(engine, clock)
    report = engine.api.position_greeks()
    spot = float(engine.api.underlying_price("NIFTY"))
    lines = {line.holding.token: line for line in report.positions}
    for instrument, _side in expiring:
        line = lines[instrument.token]
        assert math.isnan(line.iv)
        assert line.unit_delta == settled_delta(instrument, spot)
        assert (line.unit_gamma, line.unit_theta, line.unit_vega) == (0.0, 0.0, 0.0)
    assert {lines[i.token].unit_delta for i, _side in expiring} == {1.0, 0.0, -1.0}
    live = lines[next_week.token]
    assert math.isfinite(live.iv) and 0.0 < live.unit_delta < 1.0 and live.unit_gamma > 0.0
    [nifty] = report.by_underlying
    assert nifty.delta == pytest.approx(sum(line.delta for line in report.positions))
    assert (nifty.theta, nifty.vega) == pytest.approx((live.theta, live.vega))


def test_position_greeks_before_expiry_by_the_clock_are_solved_from_the_quotes(
    desk: tuple[Engine, TestClock],
) -> None:
    engine, clock = desk
    expiring = [nifty_option(engine, EXPIRY, -3, "CE"), nifty_option(engine, EXPIRY, 3, "PE")]
    hold(engine, *((instrument, "BUY") for instrument in expiring))
    run_market(engine, clock, seconds=10)
    assert clock.now() < engine.api.expiry_moment(EXPIRY)
    for line in engine.api.position_greeks().positions:
        assert math.isfinite(line.iv) and line.unit_gamma > 0.0 and line.unit_theta < 0.0


def test_chain_analytics_when_expiry_passed_by_the_clock_settle_on_the_spot(
    desk: tuple[Engine, TestClock],
) -> None:
    engine, clock = desk
    api = engine.api
    pass_the_expiry(engine, clock)
    spot = float(api.underlying_price("NIFTY"))
    assert_settled(api.chain_analytics("NIFTY", EXPIRY), spot)
    [expired, next_week] = api.chains_analytics([("NIFTY", EXPIRY), ("NIFTY", NEXT_EXPIRY)])
    assert_settled(expired, spot)
    assert next_week.years > 0.0 and math.isfinite(next_week.atm_iv)

    call = nifty_option(engine, EXPIRY, -2, "CE")
    unit = api.contract_greeks([call.token])[call.token]
    assert math.isnan(unit.iv)
    assert (unit.delta, unit.gamma, unit.theta, unit.vega) == (1.0, 0.0, 0.0, 0.0)


def test_chain_analytics_when_now_given_before_expiry_is_as_of_that_moment(
    desk: tuple[Engine, TestClock],
) -> None:
    engine, clock = desk
    run_market(engine, clock, seconds=65)
    before = engine.api.expiry_moment(EXPIRY) - timedelta(seconds=30)
    analytics = engine.api.chain_analytics("NIFTY", EXPIRY, now=before)
    assert analytics.years == pytest.approx(30 / (365 * 24 * 3600))
    assert np.isfinite(analytics.smile_iv).any()
