"""The facade's backtest runs go to a worker process: progress and the result come back to the
desk's loop, a failure is said in words, a process that dies is noticed, and Cancel (or the desk
no longer waiting) ends the process."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine.api.backtests import BacktestJob, BacktestService, Progress
from engine.backtest.run import BacktestCancelled, BacktestError, BacktestRequest
from engine.core.clock import IST


def _request() -> BacktestRequest:
    return BacktestRequest(name="probe", recording="nowhere", strategy="demo")


def _service(tmp_path: Path, runner: Any) -> BacktestService:
    return BacktestService(
        runner=runner,
        runs_dir=tmp_path / "runs",
        recordings_dir=tmp_path / "recordings",
        strategies=lambda: ["demo"],
    )


def fails(request: BacktestRequest, folder: Path, *, progress: Any, cancel: Any) -> Any:
    raise ValueError("no such column: close")


def cancelled_while_reading(
    request: BacktestRequest, folder: Path, *, progress: Any, cancel: Any
) -> Any:
    raise BacktestCancelled("cancelled while the recording was read (2 of 9 days)")


def dies(request: BacktestRequest, folder: Path, *, progress: Any, cancel: Any) -> Any:
    os._exit(3)


def counts_until_cancelled(
    request: BacktestRequest, folder: Path, *, progress: Any, cancel: Any
) -> Any:
    step = 0
    while not cancel.is_set():
        step += 1
        progress(
            Progress(
                min(step / 1000, 1.0), step * 0.01, None, datetime(2026, 12, 4, 9, 15, tzinfo=IST)
            )
        )
        time.sleep(0.01)
    return ("cancelled after", step)


def tells_its_risk_limits(
    request: BacktestRequest, folder: Path, *, progress: Any, cancel: Any
) -> Any:
    return request.risk


def test_backtest_run_is_sent_the_desks_own_risk_limits_unless_it_names_its_own(
    tmp_path: Path,
) -> None:
    from app.gui import desk_limits
    from engine.risk.limits import RiskLimits, RiskSettings
    from engine.runtime import Engine, EngineConfig

    settings = RiskSettings(
        RiskLimits(max_position_lots=40),
        {"paper": {"max_position_lots": 20}, "someone-else": {"max_position_lots": 5}},
        {"NIFTY": {"max_order_quantity": 3}},
    )
    engine = Engine.build(EngineConfig(db_url=f"sqlite:///{tmp_path / 'book.db'}", risk=settings))
    try:
        limits = desk_limits(engine)  # the desk's account is 'paper'
    finally:
        engine.close()
    assert RiskSettings.from_mapping(limits).for_account("paper").max_position_lots == 20
    assert limits["accounts"] == {} and limits["underlyings"] == {
        "NIFTY": {"max_order_quantity": 3}
    }

    service = BacktestService(
        runner=tells_its_risk_limits,
        runs_dir=tmp_path / "runs",
        recordings_dir=tmp_path / "recordings",
        strategies=lambda: ["demo"],
        risk_limits=lambda: limits,
    )
    assert asyncio.run(service.run(_request(), BacktestJob())) == limits
    own = replace(_request(), risk={"defaults": {"max_position_lots": 1}})
    assert asyncio.run(service.run(own, BacktestJob())) == own.risk


def test_backtest_run_that_fails_is_said_in_words(tmp_path: Path) -> None:
    with pytest.raises(BacktestError, match="ValueError: no such column: close"):
        asyncio.run(_service(tmp_path, fails).run(_request(), BacktestJob()))


def test_backtest_run_cancelled_before_its_replay_is_told_as_cancelled_not_failed(
    tmp_path: Path,
) -> None:
    with pytest.raises(BacktestCancelled, match=r"^cancelled while the recording was read"):
        asyncio.run(_service(tmp_path, cancelled_while_reading).run(_request(), BacktestJob()))


def test_backtest_run_whose_process_dies_is_noticed(tmp_path: Path) -> None:
    with pytest.raises(BacktestError, match=r"ended without a result \(exit code 3\)"):
        asyncio.run(_service(tmp_path, dies).run(_request(), BacktestJob()))


def test_backtest_run_reports_progress_on_the_loop_and_stops_when_cancelled(
    tmp_path: Path,
) -> None:
    steps: list[Progress] = []
    job = BacktestJob()

    def seen(step: Progress) -> None:
        steps.append(step)
        if len(steps) == 5:
            job.cancel()

    result = asyncio.run(_service(tmp_path, counts_until_cancelled).run(_request(), job, seen))
    assert result[0] == "cancelled after" and result[1] >= 5
    assert [s.done for s in steps[:5]] == [0.001, 0.002, 0.003, 0.004, 0.005]
    assert job.cancelled


def test_backtest_run_the_desk_stops_waiting_for_ends_its_process(tmp_path: Path) -> None:
    async def abandon() -> None:
        task = asyncio.create_task(
            _service(tmp_path, counts_until_cancelled).run(_request(), job := BacktestJob())
        )
        await asyncio.sleep(1.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert job.cancelled

    asyncio.run(abandon())
