"""Backtest runs and sweeps: a bar backtest reports progress with an estimate and stops cleanly
on a cancel; a sweep of 20 parameter sets runs on 2 worker processes, and the same sweep on a
local Dask cluster (2 worker processes) gives the same table."""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from engine.backtest.results import read_result
from engine.backtest.run import BacktestError, BacktestRequest, Progress
from engine.backtest.sweep import (
    grid,
    results_table,
    sweep_dask,
    sweep_processes,
    sweep_requests,
)
from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtests import run_backtest
from tests.backtest_support import INSTRUMENT, TOKEN, ema_cross_request, nifty_like_bars


@pytest.fixture(scope="module")
def bars_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bars")
    write_bar_recording(folder, [INSTRUMENT], nifty_like_bars(1))
    return folder


def _request(recording: Path, name: str = "ema", **params: object) -> BacktestRequest:
    return ema_cross_request(recording, name, product="CNC", **params)


def test_backtest_reports_progress_and_stops_cleanly_when_cancelled(tmp_path: Path) -> None:
    bars_recording = tmp_path / "bars"
    write_bar_recording(bars_recording, [INSTRUMENT], nifty_like_bars(10))
    seen: list[Progress] = []
    cancel = threading.Event()

    def progress(step: Progress) -> None:
        seen.append(step)
        if step.done > 0.2:
            cancel.set()

    full = run_backtest(_request(bars_recording), tmp_path / "full")
    assert full.fills > 10 and not full.cancelled
    request = _request(bars_recording, "cancelled")
    # Small batches between looks, so the cancel is heard well before the end.
    from engine.backtest import run as run_module

    original = run_module.BarReplayFeed.__init__

    def small_batches(self, bars, clock, *, yield_every=4_000):  # type: ignore[no-untyped-def]
        original(self, bars, clock, yield_every=200)

    run_module.BarReplayFeed.__init__ = small_batches  # type: ignore[method-assign]
    try:
        result = run_backtest(request, tmp_path / "cancelled", progress=progress, cancel=cancel)
    finally:
        run_module.BarReplayFeed.__init__ = original  # type: ignore[method-assign]
    assert result.cancelled and 0 < result.ticks < full.ticks
    assert result.fills < full.fills
    assert any(p.eta_s is not None and p.eta_s > 0 for p in seen)
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    summary, _equity = read_result(tmp_path / "cancelled" / "book.db")
    assert summary["cancelled"] is True and Decimal(summary["net_pnl"]) == result.net_pnl


def test_backtest_refuses_an_unknown_parameter_in_words(bars_recording: Path, tmp_path) -> None:
    with pytest.raises(BacktestError, match="no parameter colour"):
        run_backtest(_request(bars_recording, colour="red"), tmp_path / "bad")


def test_backtest_sweep_of_20_sets_on_2_processes_matches_a_local_dask_cluster(
    bars_recording: Path, tmp_path: Path
) -> None:
    sets = grid(fast=[3, 5, 8, 10, 12], slow=[20, 26, 30, 40])
    assert len(sets) == 20
    requests = sweep_requests(_request(bars_recording, "sweep"), sets)
    counted: list[int] = []
    on_processes = sweep_processes(
        requests,
        tmp_path / "processes",
        run_backtest,
        workers=2,
        progress=lambda d, _t: counted.append(d),
    )
    assert counted == list(range(1, 21))
    table = results_table(on_processes)
    assert len(table) == 20 and len({row["net_pnl"] for row in table}) > 5
    assert all(row["fills"] > 0 for row in table)

    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        on_dask = sweep_dask(requests, tmp_path / "dask", run_backtest, client)
    dask_table = results_table(on_dask)
    keys = (
        "name",
        "param.fast",
        "param.slow",
        "orders",
        "fills",
        "gross_pnl",
        "charges",
        "net_pnl",
    )
    assert [{k: r[k] for k in keys} for r in dask_table] == [{k: r[k] for k in keys} for r in table]


def test_backtest_sweep_when_a_set_is_refused_gives_its_reason_and_runs_the_rest(
    bars_recording: Path, tmp_path: Path
) -> None:
    sets = [{"fast": 5, "slow": 20}, {"fast": 40, "slow": 30}, {"fast": 10, "slow": 30}]
    requests = sweep_requests(_request(bars_recording, "mixed"), sets)
    outcomes = sweep_processes(requests, tmp_path / "mixed", run_backtest, workers=2)
    table = results_table(outcomes)
    assert [row["name"] for row in table] == ["mixed-001", "mixed-002", "mixed-003"]
    assert table[1] == {
        "name": "mixed-002",
        "param.token": TOKEN,
        "param.quantity": 10,
        "param.product": "CNC",
        "param.fast": 40,
        "param.slow": 30,
        "error": "ema_cross did not start: ValueError in on_start: fast (40) must be positive "
        "and below slow (30)",
    }
    assert table[0]["fills"] > 0 and table[2]["fills"] > 0
    assert not (tmp_path / "mixed" / "mixed-002").exists()


def test_backtest_sweep_on_dask_brings_the_workers_warnings_home(
    bars_recording: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from distributed import Client, LocalCluster

    requests = sweep_requests(_request(bars_recording, "logs"), [{"fast": 40, "slow": 30}])
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
        caplog.at_level(logging.WARNING, logger="engine"),
    ):
        outcomes = sweep_dask(requests, tmp_path / "dask", run_backtest, client)
        # The records travel as the workers' events: give the last one time to land.
        deadline = time.monotonic() + 10
        while not _failures(caplog) and time.monotonic() < deadline:
            time.sleep(0.05)
        # Left on the cluster as it was found.
        assert list(client.run(_forwarding_handlers).values()) == [[]]
    assert results_table(outcomes)[0]["error"].startswith("ema_cross did not start")
    failures = _failures(caplog)
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
    assert failures[0].exc_text is not None and "fast (40) must be positive" in failures[0].exc_text


def _failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "strategy ema_cross failed" in r.getMessage()]


def _forwarding_handlers() -> list[str]:
    """On a worker: the handlers forwarding the engine's records to a client."""
    return [type(h).__name__ for h in logging.getLogger("engine").handlers]


def test_backtest_sweep_on_dask_when_the_scheduler_is_not_there_says_so(
    bars_recording: Path, tmp_path: Path
) -> None:
    import socket

    import dask

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    requests = sweep_requests(_request(bars_recording, "nowhere"), [{"fast": 5}])
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(BacktestError, match=f"the Dask scheduler at {address} cannot be reached"),
    ):
        sweep_dask(requests, tmp_path / "dask", run_backtest, address)
    assert not (tmp_path / "dask").exists()
