"""Range breakout and extra conditions of a multileg portfolio, on the simulated market with the
test setting every price tick by tick (a scripted path): the range measured in its window, the
first tick (or minute close) beyond range + buffer entering, the other side as the stop, the
other side cancelled, legs needing no breakout, each leg's own range; combined and leg wait and
trade with force-fill; an underlying level exiting at a minute's close; days to expiry and run
days; an indicator on the underlying's candles; contradictory settings refused in words."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.brokers.registry import BrokerSpec, register
from engine.core.clock import TestClock
from engine.runtime import Engine
from engine.strategies.multileg.conditions import trading_days_between
from engine.strategies.multileg.legrun import read_tag
from engine.strategies.multileg.spec import parse_spec
from engine.strategies.multileg.status import LegState, PortfolioStatus
from tests.integration.test_multileg_watching import exits, fill_entries_at, push
from tests.multileg_support import (
    ScriptedBroker,
    build_desk,
    run_market,
    scripted_desk,
    template_spec,
)

P = PortfolioStatus
STRADDLE = [{"side": "SELL", "instrument": "CE"}, {"side": "SELL", "instrument": "PE"}]


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Engine, ScriptedBroker]]:
    yield from scripted_desk(tmp_path)


def begin(
    engine: Engine, legs: list[dict[str, Any]], name: str = "Breakout", **sections: Any
) -> str:
    execution = {"start": None, **sections.pop("execution", {})}
    defaults = {"name": name, **sections.pop("defaults", {})}
    data = template_spec(
        engine,
        "short_straddle",
        name,
        legs=legs,
        execution=execution,
        defaults=defaults,
        **sections,
    )
    assert engine.api.save_portfolio(data) is None
    assert engine.api.start_portfolio(name) is None
    return name


def sent(broker: ScriptedBroker, purpose: str = "E") -> list[int]:
    tags = [read_tag(h.order.tag) for h in broker.orders]
    return [tag[0] for tag in tags if tag is not None and tag[1] == purpose]


def running(engine: Engine, name: str = "Breakout") -> Any:
    found = engine.multileg.running(name)
    assert found is not None
    return found


def status(engine: Engine, name: str = "Breakout") -> PortfolioStatus:
    return next(v.status for v in engine.api.portfolios() if v.name == name)


def measure_range(engine: Engine, token: int, prices: list[str]) -> None:
    """From 09:18:02 (the desk's clock) to 09:19:00, then ``prices`` 10 s apart in the range
    window (09:19–09:20), then to 09:20:00."""
    push(engine, token, prices[0], 58)
    for price in prices[1:]:
        push(engine, token, price, 10)
    push(engine, token, prices[-1], 60 - 10 * (len(prices) - 1))


def test_breakout_multileg_underlying_enters_on_first_tick_beyond_range_and_buffer_and_stops_at_other_side(
    desk,
) -> None:
    engine, broker = desk
    begin(
        engine,
        STRADDLE,
        range_breakout={
            "enabled": True,
            "range_start": "09:19:00",
            "range_end": "09:20:00",
            "buffer": "10",
        },
    )
    spot = running(engine).underlying_token
    measure_range(engine, spot, ["26000", "26040", "25980", "26010"])
    measured = running(engine)._extras.ranges
    assert list(measured) == ["u"] and (measured["u"].low, measured["u"].high) == (2598000, 2604000)
    assert status(engine) is P.MONITORING and broker.orders == []
    push(engine, spot, "26045", 5)  # above the high, inside the buffer
    push(engine, spot, "26050", 1)  # at high + buffer: not beyond it
    assert broker.orders == []
    push(engine, spot, "26050.05", 1)
    assert sorted(sent(broker)) == [1, 2]
    fill_entries_at(engine, broker, ["100", "90"])
    assert status(engine) is P.STARTED
    push(engine, spot, "26100", 1)
    push(engine, spot, "25980.05", 1)
    assert exits(broker) == []
    push(engine, spot, "25980", 1)  # back at the range's low: the breakout's stop
    assert sorted(exits(broker)) == [(1, "X"), (2, "X")]
    assert "back at the range's other side" in engine.api.portfolios()[0].reason


def test_breakout_multileg_minute_close_calls_on_high_puts_on_low_cancels_the_other_side(
    desk,
) -> None:
    engine, broker = desk
    begin(
        engine,
        STRADDLE,
        range_breakout={
            "enabled": True,
            "range_start": "09:19:00",
            "range_end": "09:20:00",
            "entry_at": "CE on high, PE on low",
            "check": "minute close",
            "buffer": "0.1",
            "buffer_percent": True,
        },
    )
    spot = running(engine).underlying_token
    measure_range(engine, spot, ["26000", "26020", "25990"])
    # Above high + 0.1 % (26,046.02) inside the minute, but the minute closes back inside.
    push(engine, spot, "26060", 20)
    push(engine, spot, "26030", 20)
    push(engine, spot, "26030", 20.25)  # 09:21:00.25: the 09:20 minute closed at 26,030
    assert broker.orders == []
    push(engine, spot, "25960", 30)  # below low − 0.1 % (25,964.01) ...
    assert broker.orders == []  # ... not yet a close
    push(engine, spot, "25990", 30)  # 09:22:00.25: the 09:21 minute closed at 25,960
    assert sent(broker) == [2]  # the put; the call is cancelled
    call = engine.api.portfolio_legs("Breakout")[0]
    assert LegState(call.state) is LegState.IDLE
    assert "broke out on the low side first" in call.remark
    fill_entries_at(engine, broker, ["100", "90"])
    assert status(engine) is P.STARTED
    push(engine, spot, "26100", 60)
    push(engine, spot, "26100", 60)
    assert sent(broker) == [2]  # the high never enters the cancelled call


def test_breakout_multileg_each_legs_own_premium_and_a_leg_needing_no_breakout(desk) -> None:
    engine, broker = desk
    legs = [
        {"side": "BUY", "instrument": "CE"},
        {"side": "BUY", "instrument": "PE", "strike": {"kind": "atm", "offset": -4}},
    ]
    begin(
        engine,
        legs,
        range_breakout={
            "enabled": True,
            "range_start": "09:19:00",
            "range_end": "09:20:00",
            "on": "each leg's premium",
            "no_breakout": ["Leg 2"],
        },
    )
    assert sent(broker) == [2]  # the hedge-like leg 2 needs no breakout: in at once
    call = engine.api.portfolio_legs("Breakout")[0].token
    assert call
    measure_range(engine, call, ["100", "112", "95", "104"])
    push(engine, call, "112", 5)
    assert sent(broker) == [2]
    push(engine, call, "112.05", 1)  # a bought leg enters above its own high
    assert sent(broker) == [2, 1]
    [entry] = [h for h in broker.orders if read_tag(h.order.tag)[0] == 1]
    entry.order.price = 11205
    broker.fill(entry)
    assert engine.api.portfolio_legs("Breakout")[0].stop == Decimal("95.00")


def test_breakout_multileg_combined_wait_and_trade_enters_after_the_net_premium_moves(
    desk,
) -> None:
    engine, broker = desk
    begin(
        engine,
        STRADDLE,
        conditions={"combined_wait": {"move": "10", "direction": "down"}},
    )
    portfolio = running(engine)
    assert status(engine) is P.MONITORING and broker.orders == []
    ref = portfolio._extras.combined_ref
    call, put = (leg.token for leg in engine.api.portfolio_legs("Breakout"))
    put_price = Decimal(portfolio.legs[1].ltp) / 100
    call_price = Decimal(ref) / 100 - put_price  # the premium as the window opened
    push(engine, call, str(call_price - Decimal("9.95")))
    assert broker.orders == []
    push(engine, put, str(put_price - Decimal("0.05")))  # together: 10 points down
    assert sorted(sent(broker)) == [1, 2]


def test_breakout_multileg_leg_wait_and_trade_force_fills_after_n_seconds(desk) -> None:
    engine, broker = desk
    begin(
        engine,
        STRADDLE,
        conditions={
            "leg_wait": {
                "legs": ["Leg 2"],
                "move": "20",
                "percent": True,
                "force_after_seconds": 30,
            }
        },
    )
    assert sent(broker) == [1]  # leg 2 waits for +20 %
    [held] = broker.orders
    held.order.price = 10000
    broker.fill(held)
    portfolio = running(engine)
    put, ref = portfolio.legs[1].token, Decimal(portfolio._extras.wait_ref[2]) / 100
    push(engine, put, str(ref * Decimal("1.19")), 29)  # not 20 % up: not yet forced
    assert sent(broker) == [1]
    push(engine, put, str(ref), 1.25)
    assert sent(broker) == [1, 2]
    assert (
        "forced in 30 s after another leg filled" in engine.api.portfolio_legs("Breakout")[1].remark
    )


def test_breakout_multileg_leg_wait_and_trade_enters_on_its_move(desk) -> None:
    engine, broker = desk
    begin(engine, STRADDLE, conditions={"leg_wait": {"legs": ["Leg 2"], "move": "5"}})
    portfolio = running(engine)
    ref = portfolio._extras.wait_ref[2]
    put = portfolio.legs[1].token
    push(engine, put, str(Decimal(ref) / 100 + Decimal("4.95")))
    assert sent(broker) == [1]
    push(engine, put, str(Decimal(ref) / 100 + 5))
    assert sent(broker) == [1, 2]


def test_breakout_multileg_underlying_level_exit_on_a_minute_close(desk) -> None:
    engine, broker = desk
    begin(
        engine,
        STRADDLE,
        conditions={"underlying_exit": {"at_or_above": "26100", "check": "1m"}},
    )
    fill_entries_at(engine, broker, ["100", "90"])
    spot = running(engine).underlying_token
    push(engine, spot, "26000", 30)  # 09:18:32
    push(engine, spot, "26150", 10)  # above the level inside the minute ...
    push(engine, spot, "26050", 10)  # ... closes below it
    push(engine, spot, "26050", 10)  # 09:19:02: the 09:18 minute closed at 26,050
    assert exits(broker) == []
    push(engine, spot, "26100", 50)  # 09:19:52
    assert exits(broker) == []  # at the level, but not a close yet
    push(engine, spot, "26000", 8.25)  # 09:20:00.25: the 09:19 minute closed at 26,100
    assert sorted(exits(broker)) == [(1, "X"), (2, "X")]
    assert "at a 1m close is at or above 26,100.00" in engine.api.portfolios()[0].reason


def test_breakout_multileg_days_to_expiry_and_run_day_filters(desk) -> None:
    engine, broker = desk
    # Monday 23 Nov 2026: Tuesday 24 is a holiday, so the weekly options expire today.
    begin(engine, STRADDLE, name="Far", conditions={"dte_at_least": 1})
    begin(engine, STRADDLE, name="Tuesdays", defaults={"run_on": ["Tue"]})
    begin(engine, STRADDLE, name="Near", conditions={"dte_at_most": 0})
    push(engine, running(engine, "Far").underlying_token, "26000", 2)
    views = {v.name: v for v in engine.api.portfolios()}
    assert views["Far"].status is P.PENDING
    assert views["Far"].reason == "0 trading days to expiry (23 Nov); it enters with at least 1"
    assert views["Tuesdays"].reason == "not a run day (Mon)"
    assert views["Near"].status is P.UNDER_EXECUTION
    assert len(broker.orders) == 2  # Near's two legs only
    assert trading_days_between(date(2026, 11, 27), date(2026, 12, 1)) == 2  # Fri → Tue


def test_breakout_multileg_indicator_ema_cross_on_one_minute_candles(desk) -> None:
    engine, broker = desk
    begin(
        engine,
        STRADDLE,
        conditions={
            "indicator": {"indicator": "EMA fast crosses above slow", "fast": 2, "slow": 3}
        },
    )
    spot = running(engine).underlying_token
    push(engine, spot, "26000", 58)  # 09:19:00
    for close in ("26000", "25990", "25980", "25970", "25960"):
        push(engine, spot, close, 30)
        push(engine, spot, close, 30)  # the minute closes at ``close``
    assert broker.orders == []
    push(engine, spot, "26060", 30)
    push(engine, spot, "26060", 30)  # 09:25:00: the close crosses EMA 2 over EMA 3
    assert sorted(sent(broker)) == [1, 2]
    assert running(engine)._extras.indicator_hit


def test_breakout_multileg_contradictory_settings_are_refused_in_words() -> None:
    base: dict[str, Any] = {"defaults": {"name": "X"}, "legs": STRADDLE}
    cases = [
        (
            {
                "range_breakout": {
                    "enabled": True,
                    "range_start": "09:30:00",
                    "range_end": "09:20:00",
                }
            },
            "the range ends before it starts",
        ),
        (
            {"range_breakout": {"enabled": True, "on": "each leg's premium", "entry_at": "high"}},
            "on each leg's own premium a bought leg enters above its high",
        ),
        (
            {
                "range_breakout": {
                    "enabled": True,
                    "entry_at": "CE on high, PE on low",
                    "cancel_other_side": False,
                }
            },
            "cannot be both the stop of the first side and the entry of the second",
        ),
        (
            {
                "range_breakout": {"enabled": True},
                "conditions": {"combined_wait": {"move": "5"}},
                "execution": {"start": None},
            },
            "a combined wait and trade and a range breakout both decide the entry",
        ),
        (
            {"range_breakout": {"enabled": True}},
            "the range starts at 09:15, before the portfolio starts watching at 09:20",
        ),
        (
            {
                "range_breakout": {"enabled": True, "no_breakout": ["Leg 1", "Leg 2"]},
                "execution": {"start": None},
            },
            "every leg enters without a breakout: turn the range breakout off instead",
        ),
        ({"conditions": {"leg_wait": {"legs": ["Leg 3"], "move": "5"}}}, "Leg 3 is named but"),
        ({"conditions": {"dte_at_least": 3, "dte_at_most": 1}}, "at least is more than at most"),
        (
            {"conditions": {"indicator": {"indicator": "close above VWAP"}}},
            "an index trades no volume: a VWAP is read on the future",
        ),
        (
            {"conditions": {"underlying_exit": {"at_or_above": "100", "at_or_below": "200"}}},
            "the level below must be under the level above",
        ),
        (
            {"conditions": {"combined_wait": {"move": "5"}}, "execution": {"manual_start": True}},
            "a manually started portfolio enters when the trader says",
        ),
    ]
    for sections, words in cases:
        with pytest.raises(ValueError, match=words.replace("(", r"\(")):
            parse_spec({**base, **sections})


def test_breakout_multileg_rolling_straddle_enters_once_the_atm_straddle_falls(desk) -> None:
    engine, broker = desk
    begin(engine, STRADDLE, conditions={"rolling_straddle": {"move_pct": "10"}})
    portfolio = running(engine)
    extras = portfolio._extras
    push(engine, portfolio.underlying_token, Decimal(portfolio.spot) / 100, 1.25)
    ref = extras.straddle_ref
    assert ref is not None and broker.orders == []
    _strike, call, put = extras._atm_pair()
    half = Decimal(ref) / 200
    push(engine, call, str(half * Decimal("0.91")), 0.5)
    push(engine, put, str(half * Decimal("0.91")), 0.75)  # 9 % down: not yet
    assert broker.orders == []
    push(engine, call, str(half * Decimal("0.9")), 0.5)
    push(engine, put, str(half * Decimal("0.9")), 0.75)  # 10 % down at the next second
    assert sorted(sent(broker)) == [1, 2]


def test_breakout_multileg_synthetic_future_level_enters(desk) -> None:
    engine, broker = desk
    begin(
        engine,
        STRADDLE,
        conditions={"underlying_entry": {"source": "synthetic", "at_or_above": "30000"}},
    )
    portfolio = running(engine)
    spot = portfolio.underlying_token
    push(engine, spot, Decimal(portfolio.spot) / 100, 1)
    strike, call, put = portfolio._extras._atm_pair()
    assert broker.orders == []
    # strike + call − put: the put at 10, the call lifting the synthetic to 30,000.
    push(engine, put, "10", 0.25)
    push(engine, call, str(Decimal(30000 * 100 - strike) / 100 + 10 - Decimal("0.05")), 0.25)
    push(engine, spot, Decimal(portfolio.spot) / 100, 0.25)
    assert broker.orders == []  # 29,999.95
    push(engine, call, str(Decimal(30000 * 100 - strike) / 100 + 10), 0.25)
    push(engine, spot, Decimal(portfolio.spot) / 100, 0.25)
    assert sorted(sent(broker)) == [1, 2]


def test_breakout_multileg_enter_now_sends_every_leg_whatever_it_waited_for(desk) -> None:
    engine, broker = desk
    begin(
        engine,
        STRADDLE,
        range_breakout={"enabled": True, "range_start": "09:19:00", "range_end": "09:20:00"},
        conditions={"leg_wait": {"legs": ["Leg 2"], "move": "50"}},
    )
    assert status(engine) is P.MONITORING and broker.orders == []
    assert engine.api.enter_portfolio("Breakout") is None
    assert sorted(sent(broker)) == [1, 2]


def test_breakout_multileg_net_premium_range_enters_above_its_high(desk) -> None:
    engine, broker = desk
    begin(
        engine,
        STRADDLE,
        range_breakout={
            "enabled": True,
            "range_start": "09:19:00",
            "range_end": "09:20:00",
            "on": "net premium",
            "entry_at": "high",
        },
    )
    call, put = (leg.token for leg in engine.api.portfolio_legs("Breakout"))
    push(engine, put, "90", 0.25)
    measure_range(engine, call, ["100", "104", "97"])  # net premium 187–194
    edges = running(engine)._extras.ranges["c"]
    assert (edges.low, edges.high) == (18700, 19400)
    push(engine, put, "94", 5)  # 97 + 94 = 191: inside
    push(engine, call, "100", 1)  # 194: at the high, not beyond
    assert broker.orders == []
    push(engine, put, "94.05", 1)
    assert sorted(sent(broker)) == [1, 2]


def test_breakout_multileg_restart_mid_range_keeps_what_was_measured(tmp_path: Path) -> None:
    made: list[ScriptedBroker] = []

    def make(context: Any) -> ScriptedBroker:
        made.append(ScriptedBroker(context))
        return made[-1]

    unregister = register(BrokerSpec("scripted", "Scripted", make))
    try:
        engine = build_desk(tmp_path, broker="scripted", feed="simulated")
        run_market(engine, 2)
        begin(
            engine,
            STRADDLE,
            range_breakout={"enabled": True, "range_start": "09:19:00", "range_end": "09:21:00"},
        )
        spot = running(engine).underlying_token
        measure_range(engine, spot, ["26000", "26050", "25950"])  # to 09:20:00
        push(engine, spot, "26000", 0.25)  # the minute's close saves what is measured
        assert isinstance(engine.clock, TestClock)
        restart_at = engine.clock.now() + timedelta(seconds=5)
        engine.close()

        engine = build_desk(tmp_path, at=restart_at, broker="scripted", feed="simulated")
        engine.strategies.resume()
        edges = running(engine)._extras.ranges["u"]
        assert (edges.low, edges.high) == (2595000, 2605000)
        push(engine, spot, "26020", 10)  # still in the window: inside the range kept
        push(engine, spot, "26000", 50)  # 09:21:05
        assert made[-1].orders == []
        push(engine, spot, "26050.05", 1)
        assert sorted(sent(made[-1])) == [1, 2]
        engine.close()
    finally:
        unregister()


def test_breakout_multileg_leg_wait_force_fills_at_a_price_once_another_leg_filled(desk) -> None:
    engine, broker = desk
    begin(
        engine,
        STRADDLE,
        conditions={"leg_wait": {"legs": ["Leg 2"], "move": "20", "force_at_move": "5"}},
    )
    portfolio = running(engine)
    put, ref = portfolio.legs[1].token, Decimal(portfolio._extras.wait_ref[2]) / 100
    push(engine, put, str(ref - 5), 1)  # 5 below, but no other leg has filled yet
    assert sent(broker) == [1]
    [held] = broker.orders
    held.order.price = 10000
    broker.fill(held)
    push(engine, put, str(ref - Decimal("4.95")), 1)
    assert sent(broker) == [1]
    push(engine, put, str(ref - 5), 1)  # the force price: P − 5
    assert sent(broker) == [1, 2]
    assert engine.api.portfolio_legs("Breakout")[1].remark.startswith("forced in at")
