"""Brackets and OCO exits under races, on the paper venue with a test clock: over 1,000 seeded
random price paths the target and the stop are touched within one burst of ticks while requests
are still in flight, both sides fill in parts, and the trader moves the stop while a modification
is on its way. Whatever the order of events:

- the target and the stop never both fill: the exits never sell more than the entry bought (a
  short bracket: never buy back more), so the position never goes through zero;
- there is never more than one exit order open;
- whenever nothing is in flight, what is held is covered exactly by the exit's open quantity;
- cancelling at the end exits what is held and leaves nothing open.

Requests to the venue are held in flight (``PaperDesk.flush`` lets them through), so a fill can
arrive between a modification's sending and its taking effect, as at a real exchange."""

from __future__ import annotations

import os
import random
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from engine.domain.orders import Side
from tests.advanced_orders_support import PaperDesk, paper_desk, rupees

PATHS = int(os.environ.get("RACE_PATHS", "1000"))
BASE = 40_000
TICK = 5


def _exit_side(side: Side) -> Side:
    return Side.SELL if side is Side.BUY else Side.BUY


def _held(desk: PaperDesk, parent: str, side: Side, opening: int) -> int:
    """What the bracket (or the position under the OCO) holds, counted on the entry's side."""
    return (opening + desk.net_of(parent)) * (1 if side is Side.BUY else -1)


def _check_never_through_zero(
    desk: PaperDesk, parent: str, side: Side, size: int, opening: int
) -> None:
    held = _held(desk, parent, side, opening)
    assert 0 <= held <= size, f"{parent}: holds {held} of {size}: the exits overfilled"
    exits = desk.open_orders_of(parent, _exit_side(side))
    assert len(exits) <= 1, f"{parent}: {len(exits)} exit orders open at once: {exits}"


def _check_covered(desk: PaperDesk, parent: str, side: Side, opening: int) -> bool:
    held = _held(desk, parent, side, opening)
    exits = desk.open_orders_of(parent, _exit_side(side))
    if held > 0 and desk.working(parent):
        assert sum(q for _, q in exits) == held, f"{parent}: {held} held, exit {exits} at rest"
        return True
    return False


def _run_path(desk: PaperDesk, rng: random.Random, stats: Counter[str]) -> None:
    api = desk.engine.api
    side = rng.choice([Side.BUY, Side.SELL])
    sign = 1 if side is Side.BUY else -1
    size = rng.randint(5, 60)
    price = BASE
    desk.tick(price)
    desk.flush()
    stop = price - sign * TICK * rng.randint(4, 30)
    target = price + sign * TICK * rng.randint(4, 30)
    opening = 0
    if rng.random() < 0.5:
        kind = "bracket"
        entry = None if rng.random() < 0.3 else price - sign * TICK * rng.randint(0, 3)
        outcome = api.place_bracket(
            desk.token, side.value, size, stop=rupees(stop), target=rupees(target),
            entry_price=None if entry is None else rupees(entry),
        )  # fmt: skip
    else:
        kind = "oco"
        opened = api.place_order(desk.token, side.value, size, "MARKET", product="MIS")
        assert opened.ok, opened.reason
        desk.flush()
        desk.tick(price)
        desk.flush()
        opening = desk.net_of("")
        desk.nets[""] = 0
        assert opening == size * sign
        outcome = api.place_oco(desk.token, size, stop=rupees(stop), target=rupees(target))
    assert outcome.ok, outcome.reason
    parent = outcome.parent_id
    stats[kind] += 1
    for _ in range(40):
        if rng.random() < 0.12:
            # A burst: through the target and through the stop, nothing let through between.
            burst = [
                target + sign * TICK * rng.randint(0, 3),
                stop - sign * TICK * rng.randint(0, 3),
            ]
            rng.shuffle(burst)
            for moment in burst:
                desk.tick(moment, depth=rng.randint(1, size))
                _check_never_through_zero(desk, parent, side, size, opening)
            price = burst[-1]
            stats["bursts through both levels"] += 1
        else:
            price = max(TICK * 10, price + TICK * rng.randint(-4, 4))
            desk.tick(price, depth=rng.randint(1, size))
        last = desk.fills[-1] if desk.fills else None
        if desk.in_flight and last is not None and last.ts_ns == desk.clock.time_ns():
            stats["fills while a request was in flight"] += 1
        if rng.random() < 0.06:
            move = price - sign * TICK * rng.randint(1, 20)
            amended = api.amend_advanced(parent, stop=rupees(move))
            stats[
                "stop moved by the trader"
                if amended.ok
                else "stop move refused (ended, or wrong side)"
            ] += 1
        flush = rng.random()
        if flush < 0.5:
            desk.flush()
            _check_never_through_zero(desk, parent, side, size, opening)
            stats["checked covered at rest"] += _check_covered(desk, parent, side, opening)
        elif flush < 0.75:
            desk.flush(rng.randint(1, 3))
        _check_never_through_zero(desk, parent, side, size, opening)
    api.cancel_advanced(parent)
    for _ in range(30):
        desk.flush()
        desk.tick(price, depth=1_000)
        _check_never_through_zero(desk, parent, side, size, opening)
        if not desk.working(parent):
            break
    desk.flush()
    record = desk.engine.strategies.last_state(parent)
    assert record is not None and not desk.working(parent), f"{parent} still working"
    assert _held(desk, parent, side, opening) == 0, f"{parent} left a position: {record.reason}"
    assert not desk.open_orders_of(parent, Side.BUY) and not desk.open_orders_of(parent, Side.SELL)
    exits = record.state["exit"]["orders"]
    target_fills = sum(o["target_fills"] for o in exits)
    stop_fills = sum(o["stop_fills"] for o in exits)
    stats["paths with target fills"] += target_fills > 0
    stats["paths with stop fills"] += stop_fills > 0
    stats["paths with both (partly each)"] += target_fills > 0 and stop_fills > 0
    stats["partial exit orders"] += sum(0 < o["filled"] < o["quantity"] for o in exits)


@pytest.mark.timeout(120)
def test_bracket_and_oco_race_over_random_paths_never_both_filled_never_unprotected() -> None:
    # The book on a memory file system: the journal's writes are not what is tested here.
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as d:
        desk = paper_desk(Path(d), hold_requests=True)
        rng = random.Random(20261204)
        stats: Counter[str] = Counter()
        try:
            for _ in range(PATHS):
                _run_path(desk, rng, stats)
        finally:
            desk.close()
    print(dict(stats))
    assert stats["bracket"] + stats["oco"] == PATHS
    assert stats["bursts through both levels"] > PATHS
    assert stats["fills while a request was in flight"] > PATHS // 10
    assert stats["paths with target fills"] > PATHS // 20
    assert stats["paths with stop fills"] > PATHS // 20
    assert stats["checked covered at rest"] > PATHS
    assert stats["paths with both (partly each)"] > PATHS // 20  # partial fills on both sides
    assert stats["partial exit orders"] > 0 and stats["stop moved by the trader"] > PATHS // 20
