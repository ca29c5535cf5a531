"""Portfolio analytics: position Greeks and totals, payoffs, breakevens, extremes and scenarios.

The pure functions are checked against textbook strategies worked out by hand; the facade's
methods run on a real engine over the simulated market.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from engine.core.clock import IST, TestClock
from engine.domain.instruments import InstrumentType
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.options import greeks
from engine.options.black76 import price
from engine.options.portfolio import GreeksGrouping, Holding, portfolio_greeks
from engine.options.strategy import LegKind, OptionStrategy, PayoffLeg
from engine.runtime import Engine, EngineConfig

SPOT = 26_000.0
FORWARD = 26_050.0
YEARS = 8 / 365
RATE = 0.065
LOT = 65


def leg(kind: str, quantity: int, entry: float, strike: float = math.nan, **kw) -> PayoffLeg:  # type: ignore[no-untyped-def]
    options = {"years": YEARS, "iv": 0.13, "forward": FORWARD} if kind in ("CE", "PE") else {}
    return PayoffLeg(LegKind(kind), quantity, entry, strike=strike, **(options | kw))


def strategy(*legs: PayoffLeg, spot: float = SPOT) -> OptionStrategy:
    return OptionStrategy("NIFTY", spot, RATE, legs)


# -- payoff ------------------------------------------------------------------------------------------


def test_payoff_when_iron_condor_gives_textbook_breakevens_and_extremes() -> None:
    condor = strategy(
        leg("PE", LOT, 10.0, 25_500),
        leg("PE", -LOT, 30.0, 25_700),
        leg("CE", -LOT, 35.0, 26_300),
        leg("CE", LOT, 12.0, 26_500),
    )
    profile = condor.payoff()
    credit = 30 + 35 - 10 - 12
    assert profile.net_premium == credit * LOT
    assert profile.max_profit == pytest.approx(credit * LOT, abs=1e-9)
    assert profile.max_loss == pytest.approx(-(200 - credit) * LOT, abs=1e-9)
    assert profile.breakevens == pytest.approx((25_700 - credit, 26_300 + credit), abs=1e-9)
    assert profile.days_to_expiry == pytest.approx(8)


def test_payoff_when_short_call_is_naked_loss_is_unlimited() -> None:
    profile = strategy(leg("CE", -LOT, 100.0, 26_000)).payoff()
    assert profile.unlimited_loss and profile.max_loss == -math.inf
    assert profile.max_profit == pytest.approx(100 * LOT)
    assert profile.breakevens == pytest.approx((26_100,))


def test_payoff_when_long_future_is_protected_by_a_put_loss_is_limited_and_profit_unlimited() -> (
    None
):
    protected = strategy(
        leg("FUT", LOT, 26_100.0, years=YEARS, forward=FORWARD),
        leg("PE", LOT, 300.0, 26_000),
    )
    profile = protected.payoff()
    assert profile.unlimited_profit
    assert profile.max_loss == pytest.approx(-(26_100 - 26_000 + 300) * LOT)
    assert profile.breakevens == pytest.approx((26_400,))
    assert profile.net_premium == -300 * LOT  # a future carries no premium


def test_payoff_when_expiries_differ_values_later_legs_and_finds_breakevens_by_root() -> None:
    calendar = strategy(
        leg("CE", -LOT, 100.0, 26_000),
        leg("CE", LOT, 300.0, 26_000, years=36 / 365, forward=26_150.0),
    )
    profile = calendar.payoff()
    assert not profile.unlimited_loss  # the long call covers the short one
    assert profile.max_loss == pytest.approx(-200 * LOT, rel=1e-6)  # the debit, far from 26,000
    assert len(profile.breakevens) == 2
    at_breakevens = calendar.pnl(np.array(profile.breakevens), years_forward=YEARS)
    assert at_breakevens == pytest.approx([0.0, 0.0], abs=1e-6)
    assert profile.max_profit == pytest.approx(float(np.max(profile.at_expiry)), rel=1e-3)


def test_payoff_today_at_the_spot_is_black76_value_less_entry() -> None:
    call = leg("CE", 2 * LOT, 150.0, 26_100, iv=0.12)
    put = leg("PE", -LOT, 90.0, 25_900, iv=0.14)
    profile = strategy(call, put).payoff()
    value = price(FORWARD, [26_100, 25_900], YEARS, RATE, [0.12, 0.14], [True, False])
    expected = 2 * LOT * (value[0] - 150.0) - LOT * (value[1] - 90.0)
    assert profile.pnl_now == pytest.approx(expected, rel=1e-12)
    unit = greeks(FORWARD, [26_100, 25_900], YEARS, RATE, [0.12, 0.14], [True, False])
    assert profile.delta == pytest.approx(2 * LOT * unit.delta[0] - LOT * unit.delta[1])
    assert profile.theta == pytest.approx(2 * LOT * unit.theta[0] - LOT * unit.theta[1])


def test_payoff_when_days_forward_passes_expiry_stops_at_expiry() -> None:
    straddle = strategy(leg("CE", LOT, 200.0, 26_000), leg("PE", LOT, 180.0, 26_000))
    profile = straddle.payoff(days_forward=30, iv_shift=5)
    assert profile.days_forward == pytest.approx(8)
    assert profile.at_target == pytest.approx(profile.at_expiry)


def test_payoff_when_spot_shifted_reports_pnl_at_the_target_spot() -> None:
    straddle = strategy(leg("CE", LOT, 200.0, 26_000), leg("PE", LOT, 180.0, 26_000))
    profile = straddle.payoff(days_forward=2, spot_shift=3.0, iv_shift=-2.0)
    assert profile.target_spot == pytest.approx(SPOT * 1.03)
    assert profile.target_pnl == pytest.approx(
        float(straddle.pnl(SPOT * 1.03, years_forward=2 / 365, iv_shift=-2.0))
    )
    assert profile.target_expiry_pnl == pytest.approx((SPOT * 1.03 - 26_000 - 380) * LOT)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"days_forward": -1.0}, "days_forward"),
        ({"iv_shift": math.nan}, "iv_shift"),
        ({"spot_shift": -100.0}, "spot_shift"),
    ],
)
def test_payoff_when_shift_is_invalid_raises_clear_error(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        strategy(leg("CE", LOT, 100.0, 26_000)).payoff(**arguments)


def test_payoff_leg_when_option_has_time_but_no_iv_is_refused() -> None:
    with pytest.raises(ValueError, match="needs an IV"):
        leg("CE", LOT, 100.0, 26_000, iv=math.nan)
    with pytest.raises(ValueError, match="positive strike"):
        leg("PE", LOT, 100.0)
    with pytest.raises(ValueError, match="at least one leg"):
        OptionStrategy("NIFTY", SPOT, RATE, ())


def test_scenarios_when_grid_asked_equals_pnl_cell_by_cell() -> None:
    condor = strategy(
        leg("PE", LOT, 10.0, 25_500),
        leg("PE", -LOT, 30.0, 25_700),
        leg("CE", -LOT, 35.0, 26_300),
        leg("CE", LOT, 12.0, 26_500),
    )
    grid = condor.scenarios(days_forward=2, spot_shifts=(-3, 0, 2), iv_shifts=(-5, 0, 5))
    assert grid.pnl.shape == (3, 3)
    for row, shift in enumerate(grid.iv_shifts):
        for column, move in enumerate(grid.spot_shifts):
            assert grid.pnl[row, column] == pytest.approx(
                float(condor.pnl(SPOT * (1 + move / 100), years_forward=2 / 365, iv_shift=shift))
            )


# -- Greeks ------------------------------------------------------------------------------------------


def holding(symbol: str, underlying: str, quantity: int, strategy: str = "", **kw) -> Holding:  # type: ignore[no-untyped-def]
    fields = {"token": hash(symbol) % 10_000, "expiry": date(2026, 12, 1), "product": "NRML"}
    return Holding(
        tradingsymbol=symbol,
        underlying=underlying,
        quantity=quantity,
        strategy=strategy,
        lot_size=kw.pop("lot_size", 65),
        **(fields | kw),
    )


def test_portfolio_greeks_are_unit_greeks_times_quantity_with_totals_per_underlying() -> None:
    holdings = [
        holding("NIFTY CE", "NIFTY", 130, "condor"),
        holding("NIFTY PE", "NIFTY", -65, "condor"),
        holding("BANKNIFTY CE", "BANKNIFTY", -30, "hedge", lot_size=30),
    ]
    report = portfolio_greeks(
        holdings,
        spot=[26_000.0, 26_000.0, 59_000.0],
        iv=[0.12, 0.13, 0.14],
        delta=[0.5, -0.3, 0.4],
        gamma=[0.001, 0.0012, 0.0004],
        theta=[-10.0, -8.0, -20.0],
        vega=[12.0, 11.0, 25.0],
    )
    nifty_ce, nifty_pe, bank = report.positions
    assert nifty_ce.delta == 65.0 and nifty_ce.lots == 2
    assert nifty_pe.theta == 520.0
    assert bank.delta_rupees == pytest.approx(-30 * 0.4 * 59_000)
    banknifty, nifty = report.by_underlying  # sorted by name
    assert nifty.name == "NIFTY" and nifty.delta == pytest.approx(65 + 19.5)
    assert nifty.delta_rupees == pytest.approx((65 + 19.5) * 26_000)
    assert banknifty.gamma == pytest.approx(-30 * 0.0004)
    total = report.total
    assert math.isnan(total.delta) and math.isnan(total.gamma)  # two underlyings
    assert total.theta == pytest.approx(-1300 + 520 + 600)
    assert total.delta_rupees == pytest.approx(nifty.delta_rupees + banknifty.delta_rupees)
    groups = report.groups(GreeksGrouping.STRATEGY)
    assert [(g.name, len(lines)) for g, lines in groups] == [("condor", 2), ("hedge", 1)]
    [(expiry_group, _)] = report.groups("expiry")[:1]
    assert expiry_group.name == "BANKNIFTY · 01 Dec 2026"


def test_portfolio_greeks_when_inputs_misaligned_raise() -> None:
    with pytest.raises(ValueError, match="delta"):
        portfolio_greeks(
            [holding("A", "NIFTY", 65)],
            spot=[1.0],
            iv=[0.1],
            delta=[0.5, 0.5],
            gamma=[0.0],
            theta=[0.0],
            vega=[0.0],
        )


# -- the facade on the simulated market ---------------------------------------------------------------


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


def nifty_option(engine: Engine, offset: int, kind: str):  # type: ignore[no-untyped-def]
    expiry = date(2026, 12, 1)
    spot = engine.api.underlying_price("NIFTY")
    rows = engine.registry.chain("NIFTY", expiry)
    at = min(range(len(rows)), key=lambda i: abs(rows[i][0] - spot * 100))
    _strike, call, put = rows[at + offset]
    return call if kind == "CE" else put


def test_strategy_leg_when_price_not_given_buys_at_ask_and_sells_at_bid(engine: Engine) -> None:
    call = nifty_option(engine, 0, "CE")
    tick = engine.quotes.get(call.token)
    bought = engine.api.strategy_leg(call.token, "BUY", 2)
    sold = engine.api.strategy_leg(call.token, "SELL")
    assert (bought.quantity, bought.price) == (2 * call.lot_size, Decimal(tick.ask) / 100)
    assert (sold.quantity, sold.price) == (-call.lot_size, Decimal(tick.bid) / 100)
    assert engine.api.strategy_leg(call.token, "BUY", price="12.5").price == Decimal("12.5")
    with pytest.raises(ValueError, match="lots"):
        engine.api.strategy_leg(call.token, "BUY", 0)


def test_position_greeks_when_split_by_strategy_nets_to_the_positions(engine: Engine) -> None:
    api = engine.api
    call = nifty_option(engine, 1, "CE")
    api.place_order(
        call.token, "BUY", 3 * call.lot_size, "MARKET", source="strategy", strategy="straddle"
    )
    api.place_order(
        call.token, "SELL", call.lot_size, "MARKET", source="strategy", strategy="hedge"
    )
    whole = api.position_greeks()
    split = api.position_greeks(by_strategy=True)
    [line] = whole.positions
    assert line.holding.quantity == 2 * call.lot_size and line.holding.strategy == ""
    shares = {p.holding.strategy: p.holding.quantity for p in split.positions}
    assert shares == {"straddle": 3 * call.lot_size, "hedge": -call.lot_size}
    assert split.total.delta == pytest.approx(whole.total.delta)
    assert split.total.theta == pytest.approx(whole.total.theta)
    analytics = api.chain_analytics("NIFTY", date(2026, 12, 1))
    at = int(np.searchsorted(analytics.strikes, call.strike / 100))
    assert line.iv == analytics.smile_iv[at]
    assert line.delta == pytest.approx(analytics.call.delta[at] * 2 * call.lot_size)


def test_contract_greeks_are_the_chains_per_unit_greeks_at_the_smile(engine: Engine) -> None:
    api = engine.api
    call, put = nifty_option(engine, 2, "CE"), nifty_option(engine, -2, "PE")
    future = next(
        i
        for i in engine.registry
        if i.underlying == "NIFTY" and i.instrument_type is InstrumentType.FUT
    )
    spot_token = next(iter(engine.registry.spot_tokens().values()))
    found = api.contract_greeks([call.token, put.token, future.token, spot_token, 999_999_999])
    assert set(found) == {call.token, put.token, future.token}  # no index, no unknown token
    analytics = api.chain_analytics("NIFTY", date(2026, 12, 1))
    for instrument, side in ((call, analytics.call), (put, analytics.put)):
        at = int(np.searchsorted(analytics.strikes, instrument.strike / 100))
        unit = found[instrument.token]
        assert unit.iv == analytics.smile_iv[at]
        assert (unit.delta, unit.theta, unit.vega) == (
            side.delta[at],
            side.theta[at],
            side.vega[at],
        )
    assert 0 < found[call.token].delta < 1 and -1 < found[put.token].delta < 0
    assert found[future.token].delta == 1.0 and math.isnan(found[future.token].iv)


def test_option_strategy_when_legs_span_underlyings_is_refused(engine: Engine) -> None:
    api = engine.api
    nifty = api.strategy_leg(nifty_option(engine, 0, "CE").token, "BUY")
    bank = next(
        i
        for i in engine.registry
        if i.underlying == "BANKNIFTY" and i.instrument_type is InstrumentType.CE
    )
    with pytest.raises(ValueError, match="one underlying"):
        api.option_strategy([nifty, api.strategy_leg(bank.token, "BUY")])
    with pytest.raises(ValueError, match="no open positions"):
        api.payoff(underlying="NIFTY")
    with pytest.raises(LookupError, match="no NIFTY option chain"):
        api.chain_analytics("NIFTY", date(2030, 1, 1))


def test_payoff_of_open_positions_prices_them_at_their_average(engine: Engine) -> None:
    api = engine.api
    put = nifty_option(engine, -2, "PE")
    api.place_order(put.token, "SELL", put.lot_size, "MARKET")
    [position] = [p for p in api.positions() if p.net_quantity]
    profile = api.payoff(underlying="NIFTY")
    assert profile.net_premium == pytest.approx(float(position.average_price) * put.lot_size)
    assert profile.max_profit == pytest.approx(profile.net_premium)
    assert profile.breakevens == pytest.approx((put.strike / 100 - float(position.average_price),))
