"""An advanced order whose desk is killed between sending one of its orders and writing its own
record of it: after the restart the order is found in the book and taken up, never sent again,
and a position it protects stays protected by exactly one exit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.advanced_orders_support import paper_desk

ROOT = Path(__file__).resolve().parents[2]


def _killed(scenario: str, folder: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration.advanced_crash_child", scenario, str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert child.returncode == -9, (child.returncode, child.stdout, child.stderr[-2000:])


def _of(desk, parent: str):  # type: ignore[no-untyped-def]
    return [o for o in desk.engine.api.orders() if o.strategy == parent]


def _net(desk) -> int:  # type: ignore[no-untyped-def]
    return sum(
        p.net_quantity for p in desk.engine.api.positions() if p.instrument.token == desk.token
    )


def test_conditional_order_sent_as_the_desk_died_is_not_sent_again(tmp_path: Path) -> None:
    _killed("conditional", tmp_path)
    desk = paper_desk(tmp_path, start=40_000)
    try:
        desk.clock.advance(400)
        desk.engine.strategies.resume()
        desk.tick(40_000)
        [order] = _of(desk, "cond-0001")
        [view] = desk.engine.api.advanced_orders()
        assert not view.working
        assert view.detail == f"order {order.order_id} was placed before the desk restarted"
    finally:
        desk.close()


def test_gtt_triggered_as_the_desk_died_is_not_sent_again(tmp_path: Path) -> None:
    _killed("gtt", tmp_path)
    desk = paper_desk(tmp_path, start=40_120)
    try:
        desk.engine.strategies.resume()
        desk.tick(40_130)
        [order] = _of(desk, "gtt-0001")
        [report] = asyncio.run(desk.engine.api.gtts())
        assert (report.status.value, report.order_id) == ("triggered", order.order_id)
    finally:
        desk.close()


def test_bracket_whose_entry_went_out_as_the_desk_died_still_protects_what_fills(
    tmp_path: Path,
) -> None:
    _killed("bracket-entry", tmp_path)
    desk = paper_desk(tmp_path, start=40_000)
    try:
        desk.engine.strategies.resume()
        [view] = desk.engine.api.advanced_orders()
        assert (view.parent_id, view.working) == ("bracket-0001", True)
        [entry] = _of(desk, "bracket-0001")
        desk.tick(39_900)  # the entry fills at 399
        desk.tick(39_850)
        assert _net(desk) == 6
        exits = [o for o in _of(desk, "bracket-0001") if o.order_id != entry.order_id]
        assert [(o.side.value, o.quantity) for o in exits] == [("SELL", 6)]
        for price in (39_750, 39_700, 39_680, 39_660):  # through the 397 stop
            desk.tick(price)
        assert _net(desk) == 0, "the stop took the position out"
        again = desk.engine.api.place_bracket(desk.token, "BUY", 1, stop="390.00", target="410.00")
        assert again.parent_id == "bracket-0002", "the id whose orders are in the book is taken"
    finally:
        desk.close()


def test_oco_whose_new_stop_went_out_as_the_desk_died_places_no_second_stop(
    tmp_path: Path,
) -> None:
    _killed("oco-exit", tmp_path)
    desk = paper_desk(tmp_path, start=40_000)
    try:
        desk.engine.strategies.resume()
        desk.tick(40_000)
        live = [o for o in _of(desk, "oco-0001") if o.status.is_open]
        assert len(live) == 1, live
        for price in (39_900, 39_780, 39_700, 39_600):
            desk.tick(price)
        assert _net(desk) == 0, "one stop, one exit: the long is flat, never short"
    finally:
        desk.close()
