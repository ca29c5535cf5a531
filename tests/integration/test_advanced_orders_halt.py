"""A halt (the kill switch, a breaker) and the desk's advanced orders, on the paper venue with a
test clock (``tests.advanced_orders_support``): an order waiting to open a position (a GTT kept
by the desk, a conditional order, a bracket whose entry has not filled) ends with the halt,
journaled and said once, and neither a re-arm nor a restart brings it back; an order protecting a
position (OCO, trailing stop, a bracket's exits) ends when that position is gone, and stays
working through a halt that leaves the position open, placing its exit again after the re-arm."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.domain.events import EngineMessage, TradingState
from engine.domain.gtt import GttStatus
from engine.domain.orders import OrderStatus, OrderType
from engine.strategies.orders.desk import AdvancedOrderView
from tests.advanced_orders_support import PaperDesk, paper_desk


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[PaperDesk]:
    made = paper_desk(tmp_path)
    try:
        yield made
    finally:
        made.close()


def _said(desk: PaperDesk) -> list[EngineMessage]:
    said: list[EngineMessage] = []
    desk.engine.bus.subscribe(EngineMessage, said.append)
    return said


def _view(desk: PaperDesk, parent: str) -> AdvancedOrderView:
    [view] = [v for v in desk.engine.api.advanced_orders() if v.parent_id == parent]
    return view


def _arm_entries(desk: PaperDesk) -> dict[str, str]:
    """A GTT buying 2 at 390, a conditional buying 1 above 405 and a bracket whose entry (395)
    is below the market: each waits to open a position."""
    api = desk.engine.api
    gtt = asyncio.run(
        api.place_gtt(
            desk.token,
            ["390.00"],
            [{"side": "BUY", "quantity": 2, "price": "390.00", "product": "MIS"}],
        )
    )
    cond = api.place_conditional(
        {"kind": "price", "token": int(desk.token), "direction": "above", "level": "405"},
        desk.token,
        "BUY",
        1,
    )
    bracket = api.place_bracket(
        desk.token, "BUY", 3, entry_price="395.00", stop="390.00", target="400.00"
    )
    for outcome in (gtt, cond, bracket):
        assert outcome.ok, outcome.reason
    return {"gtt": gtt.parent_id, "cond": cond.parent_id, "bracket": bracket.parent_id}


def _hold_with_oco(desk: PaperDesk) -> str:
    api = desk.engine.api
    assert api.place_order(desk.token, "BUY", 10, "MARKET", product="MIS").ok
    desk.tick(40_000)
    oco = api.place_oco(desk.token, 10, stop="398.00", target="403.00")
    assert oco.ok, oco.reason
    return oco.parent_id


def _move_through_every_trigger(desk: PaperDesk) -> None:
    for ltp in (39_900, 39_500, 38_900, 39_500, 40_000, 40_300, 40_600, 40_600):
        desk.tick(ltp, seconds=20)


def _assert_entries_ended_by(desk: PaperDesk, parents: dict[str, str], by: str) -> None:
    for parent in parents.values():
        view = _view(desk, parent)
        assert not view.working and view.state == "ended", view
        assert by in view.detail, view
    [gtt] = [g for g in asyncio.run(desk.engine.api.gtts()) if g.gtt_id == parents["gtt"]]
    assert gtt.status is GttStatus.CANCELLED


def test_kill_switch_ends_the_orders_waiting_to_enter_says_so_once_and_a_rearm_fires_none(
    desk: PaperDesk,
) -> None:
    api = desk.engine.api
    oco = _hold_with_oco(desk)
    parents = _arm_entries(desk)
    said = _said(desk)

    api.kill_switch(square_off=True, reason="too fast")
    _assert_entries_ended_by(desk, parents, "the kill switch (too fast)")
    told = [m.text for m in said if parents["gtt"] in m.text]
    assert len(told) == 1  # the press and the halt are one halt: said once
    assert parents["cond"] in told[0] and parents["bracket"] in told[0]
    assert "BUY 2 @ 390.00" in told[0] and "re-arm" in told[0]

    # F4: the square-off took the position the OCO protected: the OCO says so and ends.
    desk.tick(40_000, seconds=5)
    view = _view(desk, oco)
    assert not view.working and "position" in view.detail and "closed" in view.detail, view

    assert api.rearm()
    _move_through_every_trigger(desk)
    for parent in (*parents.values(), oco):
        assert desk.net_of(parent) == 0, parent
    assert not desk.orders_of[parents["gtt"]] and not desk.orders_of[parents["cond"]]


def test_breaker_halt_with_square_off_ends_the_waiting_orders_and_the_oco(
    desk: PaperDesk,
) -> None:
    oco = _hold_with_oco(desk)
    parents = _arm_entries(desk)
    said = _said(desk)

    desk.engine.risk.trip(  # type: ignore[union-attr]
        "day-loss", "day's loss past 5000", TradingState.HALTED, square_off=True
    )
    desk.tick(40_000, seconds=5)
    _assert_entries_ended_by(desk, parents, "the breaker day-loss")
    assert len([m for m in said if parents["cond"] in m.text]) == 1
    assert not _view(desk, oco).working

    assert desk.engine.api.rearm()
    _move_through_every_trigger(desk)
    assert not desk.orders_of[parents["gtt"]] and not desk.orders_of[parents["cond"]]


def test_oco_ends_with_its_stop_cancelled_when_the_trader_closes_the_position(
    desk: PaperDesk,
) -> None:
    api = desk.engine.api
    oco = _hold_with_oco(desk)
    [stop_id] = desk.orders_of[oco]
    assert api.square_off(desk.token, "MIS")
    desk.tick(40_000, seconds=1)
    view = _view(desk, oco)
    assert not view.working and "closed" in view.detail, view
    stop = api.order(stop_id)
    assert stop is not None and stop.status is OrderStatus.CANCELLED
    desk.tick(39_000, seconds=1)  # through the stop: nothing sells a position no longer held
    assert desk.net_of("") == 0 and desk.orders_of[oco] == [stop_id]


def test_halt_without_square_off_keeps_the_oco_working_and_it_protects_again_after_rearm(
    desk: PaperDesk,
) -> None:
    api = desk.engine.api
    oco = _hold_with_oco(desk)
    said = _said(desk)
    api.kill_switch(square_off=False, reason="look first")
    for _ in range(5):
        desk.tick(40_000, seconds=2)
    view = _view(desk, oco)
    assert view.working and "held 10" in view.detail and "halted" in view.detail, view
    # No exit knocking on the closed gate while halted, and no "WITHOUT a protective exit".
    assert not [m for m in said if m.source == oco]

    assert api.rearm()
    desk.tick(40_000, seconds=1)
    [order] = [o for o in map(api.order, desk.orders_of[oco]) if o is not None and o.status.is_open]
    assert order.order_type is OrderType.SL and order.quantity == 10
    desk.tick(39_790, seconds=1)  # through the stop: the OCO exits the 10 at the bid
    assert desk.net_of(oco) == -10 and not _view(desk, oco).working


def test_after_a_halt_a_restart_brings_back_none_of_the_waiting_orders(tmp_path: Path) -> None:
    first = paper_desk(tmp_path)
    parents = _arm_entries(first)
    first.engine.api.kill_switch(square_off=True, reason="too fast")
    asyncio.run(first.engine.stop())

    second = paper_desk(tmp_path)
    try:
        second.engine.strategies.resume()
        assert second.engine.api.rearm()
        for parent in parents.values():
            view = _view(second, parent)
            assert not view.working and "the kill switch (too fast)" in view.detail, view
        _move_through_every_trigger(second)
        for parent in parents.values():
            assert not second.orders_of[parent] and second.net_of(parent) == 0
    finally:
        second.close()
