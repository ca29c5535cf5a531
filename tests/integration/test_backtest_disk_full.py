"""A backtest whose disk fills up: the run stops and says so in words, keeps no result that
would read as the strategy's own, and leaves the name to a run the trader starts again.

The run's book lives on a small tmpfs filled to the last byte while the run goes on (a real
ENOSPC from SQLite); where mounting is not permitted, the journal's writer fails as a full disk
does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from engine.backtest import run as run_module
from engine.backtest.results import has_result
from engine.backtest.run import BacktestError, Desk, Progress
from engine.marketdata.recording import write_bar_recording
from engine.oms.order_manager import OrderManager
from engine.runtime.backtests import build_backtest_desk, run_backtest
from engine.runtime.engine import Engine
from tests.backtest_support import INSTRUMENT, ema_cross_request, nifty_like_bars
from tests.full_disk import small_tmpfs


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    folder = tmp_path / "bars"
    write_bar_recording(folder, [INSTRUMENT], nifty_like_bars(6))
    return folder


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay looks up from its work every 200 ticks, so the disk fills mid-run."""
    original = run_module.BarReplayFeed.__init__

    def init(self: Any, bars: Any, clock: Any, *, yield_every: int = 4_000) -> None:
        original(self, bars, clock, yield_every=200)

    monkeypatch.setattr(run_module.BarReplayFeed, "__init__", init)


def test_backtest_disk_fills_mid_run_stops_in_words_and_keeps_no_result(
    tmp_path: Path, recording: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    desks: list[Engine] = []
    filled_at: list[float] = []
    tries: list[int] = []
    retry = OrderManager.retry_journal

    def counted(self: OrderManager) -> bool:
        tries.append(self.journal_waiting)
        return retry(self)

    monkeypatch.setattr(OrderManager, "retry_journal", counted)

    def build(**parts: Any) -> Desk:
        desk = build_backtest_desk(**parts)
        assert isinstance(desk, Engine)
        desks.append(desk)
        return desk

    with small_tmpfs(tmp_path / "disk") as disk:

        def progress(step: Progress) -> None:
            if not filled_at:
                disk.fill(desks[0])
                filled_at.append(step.done)

        folder = disk.directory / "ema"
        request = ema_cross_request(recording, product="CNC")
        with pytest.raises(BacktestError) as stopped:
            asyncio.run(run_module.run_backtest(request, folder, build, progress=progress))
        said = str(stopped.value)
        assert said.startswith(f"the run stopped: its book in {folder} could not be written at ")
        assert "market time (database or disk is full)" in said
        assert filled_at and filled_at[0] < 0.9  # filled while the run still had a way to go
        assert not has_result(folder / "book.db")
        # The full disk is tried again by the wall's second, not at every replayed one.
        assert 1 <= len(tries) <= 3

        disk.free()
        with pytest.raises(BacktestError, match="stopped before its end"):
            run_backtest(request, folder)  # the same name: the half run is not taken for whole
        again = run_backtest(request, disk.directory / "again")
        assert again.fills > 0 and not again.cancelled


def test_backtest_disk_fills_as_the_run_ends_says_the_result_was_not_kept(
    tmp_path: Path, recording: Path
) -> None:
    with small_tmpfs(tmp_path / "disk") as disk:
        if not disk.tmpfs:
            pytest.skip("needs a tmpfs to fill (mounting is not permitted here)")

        def build(**parts: Any) -> Desk:
            desk = build_backtest_desk(**parts)
            stop = desk.stop

            async def stop_then_fill() -> None:
                await stop()
                disk.fill()

            desk.stop = stop_then_fill  # type: ignore[method-assign]
            return desk

        folder = disk.directory / "ema"
        request = ema_cross_request(recording, product="CNC")
        with pytest.raises(BacktestError) as refused:
            asyncio.run(run_module.run_backtest(request, folder, build))
        said = str(refused.value)
        # SQLite words it either way, by where the write that failed went.
        assert said.startswith(
            f"the run ended but its result could not be kept in {folder / 'book.db'} ("
        )
        assert "(database or disk is full)" in said or "(disk I/O error)" in said
        assert not has_result(folder / "book.db")
