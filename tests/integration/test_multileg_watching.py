"""What a running multileg portfolio watches, with prices set tick by tick by the test: a leg's
trailing stop, stops moved to cost after another leg's stop, checks made only at a minute's
close, the underlying moving too far, a leg that stops ticking, an entry that waits for the
net premium, idle legs and run days."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.core.clock import TestClock
from engine.domain.events import EngineMessage
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import Tick
from engine.runtime import Engine
from engine.strategies.multileg.legrun import read_tag
from engine.strategies.multileg.status import PortfolioStatus
from tests.multileg_support import ScriptedBroker, scripted_desk, template_spec


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Engine, ScriptedBroker]]:
    yield from scripted_desk(tmp_path)


def push(engine: Engine, token: int, rupees: str, seconds: float = 0.25) -> None:
    """One tick of ``token`` at ``rupees``, ``seconds`` after the last."""
    assert isinstance(engine.clock, TestClock)
    engine.clock.advance(seconds)
    paise = int(Decimal(rupees) * 100)
    engine.on_tick(
        Tick(
            InstrumentToken(token),
            paise,
            paise - 5,
            paise + 5,
            500,
            500,
            0,
            0,
            engine.clock.time_ns(),
        )
    )


def start(
    engine: Engine, broker: ScriptedBroker, legs: list[dict[str, Any]], **sections: Any
) -> str:
    name = "Watched"
    execution = {"start": None, **sections.pop("execution", {})}
    data = template_spec(engine, "short_straddle", name, legs=legs, execution=execution, **sections)
    assert engine.api.save_portfolio(data) is None
    assert engine.api.start_portfolio(name) is None
    return name


def fill_entries_at(engine: Engine, broker: ScriptedBroker, prices: list[str]) -> list[int]:
    """Fill each leg's entry at its price (leg n at ``prices[n - 1]``, also its first tick), in
    the order the portfolio sends them (hedges first); the legs' tokens."""
    tokens: dict[int, int] = {}
    done: set[str] = set()
    while True:
        waiting = [
            h
            for h in broker.orders
            if read_tag(h.order.tag)[1] == "E" and h.order.order_id not in done  # type: ignore[index]
        ]
        if not waiting:
            break
        for held in waiting:
            n = read_tag(held.order.tag)[0]  # type: ignore[index]
            held.order.price = int(Decimal(prices[n - 1]) * 100)  # the venue's fill price
            broker.fill(held)
            done.add(held.order.order_id)
            tokens[n] = int(held.order.token)
            push(engine, tokens[n], prices[n - 1], 0)
    return [tokens[n] for n in sorted(tokens)]


def status(engine: Engine) -> PortfolioStatus:
    return engine.api.portfolios()[0].status


def exits(broker: ScriptedBroker) -> list[tuple[int, str]]:
    return [read_tag(h.order.tag)[:2] for h in broker.orders if read_tag(h.order.tag)[1] == "X"]  # type: ignore[index,misc]


def leg(engine: Engine, n: int) -> Any:
    return engine.api.portfolio_legs("Watched")[n - 1]


def test_multileg_trailing_leg_stop_follows_the_price_and_fires_on_the_first_tick_at_it(
    desk,
) -> None:
    engine, broker = desk
    legs = [
        {
            "side": "SELL",
            "instrument": "CE",
            "stop": {"measure": "points", "value": "20"},
            "trail": {"every": "10", "by": "5"},
        }
    ]
    start(engine, broker, legs)
    [token] = fill_entries_at(engine, broker, ["100"])
    assert status(engine) is PortfolioStatus.STARTED and leg(engine, 1).stop == Decimal(120)
    push(engine, token, "95")
    assert leg(engine, 1).stop == Decimal(120)  # half a step: not moved
    push(engine, token, "90")
    assert leg(engine, 1).stop == Decimal(115)
    push(engine, token, "74")
    assert leg(engine, 1).stop == Decimal(110)  # 26 points in favour: two steps of 10
    push(engine, token, "90")
    assert leg(engine, 1).stop == Decimal(110)  # a stop never moves back
    push(engine, token, "109.95")
    assert exits(broker) == []
    push(engine, token, "110")
    assert exits(broker) == [(1, "X")]
    assert "stop hit at 110.00" in leg(engine, 1).remark


def test_multileg_stop_moved_to_cost_after_another_legs_stop(desk) -> None:
    engine, broker = desk
    legs = [
        {"side": "SELL", "instrument": "CE", "stop": {"measure": "percent", "value": "30"}},
        {"side": "SELL", "instrument": "PE", "stop": {"measure": "percent", "value": "30"}},
    ]
    start(engine, broker, legs, stop_loss={"move_to_cost": True})
    call, put = fill_entries_at(engine, broker, ["100", "80"])
    assert leg(engine, 2).stop == Decimal(104)
    push(engine, put, "70")
    push(engine, call, "130")  # the call's stop: it exits, the put's stop moves to its cost
    assert exits(broker) == [(1, "X")]
    assert leg(engine, 2).stop == Decimal(80)
    assert "moved to cost" in leg(engine, 2).remark
    push(engine, put, "79.95")
    assert exits(broker) == [(1, "X")]
    push(engine, put, "80")
    assert exits(broker) == [(1, "X"), (2, "X")]


def test_multileg_minute_close_checks_use_the_close_not_the_ticks_within(desk) -> None:
    engine, broker = desk
    legs = [{"side": "SELL", "instrument": "CE", "stop": {"measure": "points", "value": "10"}}]
    start(engine, broker, legs, monitoring={"leg": "minute_close"})
    [token] = fill_entries_at(engine, broker, ["100"])
    now = engine.clock.now()
    to_next_minute = 60 - now.second - now.microsecond / 1e6
    push(engine, token, "100", to_next_minute)  # the first minute's close: the checks begin
    push(engine, token, "115", 10)  # beyond the stop within the minute ...
    push(engine, token, "105", 40)  # ... but back inside by its close
    push(engine, token, "112", 10)  # the new minute's first tick: the close (105) is checked
    assert exits(broker) == []
    push(engine, token, "111", 40)
    push(engine, token, "100", 20)  # the next minute's close was 111: beyond the stop
    assert exits(broker) == [(1, "X")]


def test_multileg_underlying_move_squares_off_every_leg(desk) -> None:
    engine, broker = desk
    legs = [
        {"side": "SELL", "instrument": "CE"},
        {"side": "SELL", "instrument": "PE"},
    ]
    start(engine, broker, legs, exit={"underlying_move": "50"})
    fill_entries_at(engine, broker, ["100", "90"])
    portfolio = engine.multileg.running("Watched")
    assert portfolio is not None
    spot_token, spot = portfolio.underlying_token, Decimal(portfolio.spot_at_entry) / 100
    push(engine, spot_token, str(spot - Decimal("49.95")))
    assert exits(broker) == []
    push(engine, spot_token, str(spot - 50))
    assert sorted(exits(broker)) == [(1, "X"), (2, "X")]
    assert status(engine) is PortfolioStatus.UNDER_EXIT
    assert "the underlying moved -50.00" in engine.api.portfolios()[0].reason


def test_multileg_leg_without_ticks_is_reported_and_exited_when_set(desk) -> None:
    engine, broker = desk
    said: list[str] = []
    engine.bus.subscribe(EngineMessage, lambda m: said.append(m.text))
    legs = [{"side": "SELL", "instrument": "CE"}, {"side": "SELL", "instrument": "PE"}]
    start(engine, broker, legs, monitoring={"stale_after": 20, "exit_when_stale": True})
    call, _put = fill_entries_at(engine, broker, ["100", "90"])
    for _ in range(100):
        push(engine, call, "100")  # the put falls silent
    assert any("no price for leg 2" in text for text in said)
    assert sorted(exits(broker)) == [(1, "X"), (2, "X")]
    assert "leg 2 has had no price for 2" in engine.api.portfolios()[0].reason


def test_multileg_entry_waits_for_the_net_premium_and_leaves_idle_legs(desk) -> None:
    engine, broker = desk
    legs = [
        {"side": "SELL", "instrument": "CE"},
        {"side": "SELL", "instrument": "PE"},
        {"side": "BUY", "instrument": "CE", "strike": {"kind": "atm", "offset": 6}, "idle": True},
    ]
    start(engine, broker, legs, execution={"combined_premium_at_least": "1000"})
    assert status(engine) is PortfolioStatus.MONITORING and broker.orders == []
    call, put = leg(engine, 1).token, leg(engine, 2).token
    push(engine, call, "600")
    push(engine, put, "399.95")
    push(engine, call, "600", 1)
    assert broker.orders == []  # 999.95 a unit
    push(engine, put, "400")
    push(engine, call, "600", 1)
    assert [read_tag(h.order.tag)[:2] for h in broker.orders] == [(1, "E"), (2, "E")]  # type: ignore[index]
    assert leg(engine, 3).state == "idle" and leg(engine, 3).token == 0


def test_multileg_not_a_run_day_waits(tmp_path) -> None:
    engine_iter = scripted_desk(tmp_path)
    engine, broker = next(engine_iter)
    try:
        assert engine.clock.now().strftime("%a") == "Mon"
        legs = [{"side": "SELL", "instrument": "CE"}]
        start(engine, broker, legs, defaults={"name": "Watched", "run_on": ["Tue", "Wed"]})
        assert status(engine) is PortfolioStatus.PENDING
        assert engine.api.portfolios()[0].reason == "not a run day (Mon)"
        assert broker.orders == []
    finally:
        for _ in engine_iter:
            pass


def test_multileg_stop_that_must_hold_fires_only_after_the_wait(desk) -> None:
    engine, broker = desk
    legs = [{"side": "SELL", "instrument": "CE", "stop": {"measure": "points", "value": "10"}}]
    start(engine, broker, legs, stop_loss={"wait_seconds": 5})
    [token] = fill_entries_at(engine, broker, ["100"])
    push(engine, token, "111")
    push(engine, token, "112", 4)
    push(engine, token, "109", 0.5)  # back inside before five seconds: the wait starts over
    push(engine, token, "110", 1)
    push(engine, token, "110", 4.5)
    assert exits(broker) == []
    push(engine, token, "110", 0.75)  # five seconds beyond the stop
    assert exits(broker) == [(1, "X")]


def test_multileg_leg_stop_set_to_square_off_all_exits_every_leg(desk) -> None:
    engine, broker = desk
    legs = [
        {"side": "SELL", "instrument": "CE", "stop": {"measure": "premium", "value": "150"}},
        {"side": "SELL", "instrument": "PE"},
        {"side": "BUY", "instrument": "CE", "strike": {"kind": "atm", "offset": 4}, "hedge": True},
    ]
    start(engine, broker, legs, exit={"on_leg_stop": "all"})
    fill_entries_at(engine, broker, ["100", "90", "20"])
    call = leg(engine, 1).token
    push(engine, call, "149.95")
    assert exits(broker) == []
    push(engine, call, "150")
    # Both sold legs at once; the hedge once they are out.
    assert sorted(exits(broker)) == [(1, "X"), (2, "X")]
    for held in [h for h in broker.orders if read_tag(h.order.tag)[1] == "X"]:  # type: ignore[index]
        broker.fill(held)
    push(engine, call, "150")
    assert sorted(exits(broker)) == [(1, "X"), (2, "X"), (3, "X")]


def test_multileg_catastrophe_stop_rests_at_the_broker_for_sold_legs_only(desk) -> None:
    engine, broker = desk
    legs = [
        {"side": "SELL", "instrument": "CE"},
        {"side": "BUY", "instrument": "CE", "strike": {"kind": "atm", "offset": 4}, "hedge": True},
    ]
    start(engine, broker, legs, at_broker={"catastrophe_pct": "100"})
    fill_entries_at(engine, broker, ["100", "8"])
    stops = [h for h in broker.orders if read_tag(h.order.tag)[1] == "S"]  # type: ignore[index]
    assert [read_tag(h.order.tag)[0] for h in stops] == [1]  # type: ignore[index]
    assert stops[0].order.trigger_price == 20000 and stops[0].order.side.value == "BUY"


def test_multileg_strategy_tag_max_loss_squares_off_its_portfolios_for_the_day(desk) -> None:
    engine, broker = desk
    assert engine.api.set_tag_limits("weekly", {"max_loss": "1000"}) is None
    assert engine.api.set_tag_limits("bad tag", {"max_loss": "1"}) is not None
    legs = [{"side": "SELL", "instrument": "CE"}, {"side": "SELL", "instrument": "PE"}]
    for name in ("First", "Second"):
        data = template_spec(
            engine,
            "short_straddle",
            name,
            legs=legs,
            defaults={"name": name, "tag": "weekly"},
            execution={"start": None},
        )
        assert engine.api.save_portfolio(data) is None
        assert engine.api.start_portfolio(name) is None
    call, _put = fill_entries_at(engine, broker, ["100", "90"])  # both portfolios
    push(engine, call, "107.65")  # each loses 7.65 × 65 = 497.25: 994.50 together
    assert exits(broker) == []
    push(engine, call, "107.70")  # 1,001 together
    assert len(exits(broker)) == 4
    assert engine.api.tag_mtm("weekly") == Decimal("-1001.00")
    for view in engine.api.portfolios():
        assert view.status is PortfolioStatus.UNDER_EXIT
        assert view.reason.startswith("tag weekly lost ₹1,001.00, its maximum loss is ₹1,000")
    for held in [h for h in broker.orders if read_tag(h.order.tag)[1] == "X"]:  # type: ignore[index]
        broker.fill(held)
    push(engine, call, "107.70")
    problem = engine.api.start_portfolio("First")
    assert problem is not None and problem.startswith("First does not start again today: tag")


def test_multileg_manual_start_waits_for_the_trader_to_enter(desk) -> None:
    engine, broker = desk
    legs = [{"side": "SELL", "instrument": "CE"}]
    start(engine, broker, legs, execution={"manual_start": True, "start": "09:30:00"})
    view = engine.api.portfolios()[0]
    assert (
        view.status is PortfolioStatus.MONITORING
        and view.reason == "waiting for the trader to enter"
    )
    token = engine.api.portfolio_legs("Watched")[0].token
    assert token == 0  # nothing chosen before the trader enters
    spot = engine.multileg.running("Watched")
    assert spot is not None
    for _ in range(20):
        push(engine, spot.underlying_token, "26000", 1)
    assert broker.orders == []
    assert engine.api.enter_portfolio("Watched") is None
    assert [read_tag(h.order.tag)[:2] for h in broker.orders] == [(1, "E")]  # type: ignore[index]
    assert (
        engine.api.enter_portfolio("Watched") == "Watched is UnderExecution, not waiting to enter"
    )


def test_multileg_interval_checks_look_every_n_seconds_only(desk) -> None:
    engine, broker = desk
    legs = [{"side": "SELL", "instrument": "CE", "stop": {"measure": "points", "value": "10"}}]
    start(engine, broker, legs, monitoring={"leg": "interval", "interval_seconds": 5})
    [token] = fill_entries_at(engine, broker, ["100"])
    push(engine, token, "100", 0.25)  # the checks' clock starts
    push(engine, token, "111", 1)  # beyond the stop between two checks ...
    push(engine, token, "100", 1)  # ... and back before the next: nothing
    push(engine, token, "100", 3.5)
    assert exits(broker) == []
    push(engine, token, "112", 1)
    push(engine, token, "112", 4.5)  # the next check sees 112
    assert exits(broker) == [(1, "X")]


def test_multileg_futures_leg_trades_the_months_future(desk) -> None:
    engine, broker = desk
    legs = [{"side": "BUY", "instrument": "FUT", "expiry": "CM"}]
    start(engine, broker, legs)
    [held] = broker.orders
    future = engine.registry.get(held.order.token)
    assert future is not None and future.instrument_type.value == "FUT"
    assert future.underlying == "NIFTY" and held.order.quantity == future.lot_size
    months = sorted(
        i.expiry
        for i in engine.registry
        if i.underlying == "NIFTY" and i.instrument_type is future.instrument_type
    )
    assert future.expiry == months[0]


def test_multileg_combined_target_when_a_held_leg_has_no_price_yet_waits_for_one(desk) -> None:
    """Resumed after a restart, a leg may hold its position before its first tick: marked at 0,
    the sold put would read as its whole premium earned and reach the combined target. The
    levels wait until every held leg has a price, then judge the real MTM."""
    engine, broker = desk
    start(
        engine,
        broker,
        [{"side": "SELL", "instrument": "CE"}, {"side": "SELL", "instrument": "PE"}],
        target={"combined": {"value": "1000"}},
    )
    call, put = fill_entries_at(engine, broker, ["100", "100"])
    portfolio = engine.multileg.running("Watched")
    assert portfolio is not None
    portfolio.legs[1].ltp = 0  # as a leg restored before the feed's first tick of it
    push(engine, call, "100", 6)
    assert exits(broker) == [] and status(engine) is PortfolioStatus.STARTED
    push(engine, put, "100", 6)  # its price comes: the MTM is 0, far from the target
    assert exits(broker) == [] and status(engine) is PortfolioStatus.STARTED
    push(engine, call, "60", 6)  # a real ₹40 a unit earned on the call reaches it
    assert [n for n, _kind in exits(broker)] == [1, 2]
