"""Backtests for the UI and scripts: the recordings there are, the strategies a run can use, and
runs started off the desk's loop with progress and a cancel.

A run is the runtime's (``engine.runtime.backtests.run_backtest``, handed in as ``runner``): it
runs on its own engine and loop in a worker process (spawned, and ending with the desk), so the
desk's loop only hears progress and the result, read from a queue between its own steps. Not a
thread: a run holds the interpreter for seconds at a time (the window would stall), and the
garbage collector, run in whichever thread allocates, would there destroy the window's discarded
Qt objects outside the GUI thread.

``run_measured`` also measures the run there, as its performance report does (CAGR, Sharpe,
drawdown, win rate, charges...: ``engine.api.backtest_report``), and ``export_report`` writes
that report's page.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.api.backtest_report import Metrics, RunReport, measure_run
from engine.backtest.csv_import import CANDLES, CsvImportError, ImportReport, file_kind
from engine.backtest.history_bars import (
    csv_instrument,
    record_csv_candles,
    record_csv_ticks,
    record_history,
)
from engine.backtest.report import report_html
from engine.backtest.results import (
    FAILED_PARTWAY,
    BacktestResult,
    cancelled_said,
    max_drawdown,
    partial_said,
)
from engine.backtest.run import (
    BARS,
    TICKS,
    BacktestCancelled,
    BacktestError,
    BacktestRequest,
    Progress,
    read_portfolio_file,
    read_settings_file,
    strategy_params,
)
from engine.backtest.run_guard import folder_name_problem
from engine.brokers.base import BrokerError
from engine.core.files import write_whole
from engine.core.workers import die_with_parent
from engine.domain.instruments import Instrument
from engine.marketdata.history import HistorySource
from engine.marketdata.recording import Recording, RecordingError

log = logging.getLogger(__name__)

__all__ = [
    "BARS",
    "FAILED_PARTWAY",
    "MAX_HISTORY_DAYS",
    "TICKS",
    "BacktestCancelled",
    "BacktestError",
    "BacktestJob",
    "BacktestRequest",
    "BacktestResult",
    "BacktestService",
    "CsvImported",
    "Metrics",
    "Progress",
    "RecordingInfo",
    "RunReport",
    "cancelled_said",
    "max_drawdown",
    "measure_run",
    "read_portfolio_file",
    "read_settings_file",
    "strategy_params",
]

Runner = Callable[..., BacktestResult]
"""``runner(request, folder, progress=..., cancel=event)``: a module-level function (it is sent
to the worker process by name); ``cancel`` has ``is_set()``."""

_SPAWN = multiprocessing.get_context("spawn")
POLL_S = 0.05
"""How often the desk's loop looks for a run's progress."""
MAX_HISTORY_DAYS = 365
"""The most days of 1-minute bars one recording asks the broker for (Kite serves 60 a request,
so a year is seven requests)."""
STOP_WAIT_S = 10.0
"""How long a cancelled or abandoned run's process has to end before it is terminated."""


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    path: Path
    days: tuple[date, ...]
    size_mb: float
    notes: tuple[str, ...] = ()
    """What was passed over in words (a folder named like a day that is not a date)."""

    @property
    def title(self) -> str:
        if not self.days:
            return self.path.name
        span = f"{self.days[0]}" if len(self.days) == 1 else f"{self.days[0]} – {self.days[-1]}"
        size = f"{self.size_mb:.1f} MB" if self.size_mb >= 0.1 else f"{self.size_mb * 1000:.0f} kB"
        return f"{self.path.name} ({span}, {len(self.days)} days, {size})"


@dataclass(frozen=True, slots=True)
class CsvImported:
    """A CSV file kept as a recording: where, what its rows gave, and whether they were candles
    (a bar recording) or trades (ticks)."""

    recording: RecordingInfo
    report: ImportReport
    candles: bool


class BacktestJob:
    """A run under way: ``cancel`` asks it to stop at its next look (it stops cleanly)."""

    def __init__(self) -> None:
        self._cancel = _SPAWN.Event()  # shared with the run's process

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


class BacktestService:
    def __init__(
        self,
        *,
        runner: Runner,
        runs_dir: Path,
        recordings_dir: Path,
        strategies: Callable[[], list[str]],
        strategies_dir: Path | None = None,
        history: HistorySource | None = None,
        find_instrument: Callable[[str], Instrument | None] | None = None,
        now: Callable[[], datetime] | None = None,
        risk_limits: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        """``history`` is the desk's (Kite's historical candles, or the paper market's), with
        ``find_instrument`` (a trading symbol to its instrument) and ``now`` (aware): given, the
        past of an instrument can be kept as a recording (``record_history``). ``risk_limits``
        gives the desk's own limits, which a run's gate applies unless the request names its
        own."""
        self._runner = runner
        self.runs_dir = runs_dir
        self.recordings_dir = recordings_dir
        self._strategies = strategies
        self.strategies_dir = strategies_dir
        """The trader's strategy files, for runs that do not name a folder of their own."""
        self._history = history
        self._find_instrument = find_instrument
        self._now = now
        self._risk_limits = risk_limits

    @property
    def records_history(self) -> bool:
        """Whether ``record_history`` has a source to ask."""
        return None not in (self._history, self._find_instrument, self._now)

    async def record_history(self, symbol: str, days: int) -> RecordingInfo:
        """The last ``days`` days of ``symbol``'s 1-minute bars from the desk's history, kept as
        a recording named for the symbol and its span; ``BacktestError`` in words when it
        cannot be had."""
        history, find, now = self._history, self._find_instrument, self._now
        if history is None or find is None or now is None:
            raise BacktestError("this desk has no history to record: connect Kite")
        if not 1 <= days <= MAX_HISTORY_DAYS:
            raise BacktestError(f"days must be from 1 to {MAX_HISTORY_DAYS}, not {days}")
        text = symbol.strip().upper()
        instrument = find(text)
        if instrument is None:
            raise BacktestError(f"the desk lists no instrument {text!r}: search it in the watch")
        end = now()
        start = end - timedelta(days=days)
        folder = self._recording_folder(instrument.tradingsymbol, f"-{start:%Y%m%d}-{end:%Y%m%d}")
        if folder.exists():
            raise BacktestError(f"{folder.name} is recorded already: pick it under Recording")
        try:
            await record_history(history, [instrument], start, end, folder)
        except (ValueError, OSError, BrokerError) as problem:
            raise BacktestError(f"{instrument.tradingsymbol}'s history: {problem}") from None
        return _recording_info(Recording(folder))

    async def import_csv(
        self,
        path: str | Path,
        symbol: str,
        *,
        progress: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> CsvImported:
        """A CSV file of candles or of trades (told apart by its header) kept as a recording of
        ``symbol`` in the recordings folder, under the symbol's name (new days only): the desk's
        own instrument when it lists the symbol, else a share of that name. Read off the loop:
        ``progress`` hears the rows read now and then, on this loop; ``stop`` set ends it with
        nothing kept. ``BacktestError`` in words when nothing could be kept."""
        text = symbol.strip().upper()
        if not text:
            raise BacktestError("name the instrument the file is of, e.g. NIFTYBEES")
        listed = self._find_instrument(text) if self._find_instrument is not None else None
        instrument = listed or csv_instrument(text)
        folder = self._recording_folder(instrument.tradingsymbol)
        try:
            loop = asyncio.get_running_loop()

            def heard(rows: int) -> None:  # on the import's thread: told on the loop
                if progress is not None:
                    loop.call_soon_threadsafe(progress, rows)

            report, candles = await asyncio.to_thread(
                _record_csv,
                path,
                instrument,
                folder,
                progress=heard,
                cancelled=None if stop is None else stop.is_set,
            )
        except (CsvImportError, OSError) as problem:
            raise BacktestError(str(problem)) from None
        return CsvImported(_recording_info(Recording(folder)), report, candles)

    def _recording_folder(self, symbol: str, span: str = "") -> Path:
        """The folder in the recordings folder a recording of ``symbol`` is kept in (its name
        and ``span``); ``BacktestError`` in words when the symbol cannot name a folder there
        (``..``, a slash: it would be kept elsewhere, or where the desk never lists it)."""
        problem = folder_name_problem(symbol, "the instrument's symbol")
        if problem is not None:
            raise BacktestError(problem)
        folder = self.recordings_dir / f"{symbol}{span}"
        if Path(os.path.abspath(folder)).parent != Path(os.path.abspath(self.recordings_dir)):
            raise BacktestError(f"{symbol!r} does not name a folder in {self.recordings_dir}")
        return folder

    def strategy_ids(self) -> list[str]:
        return self._strategies()

    def recordings(self) -> list[RecordingInfo]:
        """The recordings folder itself (the desk's ``--record``) and each folder in it. A
        folder of one named like a day that is not a date is skipped: said in its ``notes``
        and the log."""
        out: list[RecordingInfo] = []
        if not self.recordings_dir.is_dir():
            return out
        for folder in [self.recordings_dir, *sorted(self.recordings_dir.iterdir())]:
            if not folder.is_dir():
                continue
            try:
                info = _recording_info(Recording(folder))
            except (RecordingError, OSError):
                continue
            if info.days:
                out.append(info)
        return out

    async def run(
        self,
        request: BacktestRequest,
        job: BacktestJob,
        progress: Callable[[Progress], None] | None = None,
    ) -> BacktestResult:
        """Run ``request`` in a worker process; ``progress`` is called on this loop. A run the
        desk stops waiting for (its task cancelled) is cancelled too."""
        result: BacktestResult = await self._in_worker(request, job, progress, measure=False)
        return result

    async def run_measured(
        self,
        request: BacktestRequest,
        job: BacktestJob,
        progress: Callable[[Progress], None] | None = None,
    ) -> RunReport:
        """As ``run``, and the run measured in its process as its report measures it
        (``measure_run``): a long run's journal is read there, never on the desk's loop."""
        report: RunReport = await self._in_worker(request, job, progress, measure=True)
        return report

    async def export_report(self, report: RunReport, path: str | Path) -> str | None:
        """Write the run's performance report (one self-contained HTML page) to ``path``, in
        place of the file there (``replacing``); None when written, else why not, in words. The
        page is made and written on a thread: a long trade list takes a moment."""
        if report.view is None:
            return f"the run has nothing to report: {report.note}"
        target = Path(path)
        view, title, partial = report.view, report.title, partial_said(report.result)
        try:
            await asyncio.to_thread(
                lambda: write_whole(target, report_html(view, title, partial), make_folder=False)
            )
        except OSError as problem:
            log.warning("backtest report not written to %s: %s", target, problem)
            return f"the report could not be written to {target}: {problem.strerror or problem}"
        return None

    async def _in_worker(
        self,
        request: BacktestRequest,
        job: BacktestJob,
        progress: Callable[[Progress], None] | None,
        *,
        measure: bool,
    ) -> Any:
        """What the run's process sends when it is done: its result, or (``measure``) its
        ``RunReport``."""
        if request.strategies_dir is None and self.strategies_dir is not None:
            request = replace(request, strategies_dir=str(self.strategies_dir))
        if request.risk is None and self._risk_limits is not None:
            request = replace(request, risk=self._risk_limits())
        messages: multiprocessing.Queue[tuple[str, object]] = _SPAWN.Queue()
        worker = _SPAWN.Process(
            target=_run_in_worker,
            args=(
                self._runner,
                request,
                self.runs_dir / request.name,
                messages,
                job._cancel,
                measure,
            ),
            name=f"backtest {request.name}",
            daemon=True,
        )
        worker.start()
        try:
            while True:
                try:
                    kind, payload = messages.get_nowait()
                except queue.Empty:
                    if worker.is_alive():
                        await asyncio.sleep(POLL_S)
                        continue
                    try:  # it ended: what it said last is in the pipe by now
                        kind, payload = messages.get(timeout=1.0)
                    except queue.Empty:
                        raise BacktestError(
                            f"the backtest's process ended without a result (exit code "
                            f"{worker.exitcode})"
                        ) from None
                if kind == "progress":
                    if progress is not None:
                        progress(payload)  # type: ignore[arg-type]
                elif kind == "done":
                    return payload
                elif kind == "cancelled":
                    raise BacktestCancelled(str(payload))
                else:
                    raise BacktestError(str(payload))
        finally:
            await _ended(worker, job)
            messages.close()


def _run_in_worker(
    runner: Runner,
    request: BacktestRequest,
    folder: Path,
    messages: multiprocessing.Queue[tuple[str, object]],
    cancel: object,
    measure: bool = False,
) -> None:
    """The run's process: run, saying each step of progress and then the result, measured when
    asked (``measure_run``), or why there is none."""
    die_with_parent()
    try:
        result = runner(
            request, folder, progress=lambda step: messages.put(("progress", step)), cancel=cancel
        )
    except BacktestCancelled as exc:
        messages.put(("cancelled", str(exc)))
    except BacktestError as exc:
        messages.put(("error", str(exc)))
    except Exception as exc:  # the trader reads it in the panel; the traceback goes to the log
        log.exception("backtest %s failed", request.name)
        messages.put(("error", f"the backtest failed: {type(exc).__name__}: {exc}"))
    else:
        messages.put(("done", measure_run(result, request) if measure else result))


async def _ended(worker: multiprocessing.process.BaseProcess, job: BacktestJob) -> None:
    """Wait for a run's process to end (asking it to stop if it still runs), without holding
    the loop; terminate it if it does not end in time."""
    if worker.is_alive():
        job.cancel()
    waited = 0.0
    while worker.is_alive() and waited < STOP_WAIT_S:
        await asyncio.sleep(POLL_S)
        waited += POLL_S
    if worker.is_alive():
        log.warning("backtest process %s did not stop when asked: terminated", worker.name)
        worker.terminate()
    worker.join(timeout=STOP_WAIT_S)


def _record_csv(
    path: str | Path, instrument: Instrument, folder: Path, **told: Any
) -> tuple[ImportReport, bool]:
    """A CSV file kept as a recording (on the import's thread: telling candles from trades
    reads its header, and a header can be a whole file long); whether it was of candles."""
    candles = file_kind(path) == CANDLES
    record = record_csv_candles if candles else record_csv_ticks
    report, _days = record(path, instrument, folder, **told)
    return report, candles


def _recording_info(recording: Recording) -> RecordingInfo:
    days = tuple(d.day for d in recording.days())  # a folder not a date is skipped and logged
    notes = tuple(recording.skipped_folders())
    return RecordingInfo(recording.root, days, recording.size_bytes() / 1e6, notes)
