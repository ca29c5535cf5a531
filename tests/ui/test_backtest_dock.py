"""The Backtest panel docked in the main window: brought forward by its shortcut, a run started
from it shows progress and can be cancelled cleanly; a completed run draws equity and drawdown."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction, QKeySequence

from engine.api.backtests import BacktestService
from engine.backtest import history_bars
from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtests import run_backtest
from tests.backtest_support import INSTRUMENT, TOKEN, nifty_like_bars, trades_csv
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.panel_registry import PANELS, SHORTCUTS
from ui.panels.backtest import BacktestPanel

SHOTS_VARIABLE = "DALALDESK_SHOTS"
"""A folder to save the window's picture in, to look at it (unset: the test's own folder)."""


async def _until(condition, limit: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    waited = 0.0
    while not condition():
        assert waited < limit, "the run did not get there"
        await asyncio.sleep(0.02)
        waited += 0.02


def _window(qtbot, engine, tmp_path: Path, sessions: int) -> MainWindow:  # type: ignore[no-untyped-def]
    recordings = tmp_path / "recordings"
    write_bar_recording(recordings / "niftylike", [INSTRUMENT], nifty_like_bars(sessions))
    service = BacktestService(
        runner=run_backtest,
        runs_dir=tmp_path / "runs",
        recordings_dir=recordings,
        strategies=lambda: [info.strategy_id for info in engine.api.strategies()],
    )
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"), backtests=service)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _docked_panel(qtbot, window: MainWindow) -> BacktestPanel:  # type: ignore[no-untyped-def]
    dock = window.docks["backtest"]
    spec = next(spec for spec in PANELS if spec.object_name == "backtest")
    assert spec.shortcut in dict(SHORTCUTS)
    dock.hide()
    actions = [
        action
        for action in window.findChildren(QAction)
        if action.shortcut() == QKeySequence(spec.shortcut)
    ]
    assert len(actions) == 1, "the panel's shortcut is its own"
    actions[0].trigger()
    qtbot.waitUntil(dock.isVisible, timeout=2000)
    panel = window.panels["backtest"]
    assert isinstance(panel, BacktestPanel)
    assert "ema_cross" in [panel.strategy.itemData(i) for i in range(panel.strategy.count())]
    panel.strategy.setCurrentIndex(panel.strategy.findData("ema_cross"))
    assert panel.recording.count() == 1 and "niftylike" in panel.recording.currentText()
    panel.params.setText(f"token={TOKEN} quantity=50 product=CNC fast=10 slow=30")
    panel.bars.setChecked(True)
    return panel


def test_backtest_docked_run_completes_with_equity_and_drawdown(
    qtbot, qloop, engine, tmp_path
) -> None:
    window = _window(qtbot, engine, tmp_path, sessions=4)
    try:
        panel = _docked_panel(qtbot, window)

        async def scenario() -> None:
            panel.run_button.click()
            assert not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
            await _until(lambda: panel.result is not None)

        qloop(scenario())
        result = panel.result
        assert result is not None and not result.cancelled and result.fills > 10
        assert panel.progress.value() == 1000 and panel.run_button.isEnabled()
        assert (
            panel.status.text().startswith("Done")
            and f"Fills {result.fills}" in panel.summary.text()
        )
        x, y = panel.equity_curve.getData()
        assert len(x) == len(result.equity) > 10 and y[-1] == float(result.net_pnl)
        _dx, drawdown = panel.drawdown_curve.getData()
        assert max(drawdown) <= 0 and min(drawdown) < 0
        assert Path(result.book).is_relative_to(tmp_path / "runs")
        window.docks["backtest"].raise_()
        shots = Path(os.environ.get(SHOTS_VARIABLE) or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        assert window.grab().save(str(shots / "backtest_docked.png"))
    finally:
        window.stop()


def test_backtest_docked_run_shows_progress_and_cancels_cleanly(
    qtbot, qloop, engine, tmp_path
) -> None:
    window = _window(qtbot, engine, tmp_path, sessions=60)
    try:
        panel = _docked_panel(qtbot, window)
        seen: list[int] = []

        async def scenario() -> None:
            panel.run_button.click()
            await _until(lambda: 0 < panel.progress.value() < 500)
            seen.append(panel.progress.value())
            assert panel.status.text().startswith("Replaying")
            panel.cancel_button.click()
            await _until(lambda: panel.result is not None)

        qloop(scenario())
        assert panel.result is not None and panel.result.cancelled
        assert seen and panel.progress.value() < 1000
        assert panel.status.text().startswith("Cancelled")
        assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
        assert not engine.orders.halted_reason  # the desk itself went on untouched
    finally:
        window.stop()


def test_backtest_docked_import_is_stopped_when_the_desk_closes(
    qtbot, qloop, engine, tmp_path, monkeypatch
) -> None:
    # The panel is tall, so its dock holds it in a scroll area: closing must still reach it, or
    # the desk's exit waits for the whole file to be read on its thread.
    quoted = history_bars._quoted

    def slowly(trade: Any) -> Any:  # a file minutes long to read, unless stopped
        time.sleep(0.002)
        return quoted(trade)

    monkeypatch.setattr(history_bars, "IMPORT_REPORT_ROWS", 200)
    monkeypatch.setattr(history_bars, "_quoted", slowly)
    window = _window(qtbot, engine, tmp_path, sessions=1)
    panel = _docked_panel(qtbot, window)
    assert window.docks["backtest"].widget() is not panel  # held in a scroll area
    trades = trades_csv(tmp_path / "trades.csv", nifty_like_bars(100))

    async def scenario() -> None:
        panel.history_symbol.setText("niftylike")
        panel.import_csv(str(trades))
        await _until(lambda: "rows read…" in panel.status.text())
        started = time.monotonic()
        window.stop()
        await _until(lambda: panel.import_button.text() == "Import CSV…", limit=10)
        assert time.monotonic() - started < 5

    qloop(scenario())
    assert panel.status.text().startswith("Not imported: the import was cancelled after ")
    assert not (tmp_path / "recordings" / "NIFTYLIKE").exists()
