"""Kill a desk whose iron condor enters on a range breakout (``multileg_breakout_crash_child``)
with SIGKILL after events drawn at random (a seed printed, and set by ``DALALDESK_CRASH_SEED``
to replay a failure) from its first entry order to its exit, restart it on the same book and check from the journal
alone that the breakout fired once and was never lost: the range saved before the kill is the
range after it, the side that fired is the only side that ever fired, no leg's entry was sent
twice (no tag twice, entries never asking for more than the leg's quantity) and every leg
entered its whole quantity once and exited it."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from engine.store.pnl_rebuild import read_book
from engine.strategies.multileg.status import PortfolioStatus
from tests.integration.multileg_crash_child import ORIGIN, STRATEGY
from tests.integration.test_multileg_crash import (
    Children,
    Crash,
    child_env,
    crash_and_resume,
    read_crash,
)
from tests.multileg_support import SEED_NOTE, kill_points

CHILD = Path(__file__).with_name("multileg_breakout_crash_child.py")
KILLS = 8
"""Kill points drawn at random (``crash_seed``), with the re-entry test's 12: 20 in all."""
P = PortfolioStatus


class BreakoutChildren(Children):
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )


@pytest.fixture(scope="module")
def children() -> Iterator[queue.Queue[Children]]:
    pool: queue.Queue[Children] = queue.Queue()
    made = [BreakoutChildren() for _ in range(2)]
    for one in made:
        pool.put(one)
    yield pool
    for one in made:
        one.close()


def extras_states(book: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(seq, status, saved conditions) of each state the portfolio saved."""
    found = []
    for row in read_book(book).entries:
        if row.payload.get("strategy") != STRATEGY:
            continue
        state = row.payload.get("state") or {}
        if state.get("extras") is not None:
            found.append((row.seq, state.get("status", ""), state["extras"]))
    return found


@pytest.fixture(scope="module")
def run(
    children: queue.Queue[Children], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], list[str], list[Crash]]:
    folder = tmp_path_factory.mktemp("breakout_template")
    one = children.get()
    try:
        lines = one.run(folder, ORIGIN)
    finally:
        children.put(one)
    summary = json.loads(lines[-1])
    events = [line.split(maxsplit=2)[2] for line in lines if line.startswith("EVENT ")]
    # From the breakout's first entry order (event 1) to the last event but one.
    points = kill_points(range(1, len(events)), KILLS, "breakout")
    base = tmp_path_factory.mktemp("breakout_crashes")

    def crash(case: tuple[int, int]) -> Crash:
        return crash_and_resume(children, base / f"kill{case[0] + 1}", case[1])

    with ThreadPoolExecutor(max_workers=children.qsize()) as threads:
        crashes = list(threads.map(crash, enumerate(points)))
    template_book = f"sqlite:///{folder / 'book.db'}"
    return summary, [json.dumps(extras_states(template_book)[-1][2])], crashes


def test_breakout_multileg_crash_fires_once_and_loses_no_entry(run) -> None:
    summary, [template_extras], crashes = run
    template = json.loads(template_extras)
    assert summary["status"] == P.COMPLETED.value, summary
    [(key, sides)] = template["fired"].items()
    assert key == "u" and len(sides) == 1
    quantity = {leg["n"]: leg["quantity"] for leg in summary["legs"]}
    phases = {read_crash(crash).before_kill.status for crash in crashes}
    assert phases <= {"UnderExecution", "Started", "UnderExit"}, (phases, SEED_NOTE)
    for crash in crashes:
        where = f"killed after event {crash.kill_after} ({SEED_NOTE})"
        assert crash.summary["status"] == P.COMPLETED.value, (where, crash.summary)
        reading = read_crash(crash)
        assert reading.book.placed_twice == [], (where, reading.book.placed_twice)
        for n, wanted in quantity.items():
            assert reading.book.entered[n] == wanted, (where, n, reading.book.entered)
            assert reading.book.position[n] == 0, (where, n)
        states = extras_states(crash.book)
        before = [extras for seq, _s, extras in states if seq <= crash.kill_seq]
        after = [extras for seq, _s, extras in states if seq > crash.kill_seq]
        assert before and after, where
        # The range measured before the kill is the range after it; the side that fired
        # before the kill is the only one that ever fired.
        measured = [e for e in before + after if e["ranges"]]
        assert before[-1]["ranges"] and after[0]["ranges"], where
        assert all(e["ranges"] == template["ranges"] for e in measured), where
        assert before[-1]["fired"] == after[0]["fired"] == template["fired"], where
        assert all(e["fired"] in ({}, template["fired"]) for e in before + after), where
