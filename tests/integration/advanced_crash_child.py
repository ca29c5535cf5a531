"""A paper desk with one advanced order, killed (SIGKILL) at the moment a scenario names: after
an order of the advanced order was journaled and sent, before the advanced order's own record of
it. Run as ``python -m tests.integration.advanced_crash_child SCENARIO BOOK_FOLDER``; the test
opens the book again and checks that nothing is sent twice and nothing is left unprotected."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from engine.domain.strategy_records import StrategyRecord, StrategyStatus
from tests.advanced_orders_support import PaperDesk, paper_desk


def _kill_when(desk: PaperDesk, due: Callable[[StrategyRecord], bool]) -> None:
    kernel = desk.engine.strategies
    write = kernel._record

    def record(written: StrategyRecord) -> None:
        if due(written):
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        write(written)

    kernel._record = record  # type: ignore[method-assign]


def conditional(desk: PaperDesk) -> None:
    _kill_when(desk, lambda r: r.strategy == "cond-0001" and r.status is not StrategyStatus.RUNNING)
    placed = desk.engine.api.place_conditional(
        {"kind": "time", "at": "10:05"}, desk.token, "BUY", 2
    )
    assert placed.ok, placed
    desk.tick(40_000, seconds=240)
    desk.tick(40_000, seconds=60)  # 10:05: the order goes out, then the kill


def gtt(desk: PaperDesk) -> None:
    _kill_when(desk, lambda r: r.strategy == "gtt-0001" and r.status is not StrategyStatus.RUNNING)
    legs = [{"side": "BUY", "quantity": 3, "price": "402.00", "product": "CNC"}]
    placed = asyncio.run(desk.engine.api.place_gtt(desk.token, ["401.00"], legs))
    assert placed.ok, placed
    desk.tick(40_100)  # crosses the trigger: the order goes out, then the kill


def _orders_of(desk: PaperDesk, parent: str) -> int:
    return sum(1 for o in desk.engine.api.orders() if o.strategy == parent)


def bracket_entry(desk: PaperDesk) -> None:
    # The kill comes with the bracket's first record once its entry is in the book.
    _kill_when(
        desk, lambda r: r.strategy == "bracket-0001" and _orders_of(desk, "bracket-0001") >= 1
    )
    desk.engine.api.place_bracket(
        desk.token, "BUY", 6, entry_price="399.00", stop="397.00", target="403.00"
    )


def oco_exit(desk: PaperDesk) -> None:
    api = desk.engine.api
    assert api.place_order(desk.token, "BUY", 5, "MARKET", product="MIS").ok
    placed = api.place_oco(desk.token, 5, stop="398.00", target="405.00")
    assert placed.ok, placed
    # The kill comes with the OCO's first record once its second exit order is in the book.
    _kill_when(desk, lambda r: r.strategy == placed.parent_id and _orders_of(desk, "oco-0001") >= 2)
    desk.tick(40_500, depth=0)  # the target is reached: the stop becomes a target LIMIT
    desk.tick(40_000, depth=0)  # back: the LIMIT is cancelled and a new stop goes out, the kill
    desk.tick(40_000)
    # Where the OCO writes no record after its new stop (it did not use to), the desk dies here,
    # as a power cut would, with the stop in the book and the OCO's record before it.
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


SCENARIOS = {
    "conditional": conditional,
    "gtt": gtt,
    "bracket-entry": bracket_entry,
    "oco-exit": oco_exit,
}

if __name__ == "__main__":
    scenario, folder = sys.argv[1], Path(sys.argv[2])
    SCENARIOS[scenario](paper_desk(folder))
    print("not killed")
