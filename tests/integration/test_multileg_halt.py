"""A trading halt and the multileg portfolios, on the simulated market with prices set tick by
tick and every order filled by the test: the kill switch's or a breaker's square-off completes an
entered portfolio ("closed by ... square-off") and it trades nothing after the re-arm, even when
its stop is crossed; a halt that squares nothing off leaves it Failed, to square off by hand; a
portfolio waiting for its entry time is stopped and does not enter after the re-arm; and an exit
never sends more than the account holds of the contract."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.domain.events import TradingState
from engine.domain.origin import OrderSource
from engine.domain.values import Paise
from engine.runtime import Engine
from engine.strategies.multileg.base import portfolio_strategy_id
from engine.strategies.multileg.status import PortfolioStatus
from tests.integration.test_multileg_reentry import (
    NAME,
    STOP_120,
    fill_all,
    legs,
    orders,
    push,
    start,
    status,
)
from tests.multileg_support import ScriptedBroker, run_market, scripted_desk


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Engine, ScriptedBroker]]:
    yield from scripted_desk(tmp_path)


def _reason(engine: Engine, name: str = NAME) -> str:
    return next(v for v in engine.api.portfolios() if v.name == name).reason


def _straddle(engine: Engine, broker: ScriptedBroker, lots: int = 1, **sections: Any) -> list[int]:
    """A short straddle with a 120 stop that re-executes, entered at 100; its legs' tokens."""
    leg = {
        "side": "SELL",
        "lots": lots,
        "stop": STOP_120,
        "on_stop": {"action": "re_execute", "count": 2},
    }
    start(engine, [{**leg, "instrument": "CE"}, {**leg, "instrument": "PE"}], **sections)
    fill_all(engine, broker, "100")
    for held in broker.unfilled():
        if not held.acked:
            broker.ack(held)  # the stops resting at the broker, if any
    assert status(engine) is PortfolioStatus.STARTED
    return [int(leg.token) for leg in legs(engine)]


def _fill_square_off(engine: Engine, broker: ScriptedBroker) -> int:
    """Fill the halt's square-off orders (no strategy's) at 100; how many."""
    squares = [h for h in broker.unfilled() if h.order.source is OrderSource.RISK]
    for held in squares:
        held.order.price = Paise(10000)
        broker.fill(held)
        push(engine, int(held.order.token), "100", 0)
    return len(squares)


def _rearm_and_cross_the_stop(engine: Engine, broker: ScriptedBroker, tokens: list[int]) -> int:
    """Re-arm, let time pass, cross the CE's stop and fill whatever is sent; orders sent."""
    before = len(broker.orders)
    assert engine.api.rearm()
    for token in tokens:
        push(engine, token, "100", 2)
    push(engine, tokens[0], "121", 1)
    fill_all(engine, broker, "121")
    push(engine, tokens[0], "121", 2)
    return len(broker.orders) - before


def _account_net(engine: Engine, token: int) -> int:
    return sum(p.net_quantity for p in engine.api.positions() if int(p.instrument.token) == token)


@pytest.mark.parametrize("at_broker", [{}, {"leg_stops": True}], ids=["desk_stops", "broker"])
def test_multileg_halt_kill_switch_square_off_completes_and_nothing_trades_after_rearm(
    desk, at_broker
) -> None:
    engine, broker = desk
    tokens = _straddle(engine, broker, at_broker=at_broker)
    engine.api.kill_switch(square_off=True, reason="too fast")
    assert _fill_square_off(engine, broker) == 2
    for token in tokens:
        push(engine, token, "100", 2)
    assert status(engine) is PortfolioStatus.COMPLETED
    assert _reason(engine) == "closed by the kill switch's square-off"
    assert [leg.state for leg in legs(engine)] == ["exited", "exited"]
    assert _rearm_and_cross_the_stop(engine, broker, tokens) == 0
    assert status(engine) is PortfolioStatus.COMPLETED
    assert all(_account_net(engine, token) == 0 for token in tokens)
    record = engine.strategies.last_state(portfolio_strategy_id(NAME))
    assert record is not None and record.state["reason"] == "closed by the kill switch's square-off"


def test_multileg_halt_breaker_square_off_completes_and_nothing_trades_after_rearm(desk) -> None:
    engine, broker = desk
    tokens = _straddle(engine, broker)
    engine.risk.trip("max_loss", "day loss over 9,000", TradingState.HALTED, True)
    assert _fill_square_off(engine, broker) == 2
    for token in tokens:
        push(engine, token, "100", 2)
    assert status(engine) is PortfolioStatus.COMPLETED
    assert _reason(engine) == "closed by the breaker max_loss's square-off"
    assert _rearm_and_cross_the_stop(engine, broker, tokens) == 0
    assert all(_account_net(engine, token) == 0 for token in tokens)


def test_multileg_halt_stop_crossed_during_the_halt_sends_nothing(desk) -> None:
    engine, broker = desk
    tokens = _straddle(engine, broker)
    engine.api.kill_switch(square_off=True, reason="too fast")
    before = len(broker.orders)
    push(engine, tokens[0], "121", 1)  # before the square-off fills
    assert len(broker.orders) == before
    assert status(engine) is PortfolioStatus.STARTED
    assert _reason(engine).startswith("halted by the kill switch (too fast)")
    _fill_square_off(engine, broker)
    push(engine, tokens[0], "121", 2)
    assert status(engine) is PortfolioStatus.COMPLETED


def test_multileg_halt_without_square_off_leaves_it_failed_to_square_off_by_hand(desk) -> None:
    engine, broker = desk
    tokens = _straddle(engine, broker)
    engine.api.kill_switch(square_off=False, reason="look first")
    push(engine, tokens[0], "100", 2)
    assert status(engine) is PortfolioStatus.FAILED
    assert _reason(engine) == "left open by the halt (the kill switch): square off by hand"
    assert _rearm_and_cross_the_stop(engine, broker, tokens) == 0
    assert status(engine) is PortfolioStatus.FAILED
    assert [_account_net(engine, token) for token in tokens] == [-65, -65]


@pytest.mark.parametrize("breaker", [False, True], ids=["kill_switch", "breaker"])
def test_multileg_halt_stops_a_pending_portfolio_and_the_rearm_does_not_enter_it(
    desk, breaker
) -> None:
    engine, broker = desk
    leg = {"side": "SELL", "stop": STOP_120}
    start(
        engine,
        [{**leg, "instrument": "CE"}, {**leg, "instrument": "PE"}],
        execution={"start": "09:25:00"},
    )
    assert status(engine) is PortfolioStatus.PENDING
    run_market(engine, 30)
    if breaker:
        engine.risk.trip("max_loss", "day loss over 9,000", TradingState.HALTED, True)
        by = "the breaker max_loss (day loss over 9,000)"
    else:
        engine.api.kill_switch(square_off=True, reason="too fast")
        by = "the kill switch (too fast)"
    assert status(engine) is PortfolioStatus.STOPPED
    assert _reason(engine) == f"stopped by {by}; start it again after re-arming"
    run_market(engine, 300, 0.5)  # to 09:24
    assert engine.api.rearm()
    run_market(engine, 600, 0.5)  # past 09:25
    assert status(engine) is PortfolioStatus.STOPPED
    assert orders(broker, "E") == []


def test_multileg_exit_sends_nothing_when_the_account_was_squared_off_elsewhere(desk) -> None:
    engine, broker = desk
    tokens = _straddle(engine, broker)
    spec = engine.multileg.spec(NAME)
    assert spec is not None
    placed = engine.api.place_order(
        tokens[0], "BUY", 65, "LIMIT", product=spec.defaults.product, price=Decimal("101")
    )
    assert placed.order_id is not None
    [manual] = [h for h in broker.unfilled() if h.order.order_id == placed.order_id]
    broker.fill(manual)
    push(engine, tokens[0], "100", 1)
    assert _account_net(engine, tokens[0]) == 0
    push(engine, tokens[0], "121", 1)  # the CE's stop: its exit would open a long
    assert orders(broker, "X") == []
    assert _account_net(engine, tokens[0]) == 0
    first = legs(engine)[0]
    assert first.state == "exited"
    assert "the account holds no" in first.remark


def test_multileg_exit_is_cut_to_what_the_account_holds(desk) -> None:
    engine, broker = desk
    tokens = _straddle(engine, broker, lots=2)
    spec = engine.multileg.spec(NAME)
    assert spec is not None
    placed = engine.api.place_order(
        tokens[0], "BUY", 65, "LIMIT", product=spec.defaults.product, price=Decimal("101")
    )
    [manual] = [h for h in broker.unfilled() if h.order.order_id == placed.order_id]
    broker.fill(manual)
    push(engine, tokens[0], "100", 1)
    push(engine, tokens[0], "121", 1)
    exits = [h.order.quantity for h in broker.orders if h.order.tag.startswith("L1X")]
    assert exits == [65]
    assert "cut to 65" in legs(engine)[0].remark
