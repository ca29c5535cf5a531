"""The portfolio's combined stop with a re-execute: the hit squares the portfolio off and enters
it again once all of it has closed; the new round's MTM counts from its own entry (the loss
just taken does not fire the stop again), it stops at its count, and the portfolio's safety
seconds stop a loop on a price swinging about the stop."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest

from engine.runtime import Engine
from engine.strategies.multileg.status import PortfolioStatus
from tests.integration.test_multileg_reentry import fill_all, legs, orders, push, start, status
from tests.multileg_support import ScriptedBroker, scripted_desk, template_spec

LOSS = Decimal(1000)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Engine, ScriptedBroker]]:
    yield from scripted_desk(tmp_path)


def start_short_call(engine: Engine, broker: ScriptedBroker, count: int) -> tuple[int, str]:
    """A sold call at ₹100 under a ₹1,000 combined stop; (its token, the price that hits it)."""
    start(
        engine,
        [{"side": "SELL", "instrument": "CE"}],
        stop_loss={"combined": {"value": str(LOSS), "re_execute": count}},
    )
    fill_all(engine, broker, "100")
    leg = legs(engine)[0]
    per_unit = (LOSS / leg.quantity / Decimal("0.05")).to_integral_value(ROUND_CEILING)
    return int(leg.token), str(Decimal(100) + per_unit * Decimal("0.05"))


def test_multileg_combined_stop_re_execute_restarts_the_round_and_stops_at_its_count(
    desk,
) -> None:
    engine, broker = desk
    token, hit = start_short_call(engine, broker, count=2)
    push(engine, token, str(Decimal(hit) - Decimal("0.05")))
    assert orders(broker, "X") == []  # just short of the stop
    for round_ in range(1, 3):
        push(engine, token, hit, 6)  # past the portfolio's 5 s safety
        assert [n for n, *_ in orders(broker, "X")] == list(range(1, round_ + 1))
        fill_all(engine, broker, hit)  # the exit fills: the portfolio enters again
        assert [n for n, *_ in orders(broker, "E")] == list(range(1, round_ + 2))
        assert status(engine) is PortfolioStatus.STARTED
        fill_all(engine, broker, "100")
        for _ in range(3):  # the new round at its entry price: the old loss does not count
            push(engine, token, "100", 6)
        assert len(orders(broker, "X")) == round_
    push(engine, token, hit, 6)  # the third hit: its count is spent, the portfolio exits
    fill_all(engine, broker, hit)
    assert len(orders(broker, "E")) == 3 and len(orders(broker, "X")) == 3
    assert status(engine) is PortfolioStatus.COMPLETED
    assert "combined stop re-execute 2/2" in legs(engine)[2].remark


def test_multileg_combined_stop_re_execute_safety_seconds_stop_a_swinging_price(desk) -> None:
    engine, broker = desk
    token, hit = start_short_call(engine, broker, count=10)
    push(engine, token, hit, 6)
    fill_all(engine, broker, hit)
    fill_all(engine, broker, "100")
    for price in ("100", hit):  # straight back through the stop, inside the 5 s safety
        push(engine, token, price, 0.5)
    fill_all(engine, broker, hit)
    assert len(orders(broker, "E")) == 2  # entered once again only: no loop
    assert len(orders(broker, "X")) == 2
    assert status(engine) is PortfolioStatus.COMPLETED


def test_multileg_combined_re_execute_above_the_portfolio_cap_is_refused_in_words(desk) -> None:
    engine, _broker = desk
    data = template_spec(
        engine,
        "short_straddle",
        "Capped",
        stop_loss={"combined": {"value": "1000", "re_execute": 3}},
        reentry={"max_per_portfolio": 2},
    )
    problem = engine.api.save_portfolio(data)
    assert problem is not None and "re-executes up to 3 times" in problem
    assert "action cap is 2: lower one or raise the cap" in problem
