"""The dynamic hedge on the desk: a short strangle's sold legs each get a hedge chosen from the
chain's prices as the portfolio enters (the strike a walk down the quotes by hand finds), bought
before the sold legs, sold after its sold leg closes on its stop, and last when the portfolio
squares off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from engine.domain.instruments import InstrumentType
from engine.runtime import Engine
from tests.integration.test_multileg_reentry import fill_all, legs, orders, push, start
from tests.multileg_support import ScriptedBroker, scripted_desk


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Engine, ScriptedBroker]]:
    yield from scripted_desk(tmp_path)


def calls_by_strike(engine: Engine) -> tuple[date, dict[Decimal, Decimal]]:
    """This week's NIFTY calls: strike → last price (rupees), read from the quotes."""
    expiry = min(e for u, e in engine.api.option_chains() if u == "NIFTY")
    found = {}
    for option in engine.api.instruments.search(
        underlying="NIFTY", expiry=expiry, instrument_type=InstrumentType.CE, limit=500
    ):
        tick = engine.api.tick(option.token)
        if tick is not None and tick.ltp:
            found[Decimal(option.strike) / 100] = Decimal(tick.ltp) / 100
    return expiry, dict(sorted(found.items()))


def premium_band(
    engine: Engine,
) -> tuple[date, list[Decimal], int, Decimal, dict[str, str]]:
    """(expiry, call strikes, index of the ATM call sold, the premium wanted, a hedge band).
    By hand: 2 to 6 strikes up from the sold call, the band set so that the strikes 2 and 3
    out are too dear and the one 4 out is the first inside it."""
    expiry, calls = calls_by_strike(engine)
    strikes = list(calls)
    spot = engine.api.underlying_price("NIFTY")
    assert spot is not None
    at = strikes.index(min(strikes, key=lambda k: abs(k - spot)))
    too_dear, wanted = calls[strikes[at + 3]], calls[strikes[at + 4]]
    band = {
        "min_premium": str(wanted - Decimal("0.01")),
        "max_premium": str(too_dear - Decimal("0.01")),
    }
    return expiry, strikes, at, wanted, band


def sell_call_hedged(
    engine: Engine, strike: Decimal, band: dict[str, str], **leg: dict[str, str]
) -> None:
    """Start a portfolio of one sold call at ``strike`` with ``leg``'s settings, hedged 2 to 6
    strikes out by the premium ``band``."""
    sold = {"side": "SELL", "instrument": "CE", "strike": {"kind": "fixed", "strike": str(strike)}}
    hedge = {"enabled": True, "min_distance": 2, "max_distance": 6, **band}
    start(engine, [{**sold, **leg}], hedge=hedge)


def test_multileg_hedge_is_the_strike_found_by_hand_bought_first_and_sold_after(desk) -> None:
    engine, broker = desk
    _expiry, strikes, at, wanted, band = premium_band(engine)
    sell_call_hedged(engine, strikes[at], band, stop={"measure": "premium", "value": "500"})
    entries = orders(broker, "E")
    assert [(n, side) for n, side, _t in entries] == [(2, "BUY")]  # the hedge alone, first
    hedge = legs(engine)[1]
    assert (
        hedge.strike == strikes[at + 4] and hedge.hedge and "dynamic hedge of leg 1" in hedge.remark
    )
    fill_all(engine, broker, str(wanted))
    assert [(n, side) for n, side, _t in orders(broker, "E")] == [(2, "BUY"), (1, "SELL")]
    fill_all(engine, broker, "100")
    call = int(legs(engine)[0].token)
    push(engine, call, "500")  # the sold call's stop
    assert [n for n, *_ in orders(broker, "X")] == [1]  # the sold leg first, its hedge kept
    fill_all(engine, broker, "500")
    push(engine, int(hedge.token), str(wanted))
    assert [n for n, *_ in orders(broker, "X")] == [1, 2]  # then the hedge, after its fill
    fill_all(engine, broker, str(wanted))
    assert [leg.state for leg in legs(engine)] == ["exited", "exited"]


def test_multileg_hedge_held_to_the_portfolio_exit_is_sold_last(desk) -> None:
    engine, broker = desk
    legs_ = [{"side": "SELL", "instrument": "CE"}, {"side": "SELL", "instrument": "PE"}]
    hedge = {
        "enabled": True,
        "kind": "distance",
        "fixed_distance": "200",
        "square_off_on": "portfolio",
    }
    name = start(engine, legs_, hedge=hedge)
    assert [(n, side) for n, side, _t in orders(broker, "E")] == [(3, "BUY"), (4, "BUY")]
    view = legs(engine)
    assert view[2].strike - view[0].strike >= 200 and view[1].strike - view[3].strike >= 200
    fill_all(engine, broker, "20")
    fill_all(engine, broker, "100")
    assert engine.api.square_off_portfolio(name) is None
    assert sorted(n for n, *_ in orders(broker, "X")) == [1, 2]  # sold legs first
    fill_all(engine, broker, "100")
    assert sorted(n for n, *_ in orders(broker, "X")) == [1, 2, 3, 4]


def test_multileg_hedge_on_reentry_is_picked_fresh_bought_first_and_sold_after(desk) -> None:
    engine, broker = desk
    _expiry, strikes, at, wanted, band = premium_band(engine)
    sell_call_hedged(
        engine,
        strikes[at],
        band,
        stop={"measure": "premium", "value": "150"},
        on_stop={"action": "re_execute"},
    )
    fill_all(engine, broker, str(wanted))
    fill_all(engine, broker, "100")
    assert legs(engine)[1].strike == strikes[at + 4]
    # The chain moves: by hand, the call 2 strikes out now sits inside the band, the first the
    # walk out from the sold strike meets.
    near = engine.api.instruments.search(
        underlying="NIFTY", expiry=_expiry, instrument_type=InstrumentType.CE, limit=500
    )
    token_of = {Decimal(o.strike) / 100: int(o.token) for o in near}
    push(engine, token_of[strikes[at + 2]], str(wanted))
    call = int(legs(engine)[0].token)
    push(engine, call, "150")  # the sold call's stop: re-execute
    fill_all(engine, broker, "150")  # the sold leg's exit fills; its old hedge is sold after
    assert [n for n, *_ in orders(broker, "X")] == [1, 2]
    assert [(n, side) for n, side, _t in orders(broker, "E")] == [
        (2, "BUY"),
        (1, "SELL"),
        (4, "BUY"),
    ]
    fresh = legs(engine)[3]
    assert (
        fresh.hedge and fresh.strike == strikes[at + 2] and "dynamic hedge of leg 3" in fresh.remark
    )
    fill_all(engine, broker, str(wanted))  # the old hedge's exit and the fresh hedge's entry
    entries = [(n, side) for n, side, _t in orders(broker, "E")]
    assert entries == [(2, "BUY"), (1, "SELL"), (4, "BUY"), (3, "SELL")]  # the short after it
    fill_all(engine, broker, "100")
    push(engine, call, "150")  # the re-entered leg's stop: its count is spent, it closes
    assert [n for n, *_ in orders(broker, "X")] == [1, 2, 3]  # the short first, hedge kept
    fill_all(engine, broker, "150")
    push(engine, int(fresh.token), str(wanted))
    assert [n for n, *_ in orders(broker, "X")] == [1, 2, 3, 4]  # then its hedge
    fill_all(engine, broker, str(wanted))
    assert [leg.state for leg in legs(engine)] == ["exited"] * 4
