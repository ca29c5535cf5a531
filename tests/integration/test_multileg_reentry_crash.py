"""Kill a desk with SIGKILL while its portfolio's legs re-execute on their stops, restart it on
the same book a second after the journal's last row, and check from the journal that no action
fired twice and none was lost.

The child (``multileg_reentry_crash_child.py``) runs a short straddle whose legs each re-execute
up to twice on a 2 % stop, on the crash test's simulated market; an uninterrupted run re-executes
both lines twice. The kills land after events drawn at random (a seed printed, and set by
``DALALDESK_CRASH_SEED`` to replay a failure) from the first stop's exit on. Then, from the journal and the portfolio's last saved state:

* no order tag is used twice, and no leg's entry orders together ask for more than the leg;
* each leg has at most one leg re-executed from it, each line's count is the number of legs
  re-executed on it, and never above the count set;
* every leg that stopped out with its line's count left has its re-executed leg, and that leg
  entered its whole quantity once (or, squared off before it could, was never sent);
* the portfolio completes, its P&L the cash of its journaled fills.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.core.clock import IST
from engine.domain.strategy_records import StrategyRecord
from engine.store.pnl_rebuild import JournalEntry, read_book
from engine.strategies.multileg.legrun import ENTRY, read_tag
from tests.integration.multileg_crash_child import ORIGIN
from tests.integration.multileg_reentry_crash_child import COUNT, STRATEGY
from tests.integration.test_multileg_crash import RESUME_AFTER_NS, Children, child_env, last_row
from tests.multileg_support import SEED_NOTE, journal_cash, kill_points

CHILD = Path(__file__).with_name("multileg_reentry_crash_child.py")
KILLS = 12
"""Kill points drawn at random (``crash_seed``) among the events from the first stop's exit on."""


class ReentryChildren(Children):
    def __init__(self) -> None:  # the re-entry child, served the same way
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )


@pytest.fixture(scope="module")
def pool() -> Iterator[queue.Queue[ReentryChildren]]:
    made = [ReentryChildren() for _ in range(2)]
    waiting: queue.Queue[ReentryChildren] = queue.Queue()
    for one in made:
        waiting.put(one)
    yield waiting
    for one in made:
        one.close()


@dataclass(frozen=True)
class Run:
    book: str
    summary: dict[str, Any]
    kill_after: int | None = None


def run(pool: queue.Queue[ReentryChildren], folder: Path, kill_after: int | None) -> Run:
    folder.mkdir(parents=True)
    book = f"sqlite:///{folder / 'book.db'}"
    children = pool.get()
    try:
        lines = children.run(folder, ORIGIN, kill_after, book)
        if kill_after is not None:
            _seq, ts_ns = last_row(book)
            resume_at = datetime.fromtimestamp((ts_ns + RESUME_AFTER_NS) / 1e9, tz=IST)
            lines = children.run(folder, resume_at, book=book)
    finally:
        pool.put(children)
    return Run(book, json.loads(lines[-1]), kill_after)


@pytest.fixture(scope="module")
def runs(pool: queue.Queue[ReentryChildren], tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    base = tmp_path_factory.mktemp("reentry_crash")
    template_folder = base / "template"
    template_folder.mkdir()
    one = pool.get()
    try:
        lines = one.run(template_folder, ORIGIN, None, f"sqlite:///{template_folder / 'book.db'}")
    finally:
        pool.put(one)
    events = [line.split()[2:4] for line in lines if line.startswith("EVENT ")]
    # From the first exit a stop sent (the first action taken) to the last event but one.
    first = next(
        n
        for n, (kind, tag) in enumerate(events, 1)
        if kind == "OrderSubmitted" and re.match(r"L\d+X", tag)
    )
    points = kill_points(range(first, len(events)), KILLS, "reentry")
    template = Run(f"sqlite:///{template_folder / 'book.db'}", json.loads(lines[-1]))
    with ThreadPoolExecutor(max_workers=2) as threads:
        crashed = list(
            threads.map(lambda p: run(pool, base / f"kill{p[0]}", p[1]), enumerate(points))
        )
    return [template, *crashed]


def last_state(rows: list[JournalEntry]) -> dict[str, Any]:
    states = [
        row.payload["state"]
        for row in rows
        if row.kind == StrategyRecord.kind
        and row.payload.get("strategy") == STRATEGY
        and row.payload.get("state")
    ]
    return states[-1]


def test_multileg_reentry_crash_no_action_fires_twice_and_none_is_lost(runs: list[Run]) -> None:
    template = runs[0]
    assert len(template.summary["legs"]) == 2 + 2 * COUNT  # both lines re-executed twice
    for one in runs[1:]:  # each killed in the middle of an action, and it was taken
        assert len(one.summary["legs"]) >= 4, one.summary
    for one in runs:
        where = f"killed after event {one.kill_after}" if one.kill_after else "uninterrupted"
        where += f" ({SEED_NOTE})"
        rows = read_book(one.book).entries
        state = last_state(rows)
        legs = {leg["n"]: leg for leg in state["legs"]}
        # Orders: no tag twice; no leg's entries ask for more than the leg.
        tags: list[str] = []
        asked: dict[int, int] = defaultdict(int)
        filled: dict[int, int] = defaultdict(int)
        leg_of: dict[str, int] = {}
        for row in rows:
            request = row.payload.get("request") or {}
            if row.kind == "order_submitted" and request.get("strategy") == STRATEGY:
                tags.append(request["tag"])
                tagged = read_tag(request["tag"])
                assert tagged is not None
                if tagged[1] == ENTRY:
                    asked[tagged[0]] += int(request["quantity"])
                    leg_of[str(row.order_id)] = tagged[0]
            elif row.kind == "order_filled" and str(row.order_id) in leg_of:
                filled[leg_of[str(row.order_id)]] += int(row.payload["quantity"])
        assert len(tags) == len(set(tags)), (where, tags)
        for n, quantity in asked.items():
            assert quantity <= legs[n]["quantity"], (where, n, quantity)
        # Actions: one re-executed leg per stopped leg, counted once, none above the count.
        children: dict[int, list[int]] = defaultdict(list)
        roots: dict[int, int] = {}
        for offset, extra in enumerate(state["extra_legs"], start=3):
            line = extra["line"]
            children[line["parent"]].append(offset)
            roots[offset] = line["root"]
        assert all(len(made) == 1 for made in children.values()), (where, dict(children))
        for root in (1, 2):
            made = sum(1 for r in roots.values() if r == root)
            assert state["action_counts"].get(f"{root}:stop", 0) == made <= COUNT, where
        # None lost: a leg stopped out with its line's count left has its re-executed leg,
        # entered whole (or, squared off first, never sent).
        for n, leg in legs.items():
            root = roots.get(n, n)
            stopped = leg["exit_reason"].startswith("stop hit")
            line_count = sum(1 for r in roots.values() if r == root)
            if stopped and n not in children:
                assert line_count == COUNT, (where, n, leg)
        for n in roots:
            entered = filled.get(n, 0)
            assert entered in (0, legs[n]["quantity"]), (where, n, entered)
            if not entered:
                assert legs[n]["remark"] == "not sent: the portfolio exited first", (where, n)
        assert one.summary["status"] == "Completed", (where, one.summary)
        assert Decimal(one.summary["mtm"]) * 100 == journal_cash(one.book, STRATEGY), where
