"""Kill a desk running a multileg portfolio with SIGKILL mid-execution and mid-exit, restart it on
the same book, and check from the book's journal alone that the portfolio resumed where it was.

The child (``multileg_crash_child.py``) runs the predefined iron condor with legs sliced at the
freeze quantity, each with a stop resting at the broker as an SL-L order, the sold call taking a
target mid-run, squared off a minute after it enters. A first run to completion counts the
events of the portfolio's orders; twenty kill points are drawn from a seeded generator, one in
each twentieth of that count. For each, a child is killed right after that event, and another
child on the same book resumes the portfolio a second after the journal's last row and runs it
to completion. Then, from the journal:

* no leg is placed twice: no tag is used twice, a leg's entry orders never together ask for more
  than the leg's quantity, its exit and stop orders never for more than it holds, and in the end
  each leg entered its quantity once and exited all of it;
* the first status the restarted desk saves is the one saved before the kill, or the status one
  legal step on;
* every entered leg has stops at the broker for exactly what it holds once the portfolio has
  entered (and as the restarted desk resumes it): a stop that reached the broker before the kill
  is adopted, a missing one placed; an exiting leg resumes with exits for what it holds; a leg
  that has exited has no order left at all;
* the portfolio completes, and its P&L is the cash of its fills in the journal.

Two kills aimed at moments the random ones may miss follow: the desk killed while the sold legs
are being entered and back only after the square-off time (it must enter nothing more), and
killed while the sold call exits at its target (that exit must go on at once).
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from engine.core.clock import IST
from engine.domain.orders import TERMINAL_STATUSES, OrderStatus
from engine.domain.strategy_records import StrategyRecord
from engine.store.pnl_rebuild import JournalEntry, read_book
from engine.strategies.multileg.legrun import ENTRY, EXIT, STOP, read_tag
from engine.strategies.multileg.status import PORTFOLIO_TRANSITIONS, PortfolioStatus
from tests.integration.multileg_crash_child import ORIGIN, STRATEGY
from tests.multileg_support import journal_cash

CHILD = Path(__file__).with_name("multileg_crash_child.py")
ROOT = Path(__file__).resolve().parents[2]
KILL_POINTS = 20
KILL_SEED = 20261125
RESUME_AFTER_NS = 1_000_000_000
"""The restarted desk's clock starts this long after the journal's last row."""
TERMINAL = {status.value for status in TERMINAL_STATUSES}
P = PortfolioStatus


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONHASHSEED"] = "0"  # the same run every time, so kill points mean the same events
    env["OPENBLAS_NUM_THREADS"] = "1"  # no BLAS threads in a process that forks
    return env


class Children:
    """A process that has imported the desk and forks one child per run (``--serve``)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )

    def run(
        self, folder: Path, at: datetime, kill_after: int | None = None, book: str | None = None
    ) -> list[str]:
        """The child's output lines; it must have been killed at ``kill_after``, or finished.
        The book is ``book`` (a URL), else the SQLite file ``book.db`` in ``folder``."""
        output = folder / ("killed.txt" if kill_after is not None else "finished.txt")
        book = book or str(folder / "book.db")
        job = [book, str(folder / "portfolios"), at.isoformat(), kill_after]
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps([*job, str(output)]) + "\n")
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
        """Stop the process; what it said on stderr."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait(timeout=60)
        assert self.process.stderr is not None
        return self.process.stderr.read()[-3000:]


@pytest.fixture(scope="module")
def children() -> Iterator[queue.Queue[Children]]:
    """Two forking processes, one a core."""
    pool: queue.Queue[Children] = queue.Queue()
    made = [Children() for _ in range(2)]
    for one in made:
        pool.put(one)
    yield pool
    for one in made:
        one.close()


def last_row(book: str) -> tuple[int, int]:
    """(seq, ts_ns) of the journal's last row, read with plain SQL."""
    database = create_engine(book)
    try:
        with database.connect() as connection:
            seq, ts_ns = connection.execute(text("SELECT max(seq), max(ts_ns) FROM journal")).one()
    finally:
        database.dispose()
    return int(seq), int(ts_ns)


def kill_points(events: int) -> list[int]:
    """One kill point drawn in each twentieth of the run's events."""
    rng = random.Random(KILL_SEED)
    edges = [1 + events * i // KILL_POINTS for i in range(KILL_POINTS + 1)]
    return [rng.randrange(lo, max(hi, lo + 1)) for lo, hi in pairwise(edges)]


@dataclass(frozen=True)
class Crash:
    kill_after: int
    book: str
    """The book's URL: a SQLite file or a PostgreSQL database."""
    kill_seq: int
    """The journal's last row when the desk was killed."""
    summary: dict[str, Any]
    """What the restarted desk said of the portfolio once it had finished."""


def crash_and_resume(
    pool: queue.Queue[Children],
    folder: Path,
    kill_after: int,
    book: str | None = None,
    down_ns: int = RESUME_AFTER_NS,
) -> Crash:
    """Kill a desk at ``kill_after``, then restart it ``down_ns`` after the journal's last row
    and let it finish; on ``book`` (a URL), else on the SQLite file ``book.db`` in ``folder``."""
    folder.mkdir(parents=True)
    book = book or f"sqlite:///{folder / 'book.db'}"
    children = pool.get()
    try:
        children.run(folder, ORIGIN, kill_after, book)
        kill_seq, ts_ns = last_row(book)
        resume_at = datetime.fromtimestamp((ts_ns + down_ns) / 1e9, tz=IST)
        lines = children.run(folder, resume_at, book=book)
    finally:
        pool.put(children)
    return Crash(kill_after, book, kill_seq, json.loads(lines[-1]))


@dataclass(frozen=True)
class Template:
    summary: dict[str, Any]
    events: list[str]
    """``<kind> <tag> <portfolio status> <order status>`` of each event the kills count."""

    def numbers(self, *pattern: str) -> list[int]:
        """The numbers of the events that match ``pattern`` field by field (a field matches
        when it starts with the pattern's), in order."""
        return [
            n
            for n, event in enumerate(self.events, start=1)
            if all(field.startswith(p) for field, p in zip(event.split(), pattern, strict=False))
        ]


@pytest.fixture(scope="module")
def template(children: queue.Queue[Children], tmp_path_factory: pytest.TempPathFactory) -> Template:
    """An uninterrupted run: its summary and the events the kills count."""
    folder = tmp_path_factory.mktemp("template")
    one = children.get()
    try:
        lines = one.run(folder, ORIGIN)
    finally:
        children.put(one)
    summary = json.loads(lines[-1])
    assert summary["status"] == P.COMPLETED.value, summary
    events = [line.split(maxsplit=2)[2] for line in lines if line.startswith("EVENT ")]
    assert summary["events"] == len(events)
    return Template(summary, events)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def new_book(request: pytest.FixtureRequest) -> Callable[[Path], str]:
    """Makes the URL of a new book for a crash: a SQLite file in its folder, or a database of
    its own on the PostgreSQL server."""
    if request.param == "sqlite":
        return lambda folder: f"sqlite:///{folder / 'book.db'}"
    server = request.getfixturevalue("postgres_server")
    return lambda _folder: str(server.fresh_url())


@pytest.fixture(scope="module")
def crashes(
    children: queue.Queue[Children],
    template: Template,
    new_book: Callable[[Path], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> list[Crash]:
    base = tmp_path_factory.mktemp("crashes")
    points = kill_points(len(template.events))

    def crash(case: tuple[int, int]) -> Crash:
        folder = base / f"kill{case[0] + 1}"
        return crash_and_resume(children, folder, case[1], new_book(folder))

    with ThreadPoolExecutor(max_workers=children.qsize()) as threads:
        return list(threads.map(crash, enumerate(points)))


# -- the journal, read back ---------------------------------------------------------------------


@dataclass
class LegOrder:
    leg: int
    purpose: str
    quantity: int
    status: str = OrderStatus.PENDING_SUBMIT.value
    filled: int = 0

    @property
    def live(self) -> bool:
        return self.status not in TERMINAL and self.filled < self.quantity

    @property
    def pending(self) -> int:
        return self.quantity - self.filled if self.live else 0


@dataclass
class Book:
    """The portfolio's orders, positions and saved states as the journal has them, row by row."""

    orders: dict[str, LegOrder] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    position: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    entered: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    exited: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    placed_twice: list[str] = field(default_factory=list)
    """Orders that would have traded a leg (or a part of it) a second time."""
    stops_wrong: list[str] = field(default_factory=list)
    """Moments an entered leg's stops at the broker did not cover what it held, or an exited
    leg still had orders."""
    exits_wrong: list[str] = field(default_factory=list)
    """A restart that left an exiting leg without exits for what it holds (or exiting holding
    nothing)."""

    def working(self, leg: int, *purposes: str) -> int:
        return sum(
            o.pending for o in self.orders.values() if o.leg == leg and o.purpose in purposes
        )

    def live(self, leg: int, *purposes: str) -> dict[str, LegOrder]:
        return {
            order_id: o
            for order_id, o in self.orders.items()
            if o.leg == leg and o.purpose in purposes and o.live
        }

    def apply(self, row: JournalEntry, quantity_of: dict[int, int]) -> None:
        if row.kind in ("order_submitted", "order_denied"):
            request = row.payload.get("request") or {}
            if request.get("strategy") != STRATEGY:
                return
            tag = request["tag"]
            tagged = read_tag(tag)
            assert tagged is not None, tag
            if tag in self.tags:
                self.placed_twice.append(f"row {row.seq}: tag {tag} used twice")
            self.tags.add(tag)
            leg, purpose, _number = tagged
            order = LegOrder(leg, purpose, int(request["quantity"]))
            if row.kind == "order_denied":
                order.status = OrderStatus.DENIED.value
            self.orders[str(row.order_id)] = order
            self._check_sent(row.seq, tag, order, quantity_of)
        elif row.kind == "order_status" and row.order_id in self.orders:
            order = self.orders[row.order_id]
            if order.live:  # an order that has ended stays ended
                order.status = row.payload["status"]
        elif row.kind == "order_filled" and row.order_id in self.orders:
            order = self.orders[row.order_id]
            quantity = int(row.payload["quantity"])
            order.filled += quantity
            signed = quantity if row.payload["side"] == "BUY" else -quantity
            self.position[order.leg] += signed
            if order.purpose == ENTRY:
                self.entered[order.leg] += quantity
            else:
                self.exited[order.leg] += quantity

    def _check_sent(self, seq: int, tag: str, order: LegOrder, quantity_of: dict[int, int]) -> None:
        leg = order.leg
        if order.purpose == ENTRY:
            asked = sum(
                o.filled + o.pending
                for o in self.orders.values()
                if o.leg == leg and o.purpose == ENTRY
            )
            if asked > quantity_of[leg]:
                self.placed_twice.append(
                    f"row {seq}: {tag} makes leg {leg}'s entries ask for {asked}, more than its "
                    f"{quantity_of[leg]}"
                )
        else:
            closing = self.working(leg, EXIT, STOP)
            if closing > abs(self.position[leg]):
                self.placed_twice.append(
                    f"row {seq}: {tag} makes leg {leg}'s exits and stops {closing}, more than "
                    f"the {abs(self.position[leg])} it holds"
                )

    def exits_cover(self, seq: int, legs: list[dict[str, Any]], when: str) -> None:
        """Every exiting leg has exits (or stops) working for exactly what it still holds; one
        that holds nothing has exited."""
        for leg in legs:
            n = leg["n"]
            if leg["state"] != "exiting":
                continue
            held, closing = abs(self.position[n]), self.working(n, EXIT, STOP)
            if not held or closing != held:
                self.exits_wrong.append(
                    f"row {seq} ({when}): leg {n} is exiting holding {held} with exits and "
                    f"stops for {closing}"
                )

    def stops_cover(self, seq: int, legs: list[dict[str, Any]], when: str) -> None:
        """Every entered leg has stops at the broker for exactly what it holds."""
        for leg in legs:
            n = leg["n"]
            if leg["state"] != "entered":
                continue
            held, stops = abs(self.position[n]), self.working(n, STOP)
            if not held or stops != held:
                self.stops_wrong.append(
                    f"row {seq} ({when}): leg {n} is entered holding {held} with stops for {stops}"
                )


@dataclass(frozen=True)
class Saved:
    seq: int
    kernel: str
    """The kernel's word: running, stopped, failed."""
    reason: str
    status: str
    legs: list[dict[str, Any]]


def saved_states(rows: list[JournalEntry]) -> Iterator[Saved]:
    for row in rows:
        if row.kind == StrategyRecord.kind and row.payload.get("strategy") == STRATEGY:
            state = row.payload.get("state") or {}
            yield Saved(
                row.seq,
                row.payload["status"],
                row.payload.get("reason", ""),
                state.get("status", ""),
                state.get("legs", []),
            )


@dataclass
class Reading:
    """What the journal of one crash says."""

    book: Book
    saved: list[Saved]
    before_kill: Saved
    after_restart: Saved
    resumed: Saved | None
    """The record the kernel journaled once the restarted portfolio had started (None when it
    finished as it started)."""
    adopted: list[str]
    """Stops resting at the broker when the desk was killed that the restarted desk kept."""
    dropped: list[str]
    """… and those it did not keep."""
    placed: list[str]
    """Stops the restarted desk placed as it resumed (for what no resting stop covered)."""


def read_crash(crash: Crash) -> Reading:
    rows = read_book(crash.book).entries
    saved = list(saved_states(rows))
    quantity_of = {leg["n"]: leg["quantity"] for leg in saved[-1].legs}
    by_seq = {s.seq: s for s in saved}
    book = Book()
    resting_at_kill: list[str] = []
    adopted: list[str] = []
    dropped: list[str] = []
    placed: list[str] = []
    after = [s for s in saved if s.seq > crash.kill_seq]
    resumed = next((s for s in after if s.reason == "started"), None)
    for row in rows:
        book.apply(row, quantity_of)
        if row.seq == crash.kill_seq:
            resting_at_kill = [
                order_id
                for order_id, o in book.orders.items()
                if o.purpose == STOP and o.status == OrderStatus.TRIGGER_PENDING.value
            ]
        if (
            row.kind == "order_submitted"
            and row.order_id in book.orders
            and book.orders[row.order_id].purpose == STOP
            and crash.kill_seq < row.seq
            and (resumed is None or row.seq < resumed.seq)
        ):
            placed.append(str(row.order_id))
        state = by_seq.get(row.seq)
        if state is None:
            continue
        for leg in state.legs:
            if leg["state"] == "exited" and book.live(leg["n"], ENTRY, EXIT, STOP):
                book.stops_wrong.append(
                    f"row {row.seq}: leg {leg['n']} has exited with orders still live: "
                    f"{sorted(book.live(leg['n'], ENTRY, EXIT, STOP))}"
                )
        if state.status == P.STARTED.value:
            book.stops_cover(row.seq, state.legs, "started")
        if state is resumed:
            book.stops_cover(row.seq, state.legs, "resumed")
            book.exits_cover(row.seq, state.legs, "resumed")
            for order_id in resting_at_kill:
                live = book.orders[order_id].live
                (adopted if live else dropped).append(order_id)
    before = [s for s in saved if s.seq <= crash.kill_seq]
    return Reading(book, saved, before[-1], after[0], resumed, adopted, dropped, placed)


@pytest.fixture(scope="module")
def readings(crashes: list[Crash]) -> list[Reading]:
    return [read_crash(crash) for crash in crashes]


def _purpose(tag: str) -> str:
    tagged = read_tag(tag)
    assert tagged is not None, tag
    return tagged[1]


def _phase(reading: Reading) -> str:
    return reading.before_kill.status


# -- the checks ---------------------------------------------------------------------------------

CASES = pytest.mark.parametrize("case", range(KILL_POINTS), ids=lambda i: f"kill{i + 1}")


def test_multileg_crash_kill_points_land_mid_execution_and_mid_exit(
    template: Template, readings: list[Reading]
) -> None:
    phases = [_phase(r) for r in readings]
    assert phases.count(P.UNDER_EXECUTION.value) >= 3, phases
    assert phases.count(P.UNDER_EXIT.value) >= 3, phases
    assert set(phases) <= {P.UNDER_EXECUTION.value, P.STARTED.value, P.UNDER_EXIT.value}, phases
    # The legs really were sliced at the freeze quantity, and stops rested at the broker.
    purposes = [_purpose(tag) for tag in template.summary["tags"]]
    assert purposes.count(ENTRY) > len(template.summary["legs"])
    assert STOP in purposes
    # Restarts found stops resting at the broker to adopt, and stops missing to place.
    assert any(r.adopted for r in readings)
    assert any(r.placed for r in readings)


@CASES
def test_multileg_crash_resumes_in_the_status_it_saved_before_the_kill(
    case: int, readings: list[Reading]
) -> None:
    reading = readings[case]
    before, after = reading.before_kill.status, reading.after_restart.status
    assert reading.after_restart.kernel == "running"
    assert after == before or any(
        (status.value, then.value) == (before, after)
        for (status, _event), then in PORTFOLIO_TRANSITIONS.items()
    ), (before, after)
    # Over the whole book, the portfolio only ever took legal steps.
    statuses = [s.status for s in reading.saved]
    legal = {(s.value, t.value) for (s, _e), t in PORTFOLIO_TRANSITIONS.items()}
    steps = {(a, b) for a, b in pairwise(statuses) if a != b}
    assert steps <= legal, steps - legal


@CASES
def test_multileg_crash_places_no_leg_twice(case: int, readings: list[Reading]) -> None:
    reading = readings[case]
    book = reading.book
    assert not book.placed_twice, book.placed_twice
    for leg in reading.saved[-1].legs:
        n = leg["n"]
        assert book.entered[n] == leg["quantity"], (n, book.entered[n])
        assert book.exited[n] == book.entered[n], (n, book.exited[n])
        assert book.position[n] == 0


@CASES
def test_multileg_crash_keeps_broker_stops_for_what_each_leg_holds(
    case: int, readings: list[Reading]
) -> None:
    reading = readings[case]
    assert not reading.book.stops_wrong, reading.book.stops_wrong
    assert not reading.book.exits_wrong, reading.book.exits_wrong
    resumed = reading.resumed
    if resumed is not None and resumed.status in (P.UNDER_EXECUTION.value, P.STARTED.value):
        # Before the exits begin, a stop resting at the broker is adopted, never placed again.
        assert not reading.dropped, reading.dropped


@CASES
def test_multileg_crash_completes_with_the_pnl_of_its_journaled_fills(
    case: int, crashes: list[Crash], readings: list[Reading]
) -> None:
    crash, reading = crashes[case], readings[case]
    assert crash.summary["status"] == P.COMPLETED.value, crash.summary
    last = reading.saved[-1]
    assert (last.kernel, last.status) == ("stopped", P.COMPLETED.value)
    assert not any(o.live for o in reading.book.orders.values())
    assert Decimal(crash.summary["mtm"]) * 100 == journal_cash(crash.book, STRATEGY)


@pytest.mark.parametrize(
    "kill_at",
    [
        pytest.param(("OrderSubmitted", "L1E"), id="sold-legs-entries-queued"),
        pytest.param(("OrderFilled", "L2E"), id="sold-leg-part-filled"),
    ],
)
def test_multileg_crash_restarted_after_its_square_off_time_enters_nothing_more(
    kill_at: tuple[str, str],
    children: queue.Queue[Children],
    template: Template,
    new_book: Callable[[Path], str],
    tmp_path: Path,
) -> None:
    """Killed while its sold legs were being entered and restarted only after its square-off
    time, the portfolio sends no more entries: it squares off what its legs hold."""
    kill_after = template.numbers(*kill_at)[0]
    folder = tmp_path / "book"
    crash = crash_and_resume(children, folder, kill_after, new_book(folder), down_ns=90 * 10**9)
    reading = read_crash(crash)
    assert reading.before_kill.status == P.UNDER_EXECUTION.value
    rows = read_book(crash.book).entries
    late = [
        row.payload["request"]["tag"]
        for row in rows
        if row.seq > crash.kill_seq
        and row.kind == "order_submitted"
        and row.payload["request"].get("strategy") == STRATEGY
        and _purpose(row.payload["request"]["tag"]) == ENTRY
    ]
    assert late == []
    assert not reading.book.placed_twice and not reading.book.stops_wrong
    assert crash.summary["status"] == P.COMPLETED.value, crash.summary
    assert "square-off time" in crash.summary["reason"]
    assert all(held == 0 for held in reading.book.position.values())
    assert Decimal(crash.summary["mtm"]) * 100 == journal_cash(crash.book, STRATEGY)


@pytest.mark.parametrize(
    "pick",
    [
        pytest.param(
            lambda t: t.numbers("OrderStatusChanged", "L1S", "Started", "OPEN")[0],
            id="its-exit-working",
        ),
        pytest.param(
            lambda t: t.numbers("OrderFilled", "L1S", "Started")[-1], id="its-exit-filled"
        ),
    ],
)
def test_multileg_crash_killed_as_a_leg_exits_on_its_own_goes_on_exiting_it(
    pick: Any,
    children: queue.Queue[Children],
    template: Template,
    new_book: Callable[[Path], str],
    tmp_path: Path,
) -> None:
    """Killed while the sold call exits at its target (its stops turned into its exit), the
    restarted portfolio goes on with that exit at once, without waiting for the square-off time,
    and places no stop for that leg again."""
    crash = crash_and_resume(children, tmp_path / "book", pick(template), new_book(tmp_path))
    reading = read_crash(crash)
    assert reading.before_kill.status == P.STARTED.value
    assert reading.before_kill.legs[0]["state"] == "exiting"
    assert not reading.book.exits_wrong and not reading.book.stops_wrong
    rows = read_book(crash.book).entries
    exited = next(
        row.ts_ns
        for row in rows
        if row.kind == StrategyRecord.kind
        and row.payload.get("strategy") == STRATEGY
        and row.payload["state"]["legs"][0]["state"] == "exited"
    )
    square_off = ORIGIN.replace(minute=21, second=0)
    assert datetime.fromtimestamp(exited / 1e9, tz=IST) < square_off
    stops_again = [
        row.payload["request"]["tag"]
        for row in rows
        if row.seq > crash.kill_seq
        and row.kind == "order_submitted"
        and row.payload["request"].get("strategy") == STRATEGY
        and row.payload["request"]["tag"].startswith("L1S")
    ]
    assert stops_again == []
    assert crash.summary["status"] == P.COMPLETED.value, crash.summary
    assert Decimal(crash.summary["mtm"]) * 100 == journal_cash(crash.book, STRATEGY)
