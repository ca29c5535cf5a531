"""The Backtest panel after a run: the figures a trader judges the run by (measured as the
performance report measures them, from the run's own journal), and Export report… writing the
run's HTML report through the engine, where the trader picks, saying in the panel where it went
or why it did not."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication, QFileDialog

from engine.api.backtests import BacktestService
from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtests import run_backtest
from tests.backtest_support import INSTRUMENT, TOKEN, nifty_like_bars
from ui import format as fmt
from ui.panels.backtest import BacktestPanel

SHOTS_VARIABLE = "DALALDESK_SHOTS"
"""A folder to save the panel's picture in, to look at it (unset: the test's own folder)."""
CAPITAL = Decimal(500_000)


def _ran(qtbot: Any, qloop: Any, tmp_path: Path, sessions: int = 22) -> BacktestPanel:
    """The panel after the EMA cross ran on ``sessions`` days of a NIFTY-like series' bars, as a
    trader runs it, under the desk's limits (capital ₹5,00,000)."""
    write_bar_recording(
        tmp_path / "recordings" / "niftylike", [INSTRUMENT], nifty_like_bars(sessions)
    )
    service = BacktestService(
        runner=run_backtest,
        runs_dir=tmp_path / "runs",
        recordings_dir=tmp_path / "recordings",
        strategies=lambda: ["ema_cross"],
        risk_limits=lambda: {"defaults": {"capital": str(CAPITAL)}},
    )
    panel = BacktestPanel(service)
    qtbot.addWidget(panel)
    panel.resize(1000, 720)
    panel.show()
    panel.strategy.setCurrentIndex(panel.strategy.findData("ema_cross"))
    panel.params.setText(f"token={TOKEN} quantity=50 product=CNC fast=10 slow=30")
    panel.bars.setChecked(True)

    async def run() -> None:
        panel.run_button.click()
        await _until(panel.run_button.isEnabled, 120.0)

    qloop(run())
    assert panel.result is not None, panel.status.text()
    return panel


async def _until(condition: Any, limit: float = 10.0) -> None:
    waited = 0.0
    while not condition():
        assert waited < limit, "it did not happen in time"
        await asyncio.sleep(0.02)
        waited += 0.02


def _plain(rich: str) -> str:
    text = re.sub(r"<[^>]+>", "", rich).replace("&nbsp;", " ").replace("&amp;", "&")
    return text.replace("\u2060", "")  # the word joiner that keeps "+₹" on one line


def _export_by_the_dialog(qloop: Any, panel: BacktestPanel, path: Path) -> None:
    """Export report…, the file picked in the save dialog it opens (which leaves the loop
    running), and wait for the panel to say what became of it."""

    async def pick() -> None:
        panel.export_button.click()
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QFileDialog))
        assert dialog.isVisible() and dialog.acceptMode() is QFileDialog.AcceptMode.AcceptSave
        assert dialog.nameFilters() == ["HTML report (*.html)"]
        await asyncio.sleep(0.05)  # the loop runs on while the trader picks
        dialog.fileSelected.emit(str(path))
        dialog.close()
        await _until(lambda: panel._export_task is None)

    qloop(pick())


def test_backtest_panel_after_a_run_shows_its_ratios_drawdown_trades_and_costs(
    qtbot, qloop, tmp_path
) -> None:
    panel = _ran(qtbot, qloop, tmp_path)
    result, report = panel.result, panel.report
    assert result is not None and report is not None and report.result is result
    metrics = report.metrics
    assert metrics is not None and report.note == ""
    # Measured on the desk's capital, from the run's own journal: every fill's charges, and the
    # EMA cross's fills paired into round trips (each order after the first closes one).
    assert report.capital == CAPITAL and metrics.start_equity == CAPITAL
    assert metrics.net_pnl == result.net_pnl and metrics.charges == result.charges > 0
    assert metrics.trade_stats.trades == result.fills // 2 > 10
    assert sum((t.net for t in report.view.trades), Decimal(0)) == metrics.trade_stats.net
    assert {t.symbol for t in report.view.trades} == {"NIFTYLIKE"}
    assert metrics.annualised and metrics.sharpe is not None and metrics.sortino is not None

    shown = _plain(panel.figures.text())
    growth = fmt.percent(result.net_pnl / CAPITAL * 100)
    dd = metrics.max_drawdown
    stats = metrics.trade_stats
    for figure in (
        f"Return on ₹5,00,000 {growth}",
        f"CAGR {fmt.percent(metrics.cagr * 100)}",  # type: ignore[operator]
        f"Sharpe {metrics.sharpe:.2f}",
        f"Sortino {metrics.sortino:.2f}",
        f"Max drawdown {fmt.percent(dd.depth * 100)}",
        f"Trades {stats.trades}",
        f"Win rate {stats.win_rate * 100:.1f}%",  # type: ignore[operator]
        f"Expectancy {fmt.rupee_amount(stats.expectancy, signed=True)}",
        f"Profit factor {stats.profit_factor:.2f}",
        f"Charges {fmt.rupee_amount(result.charges)}",
        "Slippage ₹0.00",  # bar fills at the price the order arrived at
        "risk-free rate 0.00% a year",
    ):
        assert figure in shown, f"{figure!r} not in {shown!r}"
    assert "Calmar" in shown and "Drawdown lasted" in shown
    assert panel.export_button.isEnabled()
    shots = Path(os.environ.get(SHOTS_VARIABLE) or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    assert panel.grab().save(str(shots / "backtest_panel_figures.png"))


def test_backtest_report_export_when_the_trader_picks_a_file_writes_the_runs_html_report(
    qtbot, qloop, tmp_path
) -> None:
    panel = _ran(qtbot, qloop, tmp_path)
    assert panel.report is not None and panel.report.metrics is not None
    stats = panel.report.metrics.trade_stats
    target = tmp_path / "reports" / "ema-cross.html"
    target.parent.mkdir()

    _export_by_the_dialog(qloop, panel, target)

    assert panel.export_feedback.text() == f"Report saved: {target}"
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert f"<title>DalalDesk backtest — {panel.result.name}</title>" in page  # type: ignore[union-attr]
    assert f"<h2>Trades ({stats.trades})</h2>" in page and "NIFTYLIKE" in page
    assert "Sharpe" in page and "Charges paid" in page and "<svg" in page
    assert [p.name for p in target.parent.iterdir()] == [target.name]

    # Written again over a private report through a link: the link and the privacy stay.
    target.chmod(0o600)
    link = tmp_path / "latest.html"
    link.symlink_to(target)
    target.write_text("yesterday's report", encoding="utf-8")
    _export_by_the_dialog(qloop, panel, link)
    assert panel.export_feedback.text() == f"Report saved: {link}"
    assert link.is_symlink() and target.read_text(encoding="utf-8") == page
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_backtest_report_export_when_the_folder_is_gone_says_why_in_the_panel(
    qtbot, qloop, tmp_path
) -> None:
    panel = _ran(qtbot, qloop, tmp_path, sessions=3)
    missing = tmp_path / "no such folder" / "report.html"

    _export_by_the_dialog(qloop, panel, missing)

    assert panel.export_feedback.text() == (
        f"Not exported: the report could not be written to {missing}: No such file or directory"
    )
    assert not missing.parent.exists()  # a chosen path's folder is not made up
    assert panel.export_button.isEnabled()  # the trader can pick another place
    # A run of three days: its CAGR and Calmar are not annualised, and the panel says why.
    assert panel.report is not None and panel.report.metrics is not None
    assert not panel.report.metrics.annualised
    shown = _plain(panel.figures.text())
    assert "CAGR — " in shown and "CAGR and Calmar are shown from 20 trading days on" in shown
