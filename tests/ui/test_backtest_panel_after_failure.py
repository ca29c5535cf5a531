"""The Backtest panel's words and figures when things go wrong: a failed run leaves no earlier
run's figures, curves or Export under its message; what the panel says is plain text (a file
named like markup is shown as named) and never megabytes long."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from engine.api.backtests import BacktestService
from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtests import run_backtest
from tests.backtest_support import INSTRUMENT, TOKEN, nifty_like_bars
from ui.panels.backtest import SAID_MAX, BacktestPanel


def _panel(qtbot: Any, tmp_path: Path) -> BacktestPanel:
    write_bar_recording(tmp_path / "recordings" / "niftylike", [INSTRUMENT], nifty_like_bars(2))
    service = BacktestService(
        runner=run_backtest,
        runs_dir=tmp_path / "runs",
        recordings_dir=tmp_path / "recordings",
        strategies=lambda: ["ema_cross"],
    )
    panel = BacktestPanel(service)
    qtbot.addWidget(panel)
    panel.resize(900, 640)
    panel.show()
    panel.strategy.setCurrentIndex(panel.strategy.findData("ema_cross"))
    panel.params.setText(f"token={TOKEN} quantity=50 product=CNC fast=10 slow=30")
    panel.bars.setChecked(True)
    return panel


def _run(qloop: Any, panel: BacktestPanel) -> None:
    async def run() -> None:
        panel.run_button.click()
        waited = 0.0
        while not panel.run_button.isEnabled():
            assert waited < 60, "the run did not end"
            await asyncio.sleep(0.02)
            waited += 0.02

    qloop(run())


def test_backtest_panel_after_a_failed_run_shows_no_earlier_figures_or_export(
    qtbot, qloop, tmp_path
) -> None:
    panel = _panel(qtbot, tmp_path)
    _run(qloop, panel)
    assert panel.result is not None and panel.export_button.isEnabled()
    assert panel.plots_place.currentWidget() is panel.plots

    panel.params.setText(f"token={TOKEN} quantity=50 product=CNC nosuch=1")
    _run(qloop, panel)

    assert panel.status.text().startswith("The run failed: ")
    assert panel.result is None and panel.report is None
    assert panel.summary.text() == ""
    assert not panel.figures.isVisible()
    assert not panel.export_button.isEnabled()
    assert panel.plots_place.currentWidget() is not panel.plots


def test_backtest_panel_says_things_in_plain_text(qtbot, tmp_path) -> None:
    panel = _panel(qtbot, tmp_path)
    named = "Imported my <b>best alerts <i>v2.csv"

    for label in (panel.status, panel.summary, panel.export_feedback):
        label.setText(named)
        assert label.textFormat() == Qt.TextFormat.PlainText
        assert label.text() == named


def test_backtest_panel_cuts_a_message_that_echoes_a_whole_file(qtbot, tmp_path) -> None:
    panel = _panel(qtbot, tmp_path)

    panel.status.setText("Not imported: " + "lorem,ipsum,dolor " * 600_000)

    assert len(panel.status.text()) == SAID_MAX + 1
    assert panel.status.text().endswith("…")
