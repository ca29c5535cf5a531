"""One backtest run: a strategy (a multileg portfolio from its spec, or a Python strategy of the
kernel's catalogue with its parameters) over a recording, on the desk's own engine.

The engine is the desk's: built by the runtime (``BuildDesk``, a port this layer declares) with
a ``ReplayFeed`` (or ``BarReplayFeed``) and a ``SimulatedClock`` instead of the market and the
wall clock, so the same gate, order manager, paper venue, charges and strategy kernel run, as
fast as the data comes. The run's journal is its own SQLite book, ``<folder>/book.db``; its
summary and equity curve are written beside the journal in the same file (``results``).
Progress is reported with an estimate of the time left; a cancel is heard between batches of
ticks and stops the run cleanly (the journal keeps what happened until then).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.backtest.results import BacktestResult, PnlTracker, write_result
from engine.backtest.run_guard import (
    Reading,
    TracedDay,
    WatchedFeed,
    let_go,
    name_taken,
    replay_stopped,
    run_name_problem,
)
from engine.core.bus import EventBus
from engine.core.clock import IST, SimulatedClock
from engine.domain.bars import Bar
from engine.domain.instruments import Instrument
from engine.marketdata.feed import Feed
from engine.marketdata.quotes import QuoteCache
from engine.marketdata.recording import (
    RecordedDay,
    Recording,
    RecordingError,
    listed_instruments,
)
from engine.marketdata.replay import BarReplayFeed, ReplayFeed
from engine.oms.order_manager import OrderManager
from engine.store.backup import backup_dir, list_backups
from engine.store.book_lock import BookInUse, BookLock, book_holder, lock_path
from engine.strategies.kernel import StrategyKernel
from engine.strategies.multileg.spec import unwrapped

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

TICKS, BARS = "ticks", "bars"
READ_REPORT_S = 0.25
"""How often a long read of a recording's bars is reported."""
CLAIM = "run"
"""A run's claim on its name: the OS lock of ``<folder>/run.lock``, taken before anything else
and held to the run's end (it dies with its process; the file goes with the run), so a second
run of the name is refused at once rather than after reading its recording."""


class BacktestError(ValueError):
    """A run that cannot start (no such strategy, no data, a bad parameter), in words."""


class BacktestCancelled(BacktestError):
    """A run cancelled before its replay began: nothing ran and nothing was kept."""


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    name: str
    """The run's name (its folder under the profile's backtests folder)."""
    recording: str
    """The recording's folder (``engine.marketdata.recording``)."""
    strategy: str = ""
    """A strategy of the kernel's catalogue (built in or the trader's), or empty with
    ``portfolio``."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Values for the strategy's class attributes (``fast = 10``): the parameters swept."""
    portfolio: Mapping[str, Any] | None = None
    """A multileg portfolio's spec (as the portfolio editor saves it)."""
    algo: Mapping[str, Any] | None = None
    """An execution algo's settings (``AlgoSpec`` fields, as ``start_algo`` takes them): the
    parent is started at the replay's first moment and its children trade on the replay."""
    signals: str | None = None
    """A file of TradingView alerts (``engine.signals.alert_file``), each fed to the desk's
    SignalDesk (in auto mode) at the time it fired, on the replay's clock."""
    start: date | None = None
    end: date | None = None
    mode: str = TICKS
    """'ticks': every recorded tick; 'bars': the recorded 1-minute bars (faster; next-bar
    fills)."""
    always_open: bool = True
    """Trade whenever the data has prices (a recording is of open hours); False applies the
    market calendar's sessions as the desk does."""
    equity_every_seconds: float = 60.0
    strategies_dir: str | None = None
    """The trader's strategies folder, for a strategy of theirs."""
    risk: Mapping[str, Any] | None = None
    """The limits the run's risk gate applies (``RiskSettings.to_mapping``: the Backtest panel
    sends the desk's own); None: the limits a new book starts with."""

    def __post_init__(self) -> None:
        problem = run_name_problem(self.name)
        if problem is not None:
            raise BacktestError(problem)
        kinds = (bool(self.strategy), self.portfolio is not None, self.algo is not None)
        if sum((*kinds, self.signals is not None)) != 1:
            raise BacktestError(
                "a run needs one of a strategy, a portfolio, an algo or a signals file"
            )
        if self.mode not in (TICKS, BARS):
            raise BacktestError(f"mode must be '{TICKS}' or '{BARS}', not {self.mode!r}")
        if not (
            isinstance(self.equity_every_seconds, int | float)
            and math.isfinite(self.equity_every_seconds)
            and self.equity_every_seconds > 0
        ):
            raise BacktestError("equity_every_seconds must be a positive number")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise BacktestError(f"the range starts {self.start} after it ends {self.end}")


def read_settings_file(path: str | Path, what: str) -> dict[str, Any]:
    """A portfolio's or an algo's settings for a run: one JSON object of them in ``path``;
    anything else is refused naming the file (and the line and column of a JSON mistake)."""
    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as problem:
        raise BacktestError(f"the {what} file {path} cannot be read: {problem}") from None
    except json.JSONDecodeError as problem:
        raise BacktestError(
            f"the {what} file {path} is not JSON: {problem.msg} at line {problem.lineno}, "
            f"column {problem.colno}"
        ) from None
    if not isinstance(settings, dict):
        raise BacktestError(f"the {what} file {path} must hold one JSON object of settings")
    return settings


def read_portfolio_file(path: str | Path) -> dict[str, Any]:
    """A multileg portfolio's spec for a run: the desk's export (``{"portfolio": ...}``), a
    template, or the spec itself."""
    spec = unwrapped(read_settings_file(path, "portfolio"))
    if not isinstance(spec, dict):
        raise BacktestError(
            f"the portfolio file {path} holds no portfolio: its 'portfolio' is not an object"
        )
    return spec


def strategy_params(words: Iterable[str]) -> dict[str, Any]:
    """A strategy's parameters as the trader writes them, ``fast=10`` each: a value JSON reads
    is that value, anything else its text. One not ``name=value``, or a name given twice, is
    refused in words."""
    params: dict[str, Any] = {}
    for word in words:
        name, value = named(word, "a parameter is name=value")
        if name in params:
            raise BacktestError(f"{name} is given twice: give it once")
        params[name] = param_value(value)
    return params


def named(text: str, form: str) -> tuple[str, str]:
    """``name=rest`` split at its first ``=``; ``form`` says what was expected when it is not."""
    name, sign, rest = text.partition("=")
    if not sign or not name:
        raise BacktestError(f"{form}, not {text!r}")
    return name, rest


def param_value(text: str) -> Any:
    """``10`` is 10, ``true`` True, ``abc`` 'abc'."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@dataclass(frozen=True, slots=True)
class Progress:
    done: float
    """Share of the data replayed, 0..1."""
    elapsed_s: float
    eta_s: float | None
    """Seconds left at the pace so far (None until it can be told)."""
    market_time: datetime
    days_read: tuple[int, int] | None = None
    """While the bars are read, before the replay begins: the days read and the days in all
    (``done`` is 0 then, ``market_time`` the start of the day read last)."""


class PortfolioDesk(Protocol):
    def save_portfolio(self, spec: dict[str, Any]) -> str | None: ...

    def start_portfolio(self, name: str) -> str | None: ...

    def start_algo(self, spec: dict[str, Any]) -> Any: ...


class Desk(Protocol):
    """What a run needs of the engine the runtime builds."""

    bus: EventBus
    quotes: QuoteCache
    orders: OrderManager
    strategies: StrategyKernel

    @property
    def api(self) -> PortfolioDesk: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class BuildDesk(Protocol):
    def __call__(
        self,
        *,
        book: Path,
        clock: SimulatedClock,
        feed: Feed,
        instruments: Iterable[Instrument],
        request: BacktestRequest,
    ) -> Desk: ...


async def run_backtest(
    request: BacktestRequest,
    folder: Path,
    build: BuildDesk,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    poll_seconds: float = 0.05,
) -> BacktestResult:
    """Run ``request`` with its book in ``folder`` (created; a run already there, or going on
    there, is refused)."""
    book = folder / "book.db"
    made = [f for f in (folder, *folder.parents) if not f.exists()]  # nearest first
    claim = _claim(request.name, folder, book)
    try:
        if book.exists() or book_holder(book) is not None:
            raise BacktestError(name_taken(request.name, folder, book))
        return await _run(request, folder, book, build, progress, cancelled, poll_seconds)
    finally:
        let_go(claim, made or [folder])


async def _run(
    request: BacktestRequest,
    folder: Path,
    book: Path,
    build: BuildDesk,
    progress: Callable[[Progress], None] | None,
    cancelled: Callable[[], bool] | None,
    poll_seconds: float,
) -> BacktestResult:
    """The run in its claimed folder; a run that never began keeps nothing."""
    try:
        recording = Recording(request.recording)
        days = recording.days(request.start, request.end)
        incomplete = recording.incomplete_days(request.start, request.end)
    except RecordingError as exc:
        raise BacktestError(str(exc)) from exc
    if incomplete:
        # A run that skipped them would read as if it covered the whole range.
        names = ", ".join(folder.name for folder in incomplete)
        raise BacktestError(
            f"{len(incomplete)} recorded day(s) in the range have ticks or bars but no "
            f"instruments file, so they cannot be replayed: {names}. Move them out of "
            f"{request.recording} or choose a range without them"
        )
    if not days:
        raise BacktestError(f"{request.recording} holds no recorded day in the range asked")
    try:
        instruments = listed_instruments(days)
    except RecordingError as exc:
        raise BacktestError(str(exc)) from exc
    feed: ReplayFeed | BarReplayFeed
    reading = Reading()
    if request.mode == BARS:
        bars = _read_bars(days, progress, cancelled)
        if not bars:
            raise BacktestError(f"{request.recording} holds no bars in the range asked")
        clock = SimulatedClock(_moment(min(b.start_ns for b in bars)))
        feed = BarReplayFeed(bars, clock)
    else:
        try:
            first = next(
                (t for d in days for table in d.tick_tables() for t in _first(table)), None
            )
        except RecordingError as exc:
            raise BacktestError(str(exc)) from exc
        if first is None:
            raise BacktestError(f"{request.recording} holds no ticks in the range asked")
        clock = SimulatedClock(_moment(first))
        feed = ReplayFeed([TracedDay(d.day, d.folder, reading) for d in days], clock)
    watched = WatchedFeed(feed)
    if book.exists():
        # Made while the recording was read, by a run of the same name that slipped past the
        # claim as its file was removed: not this run's to build on. One made from here on is
        # refused by the book's own lock.
        raise BacktestError(name_taken(request.name, folder, book))
    try:
        desk = build(book=book, clock=clock, feed=watched, instruments=instruments, request=request)
    except BookInUse:
        # A desk opened this book while the run read its recording.
        raise BacktestError(name_taken(request.name, folder, book)) from None
    tracker = PnlTracker(desk.bus, desk.quotes)
    started = time.perf_counter()
    cancel = False
    begun = False
    try:
        desk.start()
        strategy_id = _start_strategy(desk, request)
        begun = True
        clock.every(request.equity_every_seconds, lambda: tracker.sample(clock.time_ns()))
        while not watched.ended.is_set():
            # Not done within the poll: report and look for a cancel.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watched.ended.wait(), poll_seconds)
            if watched.ended.is_set():
                break  # a cancel asked now comes too late: the run is whole
            if progress is not None:
                progress(_progress(feed.delivered, feed.total, started, clock))
            if cancelled is not None and cancelled():
                cancel = True
                break
            _refuse_if_unwritten(desk, folder)
        _refuse_if_unwritten(desk, folder)
        if not cancel and not feed.finished.is_set():
            raise BacktestError(replay_stopped(watched.failure, reading, clock, folder))
        tracker.sample(clock.time_ns())
    finally:
        await desk.stop()
        if not begun:
            _discard_book(book)
    result = tracker.result(
        name=request.name,
        strategy=_run_label(request, strategy_id),
        params=dict(request.params),
        ticks=feed.delivered,
        elapsed_s=time.perf_counter() - started,
        cancelled=cancel,
        book=str(book),
        total=feed.total,
        bars=request.mode == BARS,
    )
    try:
        write_result(book, result)
    except sqlite3.Error as exc:
        raise BacktestError(
            f"the run ended but its result could not be kept in {book} ({exc}): free space "
            f"there and run it again under another name"
        ) from exc
    if progress is not None and not cancel:
        progress(Progress(1.0, result.elapsed_s, 0.0, clock.now()))
    return result


def _claim(name: str, folder: Path, book: Path) -> BookLock:
    """The run's claim on its name (``CLAIM``), taken at once: a run of the same name going on
    (reading its recording, or replaying it) is refused in words."""
    cannot = f"the folder of run {name!r} cannot be made in {folder.parent}"
    for _attempt in range(3):
        try:
            return BookLock.acquire(folder / CLAIM)
        except BookInUse as in_use:
            raise BacktestError(name_taken(name, folder, book, in_use.holder)) from None
        except FileNotFoundError:
            continue  # the runs folder removed as it was made, by a run there that kept nothing
        except OSError as exc:
            raise BacktestError(f"{cannot}: {exc.strerror or exc}") from None
    raise BacktestError(f"{cannot}: it is removed as soon as it is made")


def _read_bars(
    days: list[RecordedDay],
    progress: Callable[[Progress], None] | None,
    cancelled: Callable[[], bool] | None,
) -> list[Bar]:
    """The days' bars, day by day: a long read (many instruments, many days) is reported and
    can be cancelled before the replay begins."""
    bars: list[Bar] = []
    started = reported = time.perf_counter()
    for count, day in enumerate(days, 1):
        if cancelled is not None and cancelled():
            raise BacktestCancelled(
                f"cancelled while the recording was read ({count - 1} of {len(days)} days): "
                "nothing ran and nothing was kept"
            )
        try:
            bars.extend(day.bars())
        except RecordingError as exc:
            raise BacktestError(str(exc)) from exc
        now = time.perf_counter()
        if progress is not None and now - reported >= READ_REPORT_S:
            reported = now
            opened = datetime.combine(day.day, datetime.min.time(), IST)
            progress(Progress(0.0, now - started, None, opened, days_read=(count, len(days))))
    return bars


def _refuse_if_unwritten(desk: Desk, folder: Path) -> None:
    """Stop the run once its book refused a write: the desk paused its orders and matching
    there, as a live desk must, so what followed is not the strategy's own run."""
    refusal = desk.orders.first_refusal
    if refusal is None:
        return
    ts_ns, cause = refusal
    when = datetime.fromtimestamp(ts_ns / 1e9, IST)
    raise BacktestError(
        f"the run stopped: its book in {folder} could not be written at {when:%Y-%m-%d %H:%M:%S} "
        f"market time ({cause}). Free space there and run it again under another name (or "
        f"remove {folder} first)"
    )


def _start_strategy(desk: Desk, request: BacktestRequest) -> str:
    kernel = desk.strategies
    if request.signals is not None:
        return Path(request.signals).name  # the runtime's desk feeds them at their times
    if request.algo is not None:
        started = desk.api.start_algo(dict(request.algo))
        if not started:
            raise BacktestError(f"the algo cannot run: {started.reason}")
        return str(started.parent_id)
    if request.portfolio is not None:
        spec = dict(request.portfolio)
        name = str(spec.get("defaults", {}).get("name", ""))
        problem = desk.api.save_portfolio(spec) or desk.api.start_portfolio(name)
        if problem is not None:
            raise BacktestError(f"the portfolio {name!r} cannot run: {problem}")
        return name
    found = kernel.strategy_class(request.strategy)
    if found is None:
        raise BacktestError(f"no strategy named {request.strategy!r} in the catalogue")
    kind, origin = found
    if request.params:
        unknown = [k for k in request.params if k.startswith("_") or not hasattr(kind, k)]
        if unknown:
            raise BacktestError(f"{request.strategy} has no parameter {', '.join(sorted(unknown))}")
        swept = type(kind.__name__, (kind,), dict(request.params))
        kernel.remove(request.strategy)
        kernel.add(swept, origin)
    problem = kernel.start(request.strategy)
    if problem is not None:
        raise BacktestError(f"{request.strategy} did not start: {problem}")
    return request.strategy


def _discard_book(book: Path) -> None:
    """Remove a run's book, its lock and the copies made of it, then its folder if that leaves
    it empty (a folder holding anything else is left as it is)."""
    doomed = [book.with_name(book.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
    doomed.append(lock_path(book))
    doomed.extend(copy.path for copy in list_backups(book))
    for path in doomed:
        path.unlink(missing_ok=True)
    for folder in (backup_dir(book), book.parent):
        with contextlib.suppress(OSError):  # not empty, or not there: kept
            folder.rmdir()


def _run_label(request: BacktestRequest, strategy_id: str) -> str:
    if request.portfolio is not None:
        return f"portfolio {strategy_id}"
    if request.signals is not None:
        return f"signals {strategy_id}"
    return f"algo {strategy_id}" if request.algo is not None else strategy_id


def _progress(delivered: int, total: int, started: float, clock: SimulatedClock) -> Progress:
    done = min(delivered / total, 1.0) if total else 0.0
    elapsed = time.perf_counter() - started
    eta = elapsed * (1 - done) / done if done > 0.01 else None
    return Progress(done, elapsed, eta, clock.now())


def _first(table: Any) -> list[int]:
    return [] if table.num_rows == 0 else [int(table.column("ts_ns")[0].as_py())]


def _moment(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1000 / 1e6, tz=UTC)
