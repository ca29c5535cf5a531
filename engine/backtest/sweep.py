"""Parameter sweeps: one backtest per parameter set, run in worker processes on this machine
(spawned, dying with the desk: ``engine.core.workers``) or on a Dask cluster (``pip install "dalaldesk[cluster]"``, pointed at
a scheduler's address), with a results table in the order the sets were given.

Each run is its own process's work with its own book under ``<folder>/<run name>``, so runs
share nothing and the same sets give the same table wherever they run. Progress counts finished
runs; a cancel stops handing out runs not started yet (those running finish). A set the run
refuses (``BacktestError``), or whose run fails in any other way, is a row saying why, and the
others run.

A worker process that dies (the OOM killer, a task manager) breaks its pool, and every run going
on in it stops with it. The runs finished before stay in the table; each interrupted set runs
again in a fresh pool, alone, so that a set that ends its worker itself is known by name: one
interrupted twice is a row saying so, and the sweep goes on.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from engine.backtest.results import BacktestResult
from engine.backtest.run import CLAIM, BacktestError, BacktestRequest
from engine.core.workers import logs_from_workers, worker_pool
from engine.store.book_lock import lock_path

_LOGS = "engine"
"""The logger a run's records are under (each module's is below it)."""

log = logging.getLogger(__name__)

WORKER_DIED = "its worker process ended unexpectedly (killed, or out of memory)"
_SHOWN_FAILURES = 3
"""A row names this many of a run's strategy failures, then counts the rest."""


class RunOne(Protocol):
    def __call__(self, request: BacktestRequest, folder: str) -> BacktestResult: ...


@dataclass(frozen=True, slots=True)
class FailedRun:
    """A run of a sweep that could not run (its strategy refused the set, say): the rest of the
    sweep goes on, and the table says which set and why."""

    name: str
    params: dict[str, Any]
    reason: str

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **{f"param.{k}": v for k, v in self.params.items()},
            "error": self.reason,
        }


Outcome = BacktestResult | FailedRun | None
"""A sweep's word on one set: its result, why it could not run, or None (not run: cancelled
before it started)."""


def _outcome(future: Any, request: BacktestRequest) -> BacktestResult | FailedRun:
    try:
        result: BacktestResult = future.result()
    except BacktestError as problem:
        return FailedRun(request.name, dict(request.params), str(problem))
    except Exception as problem:  # one set's trouble, whatever it is, is its row's
        if type(problem).__name__ == "KilledWorker":  # Dask's word, after its own retries
            reason = WORKER_DIED
        else:
            reason = f"it failed: {type(problem).__name__}: {problem}"
        log.warning("sweep run %s: %s", request.name, reason, exc_info=problem)
        return FailedRun(request.name, dict(request.params), reason)
    return result


def grid(**values: Sequence[Any]) -> list[dict[str, Any]]:
    """Every combination of the values given per parameter (``grid(fast=[5, 10], slow=[30])``)."""
    names = list(values)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values.values())]


def sweep_requests(
    base: BacktestRequest, parameter_sets: Iterable[Mapping[str, Any]]
) -> list[BacktestRequest]:
    """One request per parameter set: ``base`` with the set over its parameters, named
    ``<base name>-<n>``."""
    return [
        replace(base, name=f"{base.name}-{number:03d}", params={**base.params, **params})
        for number, params in enumerate(parameter_sets, 1)
    ]


def sweep_processes(
    requests: Sequence[BacktestRequest],
    folder: Path,
    run: RunOne,
    *,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[Outcome]:
    """Run ``requests`` on ``workers`` processes; outcomes in request order."""
    sweep = _ProcessSweep(requests, folder, run, workers, progress, cancelled)
    while sweep.queue and not sweep.stopped():
        # Each pool its own log queue: a worker killed mid-line leaves a queue's lock held.
        with logs_from_workers() as logs, worker_pool(workers, log_to=logs) as pool:
            interrupted = sweep.drive(pool)
        # Only now, its workers gone, is what the interrupted runs left free to move.
        for index in interrupted:
            sweep.set_aside(index)
    for index, _alone in sweep.queue:
        if sweep.tries[index]:  # interrupted, then cancelled before it ran again
            request = requests[index]
            reason = f"{WORKER_DIED}; not run again: the sweep was cancelled"
            sweep.results[index] = FailedRun(request.name, dict(request.params), reason)
    return sweep.results


class _ProcessSweep:
    """A process sweep's state across the pools it takes: a pool whose worker died is left for
    a fresh one, with the sets it interrupted first in the queue."""

    def __init__(
        self,
        requests: Sequence[BacktestRequest],
        folder: Path,
        run: RunOne,
        workers: int,
        progress: Callable[[int, int], None] | None,
        cancelled: Callable[[], bool] | None,
    ) -> None:
        self.requests, self.folder, self.run, self.workers = requests, folder, run, workers
        self.progress, self.cancelled = progress, cancelled
        self.results: list[Outcome] = [None] * len(requests)
        self.queue: list[tuple[int, bool]] = [(index, False) for index in range(len(requests))]
        """Sets not started yet, each with whether it runs alone (an interrupted one does)."""
        self.tries = [0] * len(requests)
        """How often each set was running when its pool broke."""
        self.done = 0

    def stopped(self) -> bool:
        return self.cancelled is not None and self.cancelled()

    def drive(self, pool: ProcessPoolExecutor) -> list[int]:
        """Run the queue in ``pool`` until it is done, cancelled or broken; returns the sets
        the pool's break interrupted (queued again, to run alone)."""
        running: dict[Future[BacktestResult], tuple[int, bool]] = {}
        interrupted: list[int] = []
        broken = False
        while self.queue or running:
            if not broken and not self.stopped():
                broken = self._hand_out(pool, running)
            if not running:
                break
            finished, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                index, alone = running.pop(future)
                if isinstance(future.exception(), BrokenProcessPool):
                    broken = True
                    interrupted.append(index)
                    self._interrupted(index, alone, future.exception())
                else:
                    self._finish(index, _outcome(future, self.requests[index]))
            if broken and not running:
                break
        again = sorted(index for index in interrupted if self.results[index] is None)
        self.queue[:0] = [(index, True) for index in again]
        return interrupted

    def _hand_out(
        self, pool: ProcessPoolExecutor, running: dict[Future[BacktestResult], tuple[int, bool]]
    ) -> bool:
        """Start the sets at the queue's head that may start now; True when the pool turns out
        broken (a worker died between runs)."""
        while self.queue and len(running) < self.workers:
            index, alone = self.queue[0]
            if running and (alone or any(solo for _index, solo in running.values())):
                return False
            request = self.requests[index]
            try:
                future = pool.submit(self.run, request, str(self.folder / request.name))
            except BrokenProcessPool:
                log.info("sweep: a worker process ended between runs: a fresh pool goes on")
                return True
            self.queue.pop(0)
            running[future] = (index, alone)
        return False

    def _interrupted(self, index: int, alone: bool, problem: BaseException | None) -> None:
        request = self.requests[index]
        self.tries[index] += 1
        if alone and self.tries[index] > 1:
            reason = f"{WORKER_DIED}, twice (the second time it ran alone: its own run ends it)"
            log.warning("sweep run %s: %s", request.name, reason, exc_info=problem)
            self._finish(index, FailedRun(request.name, dict(request.params), reason))
            return
        log.warning(
            "sweep run %s: %s; it runs again, alone, in a fresh pool",
            request.name,
            WORKER_DIED,
            exc_info=problem,
        )

    def set_aside(self, index: int) -> None:
        """Move what an interrupted run left (a book with no result) out of the way of its
        next run, to ``<name>.interrupted``: nothing of it is lost, and its name stays free."""
        if self.results[index] is not None:
            return  # not run again: what it left stays where the row says
        kept = self.folder / self.requests[index].name
        if not kept.exists() or _only_a_claim_removed(kept):
            return
        aside = kept.with_name(f"{kept.name}.interrupted")
        number = 1
        while aside.exists():
            number += 1
            aside = kept.with_name(f"{kept.name}.interrupted-{number}")
        try:
            kept.rename(aside)
        except OSError as exc:  # its next run then says the name is taken
            log.warning("sweep run %s: cannot move %s aside: %s", kept.name, kept, exc)
            return
        log.info("sweep run %s: what the interrupted run left is kept in %s", kept.name, aside)

    def _finish(self, index: int, outcome: BacktestResult | FailedRun) -> None:
        self.results[index] = outcome
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, len(self.requests))


def sweep_dask(
    requests: Sequence[BacktestRequest],
    folder: Path,
    run: RunOne,
    scheduler: Any,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[Outcome]:
    """The same sweep on a Dask cluster: ``scheduler`` is its address (``tcp://host:8786``) or
    a ``distributed.Client``. Every worker must see ``folder`` (a shared disk) and the
    recording."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise RuntimeError(
            'sweeps on a cluster need Dask: pip install "dalaldesk[cluster]"'
        ) from exc
    try:
        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    except OSError as exc:  # Dask's own words: "Timed out trying to connect to ... after 30 s"
        raise BacktestError(f"the Dask scheduler at {scheduler} cannot be reached: {exc}") from exc
    # The workers' warnings come home to this process's handlers (its log file), as the process
    # pool's do; only while the sweep runs, and only when this process keeps a log.
    forwarding = bool(logging.getLogger().handlers)
    if forwarding:
        client.forward_logging(_LOGS, level=logging.INFO)
    try:
        futures = {
            client.submit(run, request, str(folder / request.name), pure=False): index
            for index, request in enumerate(requests)
        }
        results: list[Outcome] = [None] * len(requests)
        for done, future in enumerate(as_completed(list(futures)), 1):
            if cancelled is not None and cancelled():
                for other in futures:
                    if not other.done():
                        other.cancel()
                break
            index = futures[future]
            results[index] = _outcome(future, requests[index])
            if progress is not None:
                progress(done, len(requests))
        return results
    finally:
        if forwarding:
            client.unforward_logging(_LOGS)
        if client is not scheduler:
            client.close()


def results_table(results: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One row per run that ran or failed (``result_row``, ``FailedRun.row``), in request
    order."""
    return [
        result.row() if isinstance(result, FailedRun) else result_row(result)
        for result in results
        if result is not None
    ]


def result_row(result: BacktestResult) -> dict[str, Any]:
    """A run's summary as plain values, saying whether its strategy failed partway: ``failed``
    is '' for a clean run, else its failures in words (the strategy stopped trading there, so
    the run's figures are not of its whole run), so no sort or filter takes it for a healthy
    run."""
    return {**result.row(), "failed": strategy_failures_said(result)}


def strategy_failures_said(result: BacktestResult, shown: int = _SHOWN_FAILURES) -> str:
    """A run's strategy failures on one line: the first ``shown``, then how many more."""
    failures = result.strategy_failures
    said = "; ".join(failures[:shown])
    if len(failures) > shown:
        said += f"; and {len(failures) - shown} more"
    return said


def _only_a_claim_removed(kept: Path) -> bool:
    """Remove the folder of a run interrupted before it had a book (killed while it read its
    recording): it holds nothing but the run's claim on its name, which died with its worker.
    Whether it was removed; a folder holding anything else is left for ``set_aside``."""
    claim = lock_path(kept / CLAIM)
    try:
        if any(entry != claim for entry in kept.iterdir()):
            return False
        claim.unlink(missing_ok=True)
        kept.rmdir()
    except OSError as exc:  # moved aside whole instead
        log.debug("sweep run %s: its folder was not removed: %s", kept.name, exc)
        return False
    log.info("sweep run %s: the interrupted run had kept nothing", kept.name)
    return True
