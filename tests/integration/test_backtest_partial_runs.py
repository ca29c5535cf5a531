"""A run whose figures are not of its whole range says so wherever they are read: a cancelled
run, or one whose strategy failed partway, has its exported report open with a banner in the
panel's words; a bar run counts bars, not the ticks they replay as."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import pytest

from engine.api.backtests import (
    FAILED_PARTWAY,
    BacktestRequest,
    BacktestResult,
    BacktestService,
    RunReport,
    measure_run,
)
from engine.backtest.run import Progress
from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtests import run_backtest
from tests.backtest_support import INSTRUMENT, TOKEN, ema_cross_request, nifty_like_bars

BOOM = """
from engine.strategies.ema_cross import EmaCrossStrategy


class Boom(EmaCrossStrategy):
    strategy_id = "boom"
    title = "EMA cross that fails after some bars"
    fail_after = 0

    def on_bar(self, bar):
        super().on_bar(bar)
        if self.fail_after and self._bars >= self.fail_after:
            raise RuntimeError("bad data in my indicator")
"""
BANNER = re.compile(r'<p class="partial" role="alert">(.*?)</p>')


def _recording(tmp_path: Path, sessions: int) -> Path:
    folder = tmp_path / "recordings" / "niftylike"
    write_bar_recording(folder, [INSTRUMENT], nifty_like_bars(sessions))
    return folder


def _exported(tmp_path: Path, report: RunReport) -> str:
    service = BacktestService(
        runner=run_backtest,
        runs_dir=tmp_path / "runs",
        recordings_dir=tmp_path / "recordings",
        strategies=lambda: ["ema_cross", "boom"],
    )
    page = tmp_path / f"{report.result.name}.html"
    assert asyncio.run(service.export_report(report, page)) is None
    return page.read_text(encoding="utf-8")


def _measured(request: BacktestRequest, result: BacktestResult) -> RunReport:
    return measure_run(result, request)


def test_backtest_cancelled_report_opens_saying_where_it_stopped(tmp_path: Path) -> None:
    request = ema_cross_request(_recording(tmp_path, 60), "cancelled")
    cancel = threading.Event()

    def heard(step: Progress) -> None:
        if step.done > 0:
            cancel.set()

    result = run_backtest(request, tmp_path / "runs" / "cancelled", progress=heard, cancel=cancel)
    assert result.cancelled and 0 < result.ticks < result.total

    page = _exported(tmp_path, _measured(request, result))

    [banner] = BANNER.findall(page)
    share = round(100 * result.ticks / result.total)
    assert re.fullmatch(
        rf"Cancelled at \d\d \w\w\w 2025 \d\d:\d\d IST \({share} % of the range\): "
        "these figures are of the part that ran",
        banner,
    ), banner
    assert page.index(banner) < page.index("<h2>Equity</h2>")


def test_backtest_report_of_a_strategy_that_failed_partway_opens_saying_so(
    tmp_path: Path,
) -> None:
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "boom.py").write_text(BOOM, encoding="utf-8")
    request = BacktestRequest(
        "failed",
        str(_recording(tmp_path, 2)),
        strategy="boom",
        params={"token": TOKEN, "quantity": 5, "fail_after": 100},
        mode="bars",
        strategies_dir=str(strategies),
    )
    result = run_backtest(request, tmp_path / "runs" / "failed")
    [failure] = result.strategy_failures

    page = _exported(tmp_path, _measured(request, result))

    assert BANNER.findall(page) == [f"{FAILED_PARTWAY}: {failure}"]


@pytest.mark.parametrize("sessions", [2])
def test_backtest_whole_bar_run_has_no_banner_and_counts_bars(
    tmp_path: Path, sessions: int
) -> None:
    request = ema_cross_request(_recording(tmp_path, sessions), "whole")
    result = run_backtest(request, tmp_path / "runs" / "whole")

    page = _exported(tmp_path, _measured(request, result))

    assert BANNER.findall(page) == []
    assert result.replayed == f"{sessions * 375:,} bars"
