"""A leg's own action on its stop or target, on the simulated market with prices set tick by tick
by the test and every order filled by it: each re-entry kind re-enters where and when it should
and stops at its count; the safety seconds stop a re-execute loop on a price that swings about
the stop; no re-entry after the end time or after the stop moved to cost; a whole-portfolio
re-execute, an idle leg executed, another portfolio started."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.core.clock import TestClock
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import InstrumentType
from engine.domain.ticks import Tick
from engine.runtime import Engine
from engine.strategies.multileg.legrun import read_tag
from engine.strategies.multileg.status import PortfolioStatus
from tests.multileg_support import Recorder, ScriptedBroker, scripted_desk, template_spec

NAME = "Again"
STOP_120 = {"measure": "premium", "value": "120"}
"""An absolute stop: every leg of a line stops at the same price, whatever its entry."""


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Engine, ScriptedBroker]]:
    yield from scripted_desk(tmp_path)


def push(engine: Engine, token: int, rupees: str, seconds: float = 0.25) -> None:
    assert isinstance(engine.clock, TestClock)
    engine.clock.advance(seconds)
    paise = int(Decimal(rupees) * 100)
    now = engine.clock.time_ns()
    engine.on_tick(Tick(InstrumentToken(token), paise, paise - 5, paise + 5, 500, 500, 0, 0, now))


def start(engine: Engine, legs: list[dict[str, Any]], name: str = NAME, **sections: Any) -> str:
    execution = {"start": None, **sections.pop("execution", {})}
    data = template_spec(engine, "short_straddle", name, legs=legs, execution=execution, **sections)
    assert engine.api.save_portfolio(data) is None
    assert engine.api.start_portfolio(name) is None
    return name


def orders(broker: ScriptedBroker, purpose: str) -> list[tuple[int, str, str]]:
    """(leg, side, token) of every order for ``purpose`` (E entry, X exit), in order."""
    found = []
    for held in broker.orders:
        tagged = read_tag(held.order.tag)
        if tagged is not None and tagged[1] == purpose:
            found.append((tagged[0], held.order.side.value, str(held.order.token)))
    return found


def fill_all(engine: Engine, broker: ScriptedBroker, rupees: str) -> int:
    """Fill the orders working now at ``rupees`` (a tick at that price after each), not those
    their fills cause; how many."""
    waiting = broker.unfilled()
    for held in waiting:
        held.order.price = int(Decimal(rupees) * 100)
        broker.fill(held)
        push(engine, int(held.order.token), rupees, 0)
    return len(waiting)


def status(engine: Engine, name: str = NAME) -> PortfolioStatus:
    return next(v for v in engine.api.portfolios() if v.name == name).status


def legs(engine: Engine, name: str = NAME) -> list[Any]:
    return engine.api.portfolio_legs(name)


def sell_call(**settings: Any) -> dict[str, Any]:
    return {"side": "SELL", "instrument": "CE", "stop": STOP_120, **settings}


def test_multileg_reentry_re_execute_enters_again_at_atm_and_stops_at_its_count(desk) -> None:
    engine, broker = desk
    start(engine, [sell_call(on_stop={"action": "re_execute", "count": 2})])
    fill_all(engine, broker, "100")
    token = int(legs(engine)[0].token)
    for round_ in range(3):
        push(engine, token, "119.95", 4)
        assert len(orders(broker, "X")) == round_
        push(engine, token, "120")
        assert len(orders(broker, "X")) == round_ + 1  # the stop: this leg exits
        fill_all(engine, broker, "120")  # its exit fills: the re-execute enters
        fill_all(engine, broker, "100")
    entries = orders(broker, "E")
    assert [n for n, _side, _token in entries] == [1, 2, 3]  # the leg, then twice again
    assert {side for _n, side, _token in entries} == {"SELL"}
    assert {tok for _n, _side, tok in entries} == {str(token)}  # ATM has not moved
    assert status(engine) is PortfolioStatus.COMPLETED
    remark = legs(engine)[2].remark
    assert (
        "re execute not taken: done 2 times already, its count" in remark
        or legs(engine)[2].state == "exited"
    )


def test_multileg_reentry_reversed_buys_what_was_sold_once(desk) -> None:
    engine, broker = desk
    start(engine, [sell_call(on_stop={"action": "re_execute_reversed"})])
    fill_all(engine, broker, "100")
    token = int(legs(engine)[0].token)
    push(engine, token, "121")
    fill_all(engine, broker, "121")
    entries = orders(broker, "E")
    assert [(n, side) for n, side, _t in entries] == [(1, "SELL"), (2, "BUY")]
    fill_all(engine, broker, "121")
    push(engine, token, "119")  # the bought leg's stop (at or below 120): its count is spent
    fill_all(engine, broker, "119")
    assert len(orders(broker, "E")) == 2
    assert status(engine) is PortfolioStatus.COMPLETED


def test_multileg_reentry_at_cost_waits_for_the_original_entry(desk) -> None:
    engine, broker = desk
    start(engine, [sell_call(on_stop={"action": "re_entry_at_cost"})])
    fill_all(engine, broker, "100")
    token = int(legs(engine)[0].token)
    push(engine, token, "121")
    fill_all(engine, broker, "121")
    for price in ("130", "110", "100.05"):
        push(engine, token, price)
        assert len(orders(broker, "E")) == 1, price
    assert status(engine) is PortfolioStatus.STARTED  # waiting: not done with nothing held
    push(engine, token, "100")
    assert orders(broker, "E")[1] == (2, "SELL", str(token))  # the same contract, at cost


def test_multileg_reentry_on_momentum_waits_for_the_move_from_the_exit(desk) -> None:
    engine, broker = desk
    start(engine, [sell_call(on_stop={"action": "re_entry_momentum", "momentum": "15"})])
    fill_all(engine, broker, "100")
    token = int(legs(engine)[0].token)
    push(engine, token, "121")
    fill_all(engine, broker, "122")  # exits at 122: re-enter a sale once 15 lower, at 107
    push(engine, token, "107.05")
    assert len(orders(broker, "E")) == 1
    push(engine, token, "107")
    assert orders(broker, "E")[1] == (2, "SELL", str(token))


def test_multileg_reentry_after_fill_enters_the_new_leg_before_closing_the_old(desk) -> None:
    engine, broker = desk
    start(engine, [sell_call(on_stop={"action": "re_execute", "after_fill": True})])
    fill_all(engine, broker, "100")
    token = int(legs(engine)[0].token)
    push(engine, token, "121")
    push(engine, token, "122")  # the spent stop does not fire again meanwhile
    assert orders(broker, "X") == [] and [n for n, *_ in orders(broker, "E")] == [1, 2]
    new = next(h for h in broker.unfilled())
    new.order.price = 12200
    broker.fill(new)
    assert [n for n, *_ in orders(broker, "X")] == [1]  # the old leg, only once the new filled


def test_multileg_reentry_safety_seconds_stop_a_loop_on_a_price_swinging_about_the_stop(
    desk,
) -> None:
    engine, broker = desk
    start(engine, [sell_call(on_stop={"action": "re_execute", "count": 10})])
    fill_all(engine, broker, "100")
    token = int(legs(engine)[0].token)
    said = Recorder().attach(engine).said
    for price in ["121", "119"] * 20:  # 10 s swinging about 120, a quarter second a tick
        push(engine, token, price)
        fill_all(engine, broker, price)
    entries = [n for n, *_ in orders(broker, "E")]
    assert entries == [1, 2]  # re-executed once; the next stop came 0.5 s later: refused
    assert any("inside its 3 s safety" in text for text in said), said
    assert status(engine) is PortfolioStatus.COMPLETED


def test_multileg_reentry_count_holds_when_the_stops_come_slower_than_the_safety(desk) -> None:
    engine, broker = desk
    start(engine, [sell_call(on_stop={"action": "re_execute", "count": 3})])
    fill_all(engine, broker, "100")
    token = int(legs(engine)[0].token)
    for _ in range(6):
        push(engine, token, "121", 4)  # the stop, 4 s after the last: outside the safety
        fill_all(engine, broker, "121")  # the exit
        fill_all(engine, broker, "119")  # the re-execute's entry, if any
    assert [n for n, *_ in orders(broker, "E")] == [1, 2, 3, 4]
    assert status(engine) is PortfolioStatus.COMPLETED


def test_multileg_reentry_not_after_the_end_time(desk) -> None:
    engine, broker = desk
    start(
        engine,
        [sell_call(on_stop={"action": "re_execute"})],
        execution={"end": "09:20:00", "square_off": "15:15:00"},
    )
    fill_all(engine, broker, "100")
    token = int(legs(engine)[0].token)
    push(engine, token, "110", 120)  # 09:20 passes
    push(engine, token, "121")
    fill_all(engine, broker, "121")
    assert len(orders(broker, "E")) == 1
    assert (
        "past the entry window's end (09:20)" in legs(engine)[0].remark
        or status(engine) is PortfolioStatus.COMPLETED
    )
    assert status(engine) is PortfolioStatus.COMPLETED


def test_multileg_reentry_not_after_the_stop_moved_to_cost(desk) -> None:
    engine, broker = desk
    legs_ = [
        sell_call(),
        {"side": "SELL", "instrument": "PE", "stop": {"measure": "points", "value": "30"}},
    ]
    legs_[1]["on_stop"] = {"action": "re_execute"}
    start(engine, legs_, stop_loss={"move_to_cost": True})
    fill_all(engine, broker, "100")
    call, put = (int(leg.token) for leg in legs(engine))
    said = Recorder().attach(engine).said
    push(engine, call, "121")  # the call's stop: the put's stop moves to its cost, 100
    assert legs(engine)[1].stop == Decimal(100)
    push(engine, put, "100", 5)
    fill_all(engine, broker, "100")
    assert [n for n, *_ in orders(broker, "E")] == [1, 2]
    assert any("its stop was moved to cost" in text for text in said), said


def test_multileg_reentry_whole_portfolio_enters_every_leg_again_once_all_closed(desk) -> None:
    engine, broker = desk
    legs_ = [
        sell_call(on_stop={"action": "re_execute_portfolio"}),
        {"side": "SELL", "instrument": "PE"},
    ]
    start(engine, legs_)
    fill_all(engine, broker, "100")
    call = int(legs(engine)[0].token)
    push(engine, call, "121")
    assert sorted(n for n, *_ in orders(broker, "X")) == [1, 2]
    assert [n for n, *_ in orders(broker, "E")] == [1, 2]  # nothing before both are out
    fill_all(engine, broker, "121")
    assert sorted(n for n, *_ in orders(broker, "E")) == [1, 2, 3, 4]
    fill_all(engine, broker, "100")
    assert [leg.state for leg in legs(engine)][2:] == ["entered", "entered"]


def test_multileg_reentry_executes_an_idle_leg_and_keeps_the_leg_running(desk) -> None:
    engine, broker = desk
    legs_ = [
        sell_call(
            target={"measure": "premium", "value": "80"},
            on_target={"action": "execute_leg", "leg": 2, "keep_leg_running": True},
        ),
        {"side": "SELL", "instrument": "PE", "idle": True},
    ]
    start(engine, legs_)
    fill_all(engine, broker, "100")
    call = int(legs(engine)[0].token)
    push(engine, call, "80")
    push(engine, call, "79")  # the spent target does not fire twice
    assert orders(broker, "X") == []
    assert [(n, side) for n, side, _t in orders(broker, "E")] == [(1, "SELL"), (2, "SELL")]
    assert legs(engine)[0].state == "entered"


def test_multileg_reentry_starts_another_portfolio(desk) -> None:
    engine, broker = desk
    other = template_spec(engine, "short_straddle", "Other", execution={"start": "14:00:00"})
    assert engine.api.save_portfolio(other) is None
    start(
        engine,
        [
            sell_call(
                target={"measure": "premium", "value": "80"},
                on_target={"action": "start_portfolio", "portfolio": "Other"},
            )
        ],
    )
    fill_all(engine, broker, "100")
    push(engine, int(legs(engine)[0].token), "80")
    assert status(engine, "Other") is PortfolioStatus.PENDING
    assert [n for n, *_ in orders(broker, "X")] == [1]


def test_multileg_reentry_when_the_stop_fills_at_the_broker_re_executes_too(desk) -> None:
    engine, broker = desk
    start(engine, [sell_call(on_stop={"action": "re_execute"})], at_broker={"leg_stops": True})
    fill_all(engine, broker, "100")
    assert [n for n, *_ in orders(broker, "S")] == [1]  # the stop rests at the broker
    [stop] = broker.unfilled()
    broker.fill(stop)  # the exchange fills it as the price crosses
    assert [(n, side) for n, side, _t in orders(broker, "E")] == [(1, "SELL"), (2, "SELL")]
    assert legs(engine)[0].state == "exited" and legs(engine)[1].state == "entering"


def test_multileg_reentry_duplicate_pyramids_and_the_stop_squares_off_the_linked_copy(
    desk,
) -> None:
    engine, broker = desk
    leg = sell_call(
        target={"measure": "premium", "value": "80"},
        on_target={"action": "duplicate", "lots": 2, "keep_leg_running": True},
        on_stop={"action": "re_entry_at_cost", "square_off_linked": True},
    )
    start(engine, [leg])
    fill_all(engine, broker, "100")
    call = int(legs(engine)[0].token)
    push(engine, call, "80")  # the target: a copy of two lots, the leg kept
    assert [(n, side) for n, side, _t in orders(broker, "E")] == [(1, "SELL"), (2, "SELL")]
    copy = broker.unfilled()[0].order
    assert copy.quantity == 2 * 65 and str(copy.token) == str(call)
    fill_all(engine, broker, "80")
    push(engine, call, "120")  # leg 1's stop: it closes, and so does the copy it opened
    assert sorted(n for n, *_ in orders(broker, "X")) == [1, 2]


def test_multileg_reentry_at_the_opposite_legs_price_picks_the_call_priced_like_the_put(
    desk,
) -> None:
    engine, broker = desk
    legs_ = [
        sell_call(on_stop={"action": "re_execute", "strike": "opposite_ltp"}),
        {"side": "SELL", "instrument": "PE"},
    ]
    start(engine, legs_)
    fill_all(engine, broker, "100")
    call, put = (int(leg.token) for leg in legs(engine))
    push(engine, put, "41.30")  # the put's price now: the new call is priced nearest it
    push(engine, call, "121")
    fill_all(engine, broker, "121")
    [new] = [h.order for h in broker.unfilled()]
    expiry = legs(engine)[0].expiry
    prices = {}
    for option in engine.api.instruments.search(
        underlying="NIFTY", expiry=expiry, instrument_type=InstrumentType.CE, limit=500
    ):
        tick = engine.api.tick(option.token)
        if tick is not None and tick.ltp:
            prices[int(option.token)] = abs(Decimal(tick.ltp) / 100 - Decimal("41.30"))
    assert int(new.token) == min(prices, key=lambda token: prices[token])
    assert int(new.token) != call
