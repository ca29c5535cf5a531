"""Position Greeks when a quote they need is missing or stale: one unquoted option, a missing or
stale underlying quote, must not blank the Greeks of a whole underlying or book.

- An option whose strike has no smile IV (the out-of-the-money side is not quoted) is priced at its
  own IV, else the chain's ATM IV, as the payoff prices it, and says so (``iv_source``); a
  multileg leg's Greeks too, though its reported IV stays the smile's (NaN).
- A position still without Greeks is left out of the totals and counted (``incomplete``).
- With no fresh quote of the underlying a future held is its own spot, an option its chain's
  forward; the totals say which figure stands in. A quote that lags the underlying's derivatives
  by more than ``STALE_SPOT_SECONDS`` is not used, and the report says how old it was.

Expected values are worked out here from ``engine.options.greeks`` on the facade's own chain
analytics, at the IV the rule says.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from engine.api.options import STALE_SPOT_SECONDS
from engine.core.clock import IST, TestClock
from engine.domain.instruments import Instrument, InstrumentType
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.options import greeks
from engine.options.portfolio import Holding, IvSource, SpotSource, portfolio_greeks
from engine.runtime import Engine, EngineConfig

WEEKLY = date(2026, 12, 1)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    clock = TestClock(datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=5, strikes_each_side=10),
        ),
        clock=clock,
    )
    yield engine
    engine.close()


def weekly(engine: Engine, offset: int, kind: str) -> Instrument:
    """The weekly NIFTY option ``offset`` strikes from the money."""
    spot = engine.api.underlying_price("NIFTY")
    assert spot is not None
    rows = engine.registry.chain("NIFTY", WEEKLY)
    at = min(range(len(rows)), key=lambda i: abs(rows[i][0] - spot * 100))
    _strike, call, put = rows[at + offset]
    return call if kind == "CE" else put


def nearest_future(engine: Engine) -> Instrument:
    return min(
        (
            i
            for i in engine.registry
            if i.underlying == "NIFTY" and i.instrument_type is InstrumentType.FUT
        ),
        key=lambda i: i.expiry or date.max,
    )


def index_token(engine: Engine) -> int:
    return int(engine.registry.spot_tokens()["NIFTY"])


def hold(engine: Engine, instrument: Instrument, side: str, lots: int = 1) -> int:
    quantity = lots * instrument.lot_size
    assert engine.api.place_order(instrument.token, side, quantity, "MARKET").ok
    return quantity if side == "BUY" else -quantity


def line_of(report, token: int):  # type: ignore[no-untyped-def]
    [line] = [x for x in report.positions if x.holding.token == token]
    return line


def test_position_greeks_when_the_smile_side_of_a_held_strike_is_unquoted_uses_own_then_atm_iv(
    engine: Engine,
) -> None:
    api = engine.api
    itm_call = weekly(engine, -4, "CE")  # its strike's smile IV comes from the put
    otm_put = weekly(engine, -4, "PE")
    other = weekly(engine, 2, "CE")
    quantity = hold(engine, itm_call, "BUY", 2)
    hold(engine, other, "SELL")
    engine.quotes.latest.pop(otm_put.token)  # never traded, or not streamed

    analytics = api.chain_analytics("NIFTY", WEEKLY)
    at = int(np.searchsorted(analytics.strikes, itm_call.strike / 100))
    assert math.isnan(analytics.smile_iv[at]) and math.isfinite(analytics.call_iv[at])
    report = api.position_greeks()
    line = line_of(report, itm_call.token)
    assert line.iv_source is IvSource.OWN and line.approximate
    assert line.iv == analytics.call_iv[at]
    unit = greeks(
        analytics.forward, itm_call.strike / 100, analytics.years, analytics.rate, line.iv, True
    )
    for name in ("delta", "gamma", "theta", "vega"):
        assert getattr(line, name) == pytest.approx(float(unit[name]) * quantity, rel=1e-12)
    [nifty] = report.by_underlying
    assert nifty.incomplete == 0
    for name in ("delta", "gamma", "theta", "vega", "delta_rupees"):
        total = sum(getattr(x, name) for x in report.positions)
        assert math.isfinite(total) and getattr(nifty, name) == pytest.approx(total, rel=1e-12)
    assert report.total.theta == pytest.approx(nifty.theta, rel=1e-12)
    # The multileg legs' Greeks and the payoff price it the same way; the leg's IV stays the
    # strike's smile IV, none here (an IV chart must not plot a stand-in as the strike's).
    [leg] = api.contract_greeks([itm_call.token]).values()
    assert leg.delta == pytest.approx(float(unit.delta), rel=1e-12) and math.isnan(leg.iv)
    assert leg.theta == pytest.approx(float(unit.theta), rel=1e-12)
    assert api.payoff(underlying="NIFTY").delta == pytest.approx(nifty.delta, rel=1e-9)

    engine.quotes.latest.pop(itm_call.token)  # neither option of the strike is quoted now
    analytics = api.chain_analytics("NIFTY", WEEKLY)
    line = line_of(api.position_greeks(), itm_call.token)
    assert line.iv_source is IvSource.ATM and line.iv == analytics.atm_iv
    unit = greeks(
        analytics.forward, itm_call.strike / 100, analytics.years, analytics.rate, line.iv, True
    )
    assert line.theta == pytest.approx(float(unit.theta) * quantity, rel=1e-12)


def test_position_greeks_when_a_chain_has_no_forward_leaves_its_position_out_of_the_totals(
    engine: Engine,
) -> None:
    api = engine.api
    call = weekly(engine, 1, "CE")
    hold(engine, call, "SELL")
    bank_expiry = min(e for u, e in api.option_chains() if u == "BANKNIFTY")
    rows = engine.registry.chain("BANKNIFTY", bank_expiry)
    _strike, _call, bank = rows[len(rows) // 2]
    assert bank is not None
    hold(engine, bank, "SELL")
    layout = api.options_service.chain_layout("BANKNIFTY", bank_expiry)
    for token in (*layout.calls, *layout.puts, layout.future):
        if token is not None and token != bank.token:
            engine.quotes.latest.pop(token, None)  # no parity pair, no future: no forward

    report = api.position_greeks()
    missing = line_of(report, bank.token)
    assert missing.iv_source is IvSource.MISSING and not missing.complete
    nifty = line_of(report, call.token)
    totals = {t.name: t for t in report.by_underlying}
    assert totals["BANKNIFTY"].incomplete == 1 and math.isnan(totals["BANKNIFTY"].theta)
    assert totals["NIFTY"].incomplete == 0 and totals["NIFTY"].theta == nifty.theta
    assert report.total.incomplete == 1
    assert report.total.theta == pytest.approx(nifty.theta, rel=1e-12)
    assert report.total.delta_rupees == pytest.approx(nifty.delta_rupees, rel=1e-12)


def test_portfolio_greeks_when_lines_lack_greeks_sums_the_rest_and_counts_them() -> None:
    holdings = [
        Holding(1, "A", "NIFTY", WEEKLY, "NRML", "", 65, 65),
        Holding(2, "B", "NIFTY", WEEKLY, "NRML", "", -65, 65),
    ]
    report = portfolio_greeks(
        holdings,
        spot=[26_000.0, 26_000.0],
        iv=[0.12, math.nan],
        delta=[0.5, math.nan],
        gamma=[0.001, math.nan],
        theta=[-10.0, math.nan],
        vega=[12.0, math.nan],
    )
    [nifty] = report.by_underlying
    assert (nifty.incomplete, nifty.delta, nifty.theta) == (1, 32.5, -650.0)
    assert nifty.delta_rupees == 32.5 * 26_000.0
    nothing = portfolio_greeks(
        holdings[1:], spot=[26_000.0], iv=[math.nan], delta=[math.nan], gamma=[0.0], theta=[0.0],
        vega=[0.0],
    )  # fmt: skip
    assert nothing.total.incomplete == 1 and math.isnan(nothing.total.theta)  # not a false 0


def test_position_greeks_when_the_index_has_no_quote_a_held_future_is_its_own_spot(
    engine: Engine,
) -> None:
    api = engine.api
    future = nearest_future(engine)
    put = weekly(engine, -2, "PE")
    hold(engine, future, "SELL", 2)
    hold(engine, put, "SELL")
    engine.quotes.latest.pop(index_token(engine))

    report = api.position_greeks()
    tick = engine.quotes.get(future.token)
    mid = (tick.bid + tick.ask) / 200
    held = line_of(report, future.token)
    assert (held.spot, held.spot_source) == (mid, SpotSource.FUTURE)
    assert held.delta_rupees == pytest.approx(held.delta * mid, rel=1e-12)
    option = line_of(report, put.token)
    assert option.spot == api.chain_analytics("NIFTY", WEEKLY).forward
    assert option.spot_source is SpotSource.FORWARD
    [nifty] = report.by_underlying
    assert nifty.spot == mid and nifty.spot_source is SpotSource.FUTURE  # the nearer expiry
    assert nifty.delta_rupees == pytest.approx(held.delta_rupees + option.delta_rupees)
    assert math.isfinite(report.total.delta_rupees) and report.stale_spots == ()


def test_position_greeks_when_the_index_quote_is_stale_a_forward_stands_in_and_the_lag_is_told(
    engine: Engine,
) -> None:
    api = engine.api
    put = weekly(engine, -2, "PE")
    hold(engine, put, "SELL")
    token = index_token(engine)
    fresh = engine.quotes.get(token)
    forward = api.chain_analytics("NIFTY", WEEKLY).forward

    def index_behind(seconds: float) -> None:
        engine.quotes.latest[token] = fresh._replace(
            ltp=int(fresh.ltp * 0.97), ts_ns=fresh.ts_ns - int(seconds * 1e9)
        )

    index_behind(2 * 3600)  # two hours old and 3 % away
    report = api.position_greeks()
    [nifty] = report.by_underlying
    assert (nifty.spot, nifty.spot_source) == (forward, SpotSource.FORWARD)
    [(name, lag)] = report.stale_spots
    assert name == "NIFTY" and lag == pytest.approx(2 * 3600)
    strategy = api.option_strategy(underlying="NIFTY")
    assert strategy.spot == forward  # the payoff is drawn against the forward too
    layout = api.options_service.chain_layout("NIFTY", WEEKLY)
    assert api.options_service.spot_lag("NIFTY", [*layout.calls, *layout.puts]) == lag

    index_behind(STALE_SPOT_SECONDS / 2)  # a quiet half minute is not stale
    report = api.position_greeks()
    [nifty] = report.by_underlying
    assert nifty.spot == int(fresh.ltp * 0.97) / 100 and nifty.spot_source is SpotSource.INDEX
    assert report.stale_spots == ()
    assert api.option_strategy(underlying="NIFTY").spot == nifty.spot
