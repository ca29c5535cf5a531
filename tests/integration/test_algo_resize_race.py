"""Lowering an algo's rest while a child works, on a venue whose cancels land late (as a live
broker's do): the child may fill before its cancel is answered, so the parent sends nothing new
until the cancel is answered and then sizes the rest on what really filled; the target is never
passed, whatever the child did meanwhile. The real paper venue, with its cancels held back."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runtime import Engine
from tests.algo_support import NS, algo_desk, future
from tests.support import quote

BID, ASK = 2_600_000, 2_600_500  # a wide market: the child rests inside it


@pytest.fixture
def desk(tmp_path: Path) -> Engine:
    return algo_desk(tmp_path)


def _tick(desk: Engine, fut, *, bid: int = BID, ask: int = ASK, size: int = 100_000) -> None:  # type: ignore[no-untyped-def]
    assert desk.clock is not None
    desk.clock.advance(1)  # type: ignore[attr-defined]
    desk.orders.release_queued()
    desk.on_tick(quote(fut, bid=bid, ask=ask, size=size, ts_ns=desk.clock.time_ns()))


def _start(desk: Engine, lot: int):  # type: ignore[no-untyped-def]
    fut = future(desk, "NIFTY")
    _tick(desk, fut)
    started = desk.api.start_algo(
        {"kind": "iceberg", "token": int(fut.token), "side": "BUY", "quantity": 10 * lot,
         "visible_quantity": 10 * lot, "duration_seconds": 600, "order_type": "LIMIT",
         "limit_buffer_ticks": -40, "chase_seconds": 0, "product": "NRML"}
    )  # fmt: skip
    assert started.ok, started.reason
    _tick(desk, fut)
    [view] = desk.api.algos()
    assert view.working == 10 * lot and view.filled == 0
    [child] = [o for o in desk.api.orders() if o.strategy == view.parent_id]
    return fut, view.parent_id, child


def _hold_cancels(desk: Engine) -> list:  # type: ignore[type-arg]
    """The venue's cancels wait until released, as a live broker's answer does."""
    venue = desk.venue
    assert venue is not None
    held: list = []  # type: ignore[type-arg]
    venue.cancel = held.append  # type: ignore[method-assign]
    return held


def _release(desk: Engine, held: list) -> None:  # type: ignore[type-arg]
    venue = desk.venue
    assert venue is not None
    for order in held:
        type(venue).cancel(venue, order)


@pytest.mark.parametrize(("filled_lots", "target_lots"), [(4, 6), (10, 10), (0, 2)])
def test_algo_rest_lowered_while_a_child_fills_before_its_cancel_never_passes_the_target(
    desk: Engine, filled_lots: int, target_lots: int
) -> None:
    fut = future(desk, "NIFTY")
    lot = fut.lot_size
    fut, parent, child = _start(desk, lot)
    held = _hold_cancels(desk)
    assert desk.api.modify_algo(parent, 2 * lot) is None
    assert len(held) == 1  # the child's cancel is on its way, not answered
    [view] = desk.api.algos()
    assert view.working == 10 * lot and view.target == 10 * lot  # nothing re-sized yet

    if filled_lots:  # the market comes to the child before its cancel lands
        _tick(
            desk,
            fut,
            bid=child.price * 100 - 500,
            ask=int(child.price * 100),
            size=filled_lots * lot,
        )
    _tick(desk, fut)
    orders = [o for o in desk.api.orders() if o.strategy == parent]
    assert len(orders) == 1  # nothing new went out while the cancel was pending
    _release(desk, held)
    [view] = desk.api.algos()
    assert (view.filled, view.target, view.working) == (filled_lots * lot, target_lots * lot, 0)

    for _ in range(30):  # the rest works (and fills, the market crossing its limit each second)
        _tick(desk, fut)
        [view] = desk.api.algos()
        assert view.filled <= view.target
        _tick(desk, fut, bid=BID - 6_000, ask=BID - 5_000)
        [view] = desk.api.algos()
        assert view.filled <= view.target
        if view.status.value != "working":
            break
    assert (view.filled, view.target, view.status.value) == (
        target_lots * lot, target_lots * lot, "completed",
    )  # fmt: skip
    bought = sum(o.filled_quantity for o in desk.api.orders() if o.strategy == parent)
    assert bought == target_lots * lot <= 10 * lot


def test_algo_rest_lowered_with_cancels_answered_at_once_resizes_at_once(desk: Engine) -> None:
    fut = future(desk, "NIFTY")
    lot = fut.lot_size
    fut, parent, _child = _start(desk, lot)
    assert desk.api.modify_algo(parent, 3 * lot) is None  # the paper venue answers at once
    [view] = desk.api.algos()
    assert view.target == 3 * lot and view.filled == 0
    assert NS > 0
