"""Kill a desk running five execution algos with SIGKILL at random points, restart it on the same
book, and check from the book's journal that no parent over-fills, none is lost, and each
resumes or stops as the trader set.

The child (``algo_crash_child.py``) runs a TWAP, an iceberg and a slicer set to resume after a
restart, and a POV and a TWAP set to stop. An uninterrupted run counts the events of the algos'
children; kill points are drawn from a seeded generator, one in each of ``KILL_POINTS`` equal
parts of that count. For each, a child is killed right after that event and another child on the
same book resumes a second after the journal's last row and runs until no algo is working. Then:

* at every child the book records, the parent's children never ask for more than its target
  (filled plus what is still working), and in the end no parent has filled more than its target;
* every parent is in the book before its first child, and every parent the killed desk had
  started is listed by the restarted one;
* a parent set to resume that was working at the kill completes in full; one set to stop is
  stopped at the restart, sends nothing more, and its working children are cancelled.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from engine.core.clock import IST
from engine.store.pnl_rebuild import read_book
from tests.integration.algo_crash_child import ORIGIN

CHILD = Path(__file__).with_name("algo_crash_child.py")
ROOT = Path(__file__).resolve().parents[2]
KILL_POINTS = 6
KILL_SEED = 20261204
RESUME_AFTER_NS = 1_000_000_000
TERMINAL = {"COMPLETE", "CANCELLED", "REJECTED", "DENIED"}
RESUMING = {"algo-twap-0001", "algo-iceberg-0002", "algo-slicer-0004"}
STOPPING = {"algo-pov-0003", "algo-twap-0005"}


class Children:
    """A process that has imported the desk and forks one child per run."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONHASHSEED"] = "0"
        env["OPENBLAS_NUM_THREADS"] = "1"
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def run(self, folder: Path, book: str, at: datetime, kill_after: int | None) -> list[str]:
        output = folder / ("killed.txt" if kill_after is not None else "finished.txt")
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps([book, at.isoformat(), kill_after, str(output)]) + "\n")
        stdin.flush()
        reply = stdout.readline()
        assert reply, f"the forking process died: {self.close()}"
        code = json.loads(reply)
        lines = output.read_text(encoding="utf-8").splitlines()
        errors = Path(f"{output}.err").read_text(encoding="utf-8")[-3000:]
        if kill_after is None:
            assert code == 0, (code, lines[-3:], errors)
        else:
            assert code == -signal.SIGKILL, (code, lines[-3:], errors)
            assert lines[-1].startswith(f"EVENT {kill_after} "), lines[-3:]
        return lines

    def close(self) -> str:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait(timeout=60)
        assert self.process.stderr is not None
        return self.process.stderr.read()[-3000:]


@pytest.fixture(scope="module")
def children() -> Iterator[queue.Queue[Children]]:
    pool: queue.Queue[Children] = queue.Queue()
    made = [Children() for _ in range(2)]
    for one in made:
        pool.put(one)
    yield pool
    for one in made:
        one.close()


def last_row(book: str) -> tuple[int, int]:
    database = create_engine(book)
    try:
        with database.connect() as connection:
            seq, ts_ns = connection.execute(text("SELECT max(seq), max(ts_ns) FROM journal")).one()
    finally:
        database.dispose()
    return int(seq), int(ts_ns)


@dataclass(frozen=True)
class Crash:
    kill_after: int
    book: str
    kill_seq: int
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def template(
    children: queue.Queue[Children], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("algo-template")
    one = children.get()
    try:
        lines = one.run(folder, f"sqlite:///{folder / 'book.db'}", ORIGIN, None)
    finally:
        children.put(one)
    summary: dict[str, Any] = json.loads(lines[-1])
    assert set(summary["parents"]) == RESUMING | STOPPING
    for parent_id in RESUMING | {"algo-twap-0005"}:
        assert summary["parents"][parent_id]["status"] == "completed", summary
    return summary


@pytest.fixture(scope="module")
def crashes(
    children: queue.Queue[Children],
    template: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> list[Crash]:
    base = tmp_path_factory.mktemp("algo-crashes")
    events = template["events"]
    rng = random.Random(KILL_SEED)
    edges = [1 + events * i // KILL_POINTS for i in range(KILL_POINTS + 1)]
    points = [rng.randrange(lo, max(hi, lo + 1)) for lo, hi in pairwise(edges)]

    def crash(case: tuple[int, int]) -> Crash:
        folder = base / f"kill{case[0] + 1}"
        folder.mkdir()
        book = f"sqlite:///{folder / 'book.db'}"
        pool = children.get()
        try:
            pool.run(folder, book, ORIGIN, case[1])
            kill_seq, ts_ns = last_row(book)
            resume_at = datetime.fromtimestamp((ts_ns + RESUME_AFTER_NS) / 1e9, tz=IST)
            lines = pool.run(folder, book, resume_at, None)
        finally:
            children.put(pool)
        return Crash(case[1], book, kill_seq, json.loads(lines[-1]))

    with ThreadPoolExecutor(max_workers=children.qsize()) as threads:
        return list(threads.map(crash, enumerate(points)))


@dataclass
class Reading:
    over_asks: list[str]
    orphans: list[str]
    """Children journaled before their parent: a crash there would lose the parent."""
    filled: dict[str, int]
    targets: dict[str, int]
    started_before_kill: set[str]
    live_at_kill: set[str]
    """Parents whose last record before the kill said running and working or paused."""
    sent_after_kill: dict[str, int]
    open_at_end: dict[str, int]


def read_crash(crash: Crash) -> Reading:
    children: dict[str, dict[str, list[int]]] = {}
    """parent -> order id -> [quantity, filled, open]"""
    owner: dict[str, str] = {}
    targets: dict[str, int] = {}
    last_before: dict[str, dict[str, Any]] = {}
    over: list[str] = []
    orphans: list[str] = []
    sent_after: dict[str, int] = {}
    for row in read_book(crash.book).entries:
        if row.kind == "strategy" and str(row.payload["strategy"]).startswith("algo-"):
            parent, state = row.payload["strategy"], row.payload["state"]
            targets[parent] = int(state.get("target") or state["spec"]["quantity"])
            if row.seq <= crash.kill_seq:
                last_before[parent] = row.payload
        elif row.kind == "order_submitted":
            parent = row.payload["request"].get("strategy") or ""
            if not parent.startswith("algo-"):
                continue
            owner[str(row.order_id)] = parent
            if parent not in targets:
                orphans.append(f"row {row.seq}: a child of {parent}, which the book has not seen")
                targets[parent] = 0
            mine = children.setdefault(parent, {})
            mine[str(row.order_id)] = [int(row.payload["request"]["quantity"]), 0, 1]
            asked = sum(f + (q - f) * o for q, f, o in mine.values())
            if asked > targets[parent]:
                over.append(f"row {row.seq}: {parent} asks for {asked} of {targets[parent]}")
            if row.seq > crash.kill_seq:
                sent_after[parent] = sent_after.get(parent, 0) + 1
        elif row.kind == "order_filled" and str(row.order_id) in owner:
            child = children[owner[str(row.order_id)]][str(row.order_id)]
            child[1] += int(row.payload["quantity"])
            if child[1] >= child[0]:
                child[2] = 0
        elif (
            row.kind == "order_status"
            and str(row.order_id) in owner
            and row.payload["status"] in TERMINAL
        ):
            children[owner[str(row.order_id)]][str(row.order_id)][2] = 0
    live = {
        parent
        for parent, payload in last_before.items()
        if payload["status"] == "running"
        and payload["state"].get("status") in ("working", "paused")
    }
    return Reading(
        over_asks=over,
        orphans=orphans,
        filled={p: sum(c[1] for c in kids.values()) for p, kids in children.items()},
        targets=targets,
        started_before_kill=set(last_before),
        live_at_kill=live,
        sent_after_kill=sent_after,
        open_at_end={p: sum(c[2] for c in kids.values()) for p, kids in children.items()},
    )


CASES = pytest.mark.parametrize("case", range(KILL_POINTS))


@CASES
def test_algo_crash_never_over_fills_a_parent(case: int, crashes: list[Crash]) -> None:
    reading = read_crash(crashes[case])
    assert not reading.over_asks, reading.over_asks
    for parent, filled in reading.filled.items():
        assert filled <= reading.targets[parent], (parent, filled)
        assert crashes[case].summary["parents"][parent]["filled"] == filled


@CASES
def test_algo_crash_loses_no_parent(case: int, crashes: list[Crash]) -> None:
    crash = crashes[case]
    reading = read_crash(crash)
    assert not reading.orphans, reading.orphans
    assert reading.started_before_kill <= set(crash.summary["parents"])
    # The restarted desk ends with nothing left working of any parent.
    assert all(p["open"] == 0 for p in crash.summary["parents"].values()), crash.summary


@CASES
def test_algo_crash_resumes_or_stops_each_parent_as_set(case: int, crashes: list[Crash]) -> None:
    crash = crashes[case]
    reading = read_crash(crash)
    parents = crash.summary["parents"]
    for parent in reading.live_at_kill & RESUMING:
        assert parents[parent]["status"] == "completed", (parent, parents[parent])
        assert reading.filled[parent] == reading.targets[parent]
    for parent in reading.live_at_kill & STOPPING:
        assert parents[parent]["status"] == "stopped", (parent, parents[parent])
        assert "on restart: stop" in parents[parent]["reason"]
        assert reading.sent_after_kill.get(parent, 0) == 0
    assert set(parents) == RESUMING | STOPPING
