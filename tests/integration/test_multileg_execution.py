"""Multileg execution under a broker that does what the test says, when it says: acks that come
late or never, rejections, partial fills. Hedges go first, an acknowledged order that does not
fill is re-priced then sent at a protected market price, quantities above the freeze quantity
are sliced at the rate set, a failed leg is kept or unwound as set, and no leg is ever placed
twice, whatever arrives when."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.domain.events import EngineMessage
from engine.domain.orders import OrderType, Side
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine
from engine.strategies.multileg.legrun import read_tag
from engine.strategies.multileg.status import PortfolioStatus
from tests.multileg_support import ScriptedBroker, run_market, scripted_desk, template_spec


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Engine, ScriptedBroker]]:
    yield from scripted_desk(tmp_path)


def _start(engine: Engine, data: dict[str, Any]) -> str:
    assert engine.api.save_portfolio(data) is None
    name = data["defaults"]["name"]
    assert engine.api.start_portfolio(name) is None
    return name


def _status(engine: Engine, name: str) -> PortfolioStatus:
    return next(v.status for v in engine.api.portfolios() if v.name == name)


def _tags(broker: ScriptedBroker) -> list[tuple[int, str, int]]:
    tags = [read_tag(h.order.tag) for h in broker.orders]
    assert None not in tags
    return tags  # type: ignore[return-value]


def _no_leg_twice(broker: ScriptedBroker, engine: Engine, name: str) -> None:
    """Every leg's entry orders add up to no more than the leg, and no tag is used twice."""
    tags = _tags(broker)
    assert len(set(tags)) == len(tags), tags
    quantity = {leg.n: leg.quantity for leg in engine.api.portfolio_legs(name)}
    entered: dict[int, int] = {}
    for held, (leg, purpose, _n) in zip(broker.orders, tags, strict=True):
        if purpose == "E":
            entered[leg] = entered.get(leg, 0) + held.order.quantity
    for leg, total in entered.items():
        assert total <= quantity[leg], (leg, total, quantity[leg])


def test_multileg_iron_condor_with_slow_acks_sends_hedges_first_and_nothing_twice(desk) -> None:
    engine, broker = desk
    name = _start(
        engine,
        template_spec(engine, "iron_condor", "Slow", execution={"start": None, "chase_after": 2}),
    )
    run_market(engine, 10)  # no ack for ten seconds: nothing is chased, nothing is re-sent
    assert _status(engine, name) is PortfolioStatus.UNDER_EXECUTION
    assert [h.order.side for h in broker.orders] == [Side.BUY, Side.BUY]
    assert all(not h.changes for h in broker.orders)
    first, second = broker.orders
    broker.fill(first)
    run_market(engine, 5)
    assert len(broker.orders) == 2  # one hedge in: the sold legs still wait for the other
    broker.fill(second)
    run_market(engine, 0.5)
    assert [h.order.side for h in broker.orders[2:]] == [Side.SELL, Side.SELL]
    for held in broker.orders[2:]:
        broker.fill(held)
    run_market(engine, 0.5)
    assert _status(engine, name) is PortfolioStatus.STARTED
    _no_leg_twice(broker, engine, name)
    assert len(broker.orders) == 4


def test_multileg_entry_not_filled_is_repriced_then_sent_at_a_protected_market_price(desk) -> None:
    engine, broker = desk
    legs = [{"side": "BUY", "instrument": "CE", "strike": {"kind": "atm"}}]
    name = _start(
        engine,
        template_spec(
            engine,
            "long_straddle",
            "Chase",
            legs=legs,
            execution={"start": None, "chase_after": 1, "chase_retries": 3},
        ),
    )
    [held] = broker.orders
    broker.ack(held)
    run_market(engine, 0.75)
    assert not held.changes  # not yet: a second has not passed
    run_market(engine, 2.5)
    prices = [c.price for c in held.changes]
    assert len(prices) == 3 and all(c.order_type is None for c in held.changes)
    run_market(engine, 1)
    assert len(held.changes) == 4
    protected = held.changes[-1]
    # Sent "at market": the gate makes it a limit beyond the last price (market protection).
    ltp = engine.api.tick(held.order.token).ltp
    assert protected.order_type is OrderType.LIMIT and protected.price is not None
    assert protected.price > ltp
    run_market(engine, 5)
    assert len(held.changes) == 4  # at market: no more re-pricing
    broker.fill(held)
    run_market(engine, 0.5)
    assert _status(engine, name) is PortfolioStatus.STARTED
    assert len(broker.orders) == 1


def test_multileg_leg_above_the_freeze_quantity_is_sliced_at_the_rate_set(desk) -> None:
    engine, broker = desk
    legs = [{"side": "BUY", "instrument": "PE", "strike": {"kind": "atm"}, "lots": 60}]
    name = _start(
        engine,
        template_spec(
            engine,
            "long_straddle",
            "Sliced",
            legs=legs,
            execution={"start": None, "slices_per_second": 2, "chase_after": 60},
        ),
    )
    [leg] = engine.api.portfolio_legs(name)
    instrument = engine.registry.get(leg.token)
    freeze, lot = instrument.freeze_quantity, instrument.lot_size
    assert leg.quantity == 60 * lot > freeze
    most = freeze // lot * lot
    expected = [most] * (leg.quantity // most) + (
        [leg.quantity % most] if leg.quantity % most else []
    )
    assert len(broker.orders) == 2  # two a second
    sent_at = [engine.clock.time_ns()] * 2
    while len(broker.orders) < len(expected):
        before = len(broker.orders)
        run_market(engine, 0.25)
        sent_at += [engine.clock.time_ns()] * (len(broker.orders) - before)
    assert [h.order.quantity for h in broker.orders] == expected
    for i in range(len(sent_at) - 2):
        assert sent_at[i + 2] - sent_at[i] >= 10**9  # never a third within one second
    for held in broker.orders:
        broker.fill(held)
    run_market(engine, 0.5)
    assert _status(engine, name) is PortfolioStatus.STARTED
    _no_leg_twice(broker, engine, name)


def test_multileg_leg_the_risk_gate_slices_is_known_by_every_slice(tmp_path: Path) -> None:
    """With the portfolio's own slicing off and the risk gate's on, the gate sends the leg as
    slices: each carries the leg's tag and counts to the leg once, none twice."""
    limits = RiskLimits(
        slice_above_freeze=True,
        max_order_value=None,
        max_orders_per_second=None,
        max_orders_per_minute=None,
        max_position_lots=1000,
        max_underlying_lots=2000,
        capital=Decimal(10**9),
    )
    made = scripted_desk(tmp_path, risk=RiskSettings(limits))
    engine, broker = next(made)
    try:
        legs = [{"side": "BUY", "instrument": "PE", "strike": {"kind": "atm"}, "lots": 60}]
        execution = {"start": None, "slice_at_freeze": False, "chase_after": 60}
        name = _start(
            engine, template_spec(engine, "long_straddle", "Gate", legs=legs, execution=execution)
        )
        run_market(engine, 0.5)
        [leg] = engine.api.portfolio_legs(name)
        assert len(broker.orders) > 1, "the gate sliced the leg"
        assert sum(h.order.quantity for h in broker.orders) == leg.quantity
        for held in broker.orders:
            broker.fill(held)
        run_market(engine, 0.5)
        running = engine.multileg.running(name)
        assert running is not None
        [leg_run] = running.legs
        assert (leg_run.position, leg_run.entry_qty) == (leg.quantity, leg.quantity)
        assert leg_run.working("E") == 0
        assert _status(engine, name) is PortfolioStatus.STARTED
        assert {read_tag(h.order.tag) for h in broker.orders} == {(1, "E", 1)}
    finally:
        made.close()


@pytest.mark.parametrize("on_failure", ["unwind", "keep"])
def test_multileg_leg_rejected_after_another_filled_is_unwound_or_kept(desk, on_failure) -> None:
    engine, broker = desk
    name = _start(
        engine,
        template_spec(
            engine,
            "short_straddle",
            "Fails",
            execution={"start": None, "on_leg_failure": on_failure},
        ),
    )
    call, put = broker.orders
    broker.fill(call)
    broker.reject(put)
    run_market(engine, 1)
    legs = engine.api.portfolio_legs(name)
    assert legs[1].state == "failed" and "RMS: margin exceeds" in legs[1].remark
    if on_failure == "unwind":
        assert _status(engine, name) is PortfolioStatus.UNDER_EXIT
        [exit_order] = broker.orders[2:]
        assert (
            exit_order.order.side is Side.BUY and exit_order.order.quantity == call.order.quantity
        )
        assert read_tag(exit_order.order.tag)[:2] == (1, "X")  # type: ignore[index]
        broker.fill(exit_order)
        run_market(engine, 0.5)
        assert _status(engine, name) is PortfolioStatus.COMPLETED
    else:
        assert _status(engine, name) is PortfolioStatus.FAILED
        assert len(broker.orders) == 2  # kept: nothing sent
        run_market(engine, 10)
        assert len(broker.orders) == 2  # and never re-sent by itself
        assert engine.api.square_off_portfolio(name) is None
        [exit_order] = broker.orders[2:]
        broker.fill(exit_order)
        run_market(engine, 0.5)
        assert _status(engine, name) is PortfolioStatus.COMPLETED
    _no_leg_twice(broker, engine, name)
    assert not [p for p in engine.api.positions() if p.net_quantity]


def test_multileg_first_order_rejected_rejects_the_portfolio_and_sends_nothing_more(desk) -> None:
    engine, broker = desk
    name = _start(
        engine,
        template_spec(engine, "iron_condor", "Refused", execution={"start": None}),
    )
    first, second = broker.orders
    broker.reject(first, "Insufficient funds")
    run_market(engine, 5)
    # The other hedge is pulled back, but the broker has not acknowledged it: it can only be
    # cancelled once it has, and until it has ended it may still fill.
    assert _status(engine, name) is PortfolioStatus.UNDER_EXECUTION
    assert not second.cancelled
    broker.ack(second)
    assert second.cancelled
    run_market(engine, 1)
    assert _status(engine, name) is PortfolioStatus.REJECTED
    assert len(broker.orders) == 2
    view = next(v for v in engine.api.portfolios() if v.name == name)
    assert "Insufficient funds" in view.reason and not view.running


def test_multileg_partial_fill_then_cancelled_rest_unwinds_what_filled(desk) -> None:
    engine, broker = desk
    legs = [
        {"side": "SELL", "instrument": "CE", "strike": {"kind": "atm"}, "lots": 2},
        {"side": "SELL", "instrument": "PE", "strike": {"kind": "atm"}, "lots": 2},
    ]
    name = _start(
        engine,
        template_spec(engine, "short_straddle", "Partial", legs=legs, execution={"start": None}),
    )
    call, put = broker.orders
    lot = call.order.quantity // 2
    broker.fill(call, lot)  # one lot of two
    broker.fill(put)
    broker.cancel_rest(call)
    run_market(engine, 1)
    assert _status(engine, name) is PortfolioStatus.UNDER_EXIT
    exits = broker.orders[2:]
    by_leg = {read_tag(h.order.tag)[0]: h.order.quantity for h in exits}  # type: ignore[index]
    assert by_leg == {1: lot, 2: 2 * lot}  # exactly what each leg holds
    for held in exits:
        broker.fill(held)
    run_market(engine, 0.5)
    assert _status(engine, name) is PortfolioStatus.COMPLETED
    assert not [p for p in engine.api.positions() if p.net_quantity]
    _no_leg_twice(broker, engine, name)


def test_multileg_entry_pulled_back_that_fills_anyway_is_unwound(desk) -> None:
    engine, broker = desk
    broker.cancels_at_once = False
    name = _start(
        engine,
        template_spec(engine, "iron_condor", "Late fill", execution={"start": None}),
    )
    first, second = broker.orders
    broker.reject(first)
    broker.ack(second)
    assert second.cancel_asked  # pulled back the moment it was acknowledged
    broker.fill(second)  # ... but the exchange filled it first
    run_market(engine, 1)
    assert _status(engine, name) is PortfolioStatus.UNDER_EXIT
    [unwind] = broker.orders[2:]
    assert unwind.order.side is Side.SELL and unwind.order.quantity == second.order.quantity
    broker.fill(unwind)
    run_market(engine, 0.5)
    assert _status(engine, name) is PortfolioStatus.COMPLETED
    assert not [p for p in engine.api.positions() if p.net_quantity]
    _no_leg_twice(broker, engine, name)


def test_multileg_stops_rest_at_the_broker_and_become_the_exit(desk) -> None:
    engine, broker = desk
    said: list[str] = []
    engine.bus.subscribe(EngineMessage, lambda m: said.append(m.text))
    name = _start(
        engine,
        template_spec(
            engine,
            "short_straddle",
            "At broker",
            execution={"start": None},
            at_broker={"leg_stops": True, "limit_gap_pct": "5"},
        ),
    )
    for held in list(broker.orders):
        broker.fill(held)
    run_market(engine, 0.5)
    assert _status(engine, name) is PortfolioStatus.STARTED
    stops = broker.orders[2:]
    assert [read_tag(h.order.tag)[1] for h in stops] == ["S", "S"]  # type: ignore[index]
    for entry, stop in zip(broker.orders[:2], stops, strict=True):
        order = stop.order
        assert order.order_type is OrderType.SL and order.side is Side.BUY
        assert order.quantity == entry.order.quantity
        level = Decimal(entry.order.price) * Decimal("1.3")  # the leg's 30 % stop
        tick = engine.registry.get(order.token).tick_size
        assert order.trigger_price == math.ceil(level / tick) * tick  # on the tick, at or above
        assert order.price == math.ceil(order.trigger_price * Decimal("1.05") / tick) * tick
        broker.ack(stop)
    # The broker drops one of them: the trader is told, and the desk watches that leg itself.
    broker.cancel_rest(stops[1])
    assert any("its stop at the broker was cancelled" in text for text in said)
    assert engine.api.square_off_portfolio(name) is None
    run_market(engine, 0.5)
    # The resting stop becomes the exit (re-priced to fill now); the dropped one is replaced by
    # an exit order: never both for one leg.
    assert stops[0].changes and stops[0].changes[0].order_type is OrderType.LIMIT
    exits = [h for h in broker.orders[4:]]
    assert [read_tag(h.order.tag)[:2] for h in exits] == [(2, "X")]  # type: ignore[index]
    broker.fill(stops[0])
    broker.fill(exits[0])
    run_market(engine, 0.5)
    assert _status(engine, name) is PortfolioStatus.COMPLETED
    assert not [p for p in engine.api.positions() if p.net_quantity]


def test_multileg_square_off_while_slices_wait_ends_with_nothing_left_working(desk) -> None:
    engine, broker = desk
    legs = [{"side": "BUY", "instrument": "PE", "strike": {"kind": "atm"}, "lots": 60}]
    name = _start(
        engine,
        template_spec(
            engine,
            "long_straddle",
            "Queued slices",
            legs=legs,
            execution={"start": None, "slices_per_second": 1},
        ),
    )
    [first] = broker.orders  # one slice a second: the others wait in the portfolio
    assert engine.api.square_off_portfolio(name) is None
    run_market(engine, 3)
    assert len(broker.orders) == 1  # the waiting slices are dropped, not sent
    assert _status(engine, name) is PortfolioStatus.UNDER_EXIT
    broker.ack(first)  # acknowledged at last: now it can be withdrawn
    assert first.cancel_asked
    run_market(engine, 1)
    assert _status(engine, name) is PortfolioStatus.COMPLETED
    assert [leg.state for leg in engine.api.portfolio_legs(name)] == ["exited"]


def test_multileg_hedge_stopped_out_while_entering_does_not_hold_up_the_rest(desk) -> None:
    engine, broker = desk
    stop = {"measure": "percent", "value": "50"}
    legs = [
        {"side": "SELL", "instrument": "CE", "strike": {"kind": "atm", "offset": 2}},
        {"side": "SELL", "instrument": "PE", "strike": {"kind": "atm", "offset": -2}},
        {
            "side": "BUY",
            "instrument": "CE",
            "strike": {"kind": "atm", "offset": 5},
            "hedge": True,
            "stop": stop,
        },
        {
            "side": "BUY",
            "instrument": "PE",
            "strike": {"kind": "atm", "offset": -5},
            "hedge": True,
            "stop": stop,
        },
    ]
    name = _start(
        engine,
        template_spec(
            engine,
            "iron_condor",
            "Hedge out",
            legs=legs,
            execution={"start": None},
            at_broker={"leg_stops": True},
        ),
    )
    call_hedge, put_hedge = broker.orders
    broker.fill(call_hedge)
    run_market(engine, 0.25)
    [resting] = broker.orders[2:]
    assert read_tag(resting.order.tag)[:2] == (3, "S")  # type: ignore[index]
    broker.fill(resting)  # the call hedge is stopped out before the put hedge is in
    broker.fill(put_hedge)
    run_market(engine, 0.5)
    sold = [
        h for h in broker.orders if h.order.side is Side.SELL and read_tag(h.order.tag)[1] == "E"
    ]  # type: ignore[index]
    assert len(sold) == 2  # the sold legs still go in
    for held in sold:
        broker.fill(held)
    run_market(engine, 0.5)
    assert _status(engine, name) is PortfolioStatus.STARTED
    states = [leg.state for leg in engine.api.portfolio_legs(name)]
    assert states == ["entered", "entered", "exited", "entered"]
