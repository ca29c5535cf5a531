"""Multileg legs resolved on the simulated market: a short straddle and an iron condor's wings
find their expiry, strike and listed contract from the desk's own chain."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from engine.core.clock import IST, TestClock
from engine.domain.instruments import InstrumentType
from engine.domain.orders import Side
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.strategies.multileg.expiries import ExpiryCode
from engine.strategies.multileg.legs import (
    AtmOffset,
    ByDelta,
    LegSpec,
    chain_from,
    contract_of,
    expiry_of,
    strike_of,
)
from engine.strategies.multileg.strikes import NoStrike, Reference, Right, otm

MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


@pytest.fixture
def engine(tmp_path):
    clock = TestClock(MONDAY_10AM)
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}", market=SimulatedMarketConfig(seed=3)
        ),
        clock=clock,
    )
    assert engine.market is not None
    for _ in range(8):
        clock.advance(0.25)
        for tick in engine.market.step(0.25):
            engine.on_tick(tick)
    yield engine
    engine.close()


def test_multileg_legs_when_resolved_on_the_desk_find_the_listed_contracts(engine) -> None:
    api = engine.api
    expiries = sorted(e for u, e in api.option_chains() if u == "NIFTY")
    today = MONDAY_10AM.date()
    straddle = [LegSpec(Side.SELL, Right.CALL), LegSpec(Side.SELL, Right.PUT)]
    wings = [
        LegSpec(Side.BUY, Right.CALL, strike=AtmOffset(otm(Right.CALL, 4)), hedge=True),
        LegSpec(Side.BUY, Right.PUT, strike=AtmOffset(otm(Right.PUT, 4)), hedge=True),
    ]
    expiry = expiry_of(straddle[0], expiries, today)
    assert expiry == expiries[0]  # the current week's
    spot = api.underlying_price("NIFTY")
    assert spot is not None
    chain = chain_from(api.chain_analytics("NIFTY", expiry), spot, None)
    strikes = chain.strikes
    atm = min(strikes, key=lambda k: (abs(k - spot), -k))
    resolved = {}
    for spec in straddle + wings:
        strike = strike_of(spec, chain, Reference.SPOT)
        contract = contract_of(api.instruments, "NIFTY", expiry, spec.right, strike)
        kind = InstrumentType.CE if spec.right is Right.CALL else InstrumentType.PE
        assert contract.instrument_type is kind and contract.expiry == expiry
        assert Decimal(contract.strike) / 100 == strike
        resolved[(spec.right, spec.hedge)] = strike
    assert resolved[(Right.CALL, False)] == resolved[(Right.PUT, False)] == atm
    at = strikes.index(atm)
    assert resolved[(Right.CALL, True)] == strikes[at + 4]
    assert resolved[(Right.PUT, True)] == strikes[at - 4]
    # Next week (today's chain expires today): a 0.3-delta call lies above the money, its put
    # twin below.
    later = chain_from(api.chain_analytics("NIFTY", expiries[1]), spot, None)
    call_30 = strike_of(LegSpec(Side.SELL, Right.CALL, strike=ByDelta(0.3)), later, Reference.SPOT)
    put_30 = strike_of(LegSpec(Side.SELL, Right.PUT, strike=ByDelta(0.3)), later, Reference.SPOT)
    assert put_30 < atm < call_30
    with pytest.raises(NoStrike, match="is not listed"):
        contract_of(api.instruments, "NIFTY", expiry, Right.CALL, Decimal("12345"))
    with pytest.raises(ValueError, match="one lot or more"):
        LegSpec(Side.BUY, Right.CALL, lots=0)
    assert (
        expiry_of(LegSpec(Side.BUY, Right.PUT, ExpiryCode.NEXT_WEEK), expiries, today)
        == (expiries[1])
    )
