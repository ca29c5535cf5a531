"""Parameter sweeps: one backtest per parameter set, run in worker processes on this machine
(spawned, dying with the desk: ``engine.core.workers``) or on a Dask cluster (``pip install "dalaldesk[cluster]"``, pointed at
a scheduler's address), with a results table in the order the sets were given.

Each run is its own process's work with its own book under ``<folder>/<run name>``, so runs
share nothing and the same sets give the same table wherever they run. Progress counts finished
runs; a cancel stops handing out runs not started yet (those running finish). A set the run
refuses (``BacktestError``) is a row saying why, and the others run.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from engine.backtest.results import BacktestResult
from engine.backtest.run import BacktestError, BacktestRequest
from engine.core.workers import logs_from_workers, worker_pool

_LOGS = "engine"
"""The logger a run's records are under (each module's is below it)."""


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
    results: list[Outcome] = [None] * len(requests)
    pending = list(enumerate(requests))
    running: dict[Future[BacktestResult], int] = {}
    done = 0
    with logs_from_workers() as logs, worker_pool(workers, log_to=logs) as pool:
        while pending or running:
            stop = cancelled is not None and cancelled()
            while pending and len(running) < workers and not stop:
                index, request = pending.pop(0)
                running[pool.submit(run, request, str(folder / request.name))] = index
            if not running:
                break
            finished, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                index = running.pop(future)
                results[index] = _outcome(future, requests[index])
                done += 1
                if progress is not None:
                    progress(done, len(requests))
    return results


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
    """One row per run that ran or failed (``BacktestResult.row``, ``FailedRun.row``), in
    request order."""
    return [result.row() for result in results if result is not None]
