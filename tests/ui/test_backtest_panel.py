"""The Backtest panel: a strategy run on a recording from the panel, with progress and a
result (P&L, equity and drawdown curves); Cancel stops a run cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Qt

from engine.api.backtests import BacktestResult, BacktestService
from engine.backtest import history_bars
from engine.core.clock import IST
from engine.marketdata.recording import Recording, write_bar_recording
from engine.runtime.backtests import run_backtest
from tests.backtest_support import (
    INSTRUMENT,
    TOKEN,
    nifty_like_bars,
    run_backtest_reading_slowly,
    trades_csv,
    tradingview_alert,
)
from ui.panels.backtest import ALERTS, ALGO, STRATEGY, BacktestPanel

SHOTS_VARIABLE = "DALALDESK_SHOTS"
"""A folder to save the panel's picture in, to look at it (unset: the test's own folder)."""


def _panel(  # type: ignore[no-untyped-def]
    qtbot,
    tmp_path: Path,
    sessions: int,
    runs_dir: Path | None = None,
    runner=run_backtest,
    risk_limits=None,
) -> BacktestPanel:
    write_bar_recording(
        tmp_path / "recordings" / "niftylike", [INSTRUMENT], nifty_like_bars(sessions)
    )
    service = BacktestService(
        runner=runner,
        runs_dir=runs_dir or tmp_path / "runs",
        recordings_dir=tmp_path / "recordings",
        strategies=lambda: ["demo", "ema_cross"],
        risk_limits=risk_limits,
    )
    panel = BacktestPanel(service)
    qtbot.addWidget(panel)
    panel.resize(900, 640)
    panel.show()
    panel.strategy.setCurrentIndex(panel.strategy.findData("ema_cross"))
    panel.params.setText(f"token={TOKEN} quantity=50 product=CNC fast=10 slow=30")
    panel.bars.setChecked(True)
    return panel


async def _until(condition, limit: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    waited = 0.0
    while not condition():
        assert waited < limit, "the run did not finish"
        await asyncio.sleep(0.02)
        waited += 0.02


def _run_to_its_end(qloop, panel: BacktestPanel) -> None:  # type: ignore[no-untyped-def]
    """Run, as the trader clicks it, and wait for the result."""

    async def run() -> None:
        panel.run_button.click()
        await _until(lambda: panel.result is not None)

    qloop(run())


def test_backtest_panel_runs_a_strategy_and_shows_pnl_and_equity(qtbot, qloop, tmp_path) -> None:
    panel = _panel(qtbot, tmp_path, sessions=4)
    assert panel.recording.count() == 1 and "niftylike" in panel.recording.currentText()

    async def scenario() -> None:
        panel.run_button.click()
        assert not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
        await _until(lambda: panel.result is not None)

    assert panel.plots.isHidden(), "no empty axes before there is a result to draw"
    qloop(scenario())
    result = panel.result
    assert result is not None and not result.cancelled and result.fills > 10
    assert not panel.plots.isHidden()
    assert panel.progress.value() == 1000 and panel.run_button.isEnabled()
    assert f"Fills {result.fills}" in panel.summary.text()
    x, y = panel.equity_curve.getData()
    assert len(x) == len(result.equity) > 10 and y[-1] == float(result.net_pnl)
    _dx, drawdown = panel.drawdown_curve.getData()
    assert max(drawdown) <= 0 and min(drawdown) < 0
    shots = Path(os.environ.get(SHOTS_VARIABLE) or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    assert panel.grab().save(str(shots / "backtest_panel.png"))


def test_backtest_panel_runs_the_days_chosen_and_keeps_them_when_brought_back(
    qtbot, qloop, tmp_path
) -> None:
    panel = _panel(qtbot, tmp_path, sessions=5)
    days = [d.day for d in Recording(tmp_path / "recordings" / "niftylike").days()]
    assert (panel.from_day.date().toPython(), panel.to_day.date().toPython()) == (days[0], days[-1])
    assert panel.from_day.minimumDate().toPython() == days[0]
    assert panel.form.isRowVisible(panel._days_row)
    assert panel.to_day.maximumDate().toPython() == days[-1]

    panel.from_day.setDate(QDate(days[3].year, days[3].month, days[3].day))
    panel.to_day.setDate(QDate(days[1].year, days[1].month, days[1].day))
    panel.run_button.click()
    assert panel.status.text() == (
        f"Cannot run: the days end on {days[1]:%d %b %Y}, before they start on {days[3]:%d %b %Y}"
    )
    assert panel.run_button.isEnabled() and panel.result is None

    panel.from_day.setDate(QDate(days[1].year, days[1].month, days[1].day))
    panel.to_day.setDate(QDate(days[2].year, days[2].month, days[2].day))
    text = panel.params.text()
    for written, said in (("fast=5 fast=7", "fast is given twice: give it once"), ("fast", "a parameter is name=value, not 'fast'")):  # fmt: skip
        panel.params.setText(f"{text} {written}")
        panel.run_button.click()
        assert panel.status.text() == f"Cannot run: {said}" and panel.result is None
    panel.params.setText(text)
    panel.refresh()  # the panel brought forward again: the trader's days stay
    assert panel.from_day.date().toPython() == days[1]

    _run_to_its_end(qloop, panel)
    result = panel.result
    assert result is not None and result.ticks == 2 * 375 * 4  # two sessions of bars
    first, last = (
        datetime.fromtimestamp(ts / 1e9, IST).date()
        for ts in (result.equity[0][0], result.equity[-1][0])
    )
    assert (first, last) == (days[1], days[2])


def test_backtest_panel_cancel_stops_the_run_and_says_so(qtbot, qloop, tmp_path) -> None:
    panel = _panel(qtbot, tmp_path, sessions=60)
    seen: list[float] = []

    async def scenario() -> None:
        panel.run_button.click()
        await _until(lambda: 0 < panel.progress.value() < 500)
        seen.append(panel.progress.value())
        panel.cancel_button.click()
        await _until(lambda: panel.result is not None, limit=60)

    qloop(scenario())
    assert panel.result is not None and panel.result.cancelled
    assert panel.status.text().startswith("Cancelled")
    assert seen and panel.progress.value() < 1000


def test_backtest_panel_shows_a_long_read_of_the_recording_and_cancels_it(
    qtbot, qloop, tmp_path
) -> None:
    panel = _panel(qtbot, tmp_path, sessions=40, runner=run_backtest_reading_slowly)
    said: list[str] = []

    async def scenario() -> None:
        panel.run_button.click()
        await _until(lambda: "of 40 days" in panel.status.text())
        said.append(panel.status.text())
        panel.cancel_button.click()
        await _until(lambda: panel.run_button.isEnabled())

    qloop(scenario())
    assert said[0].startswith("Reading the recording: ") and said[0].endswith(" 2025)")
    assert panel.status.text().startswith("Cancelled while the recording was read (")
    assert panel.status.text().endswith("of 40 days): nothing ran and nothing was kept.")
    assert panel.result is None and not (tmp_path / "runs").exists()


def test_backtest_panel_runs_an_algo_file_and_an_alerts_replay_and_says_what_is_wrong(
    qtbot, qloop, tmp_path
) -> None:
    panel = _panel(qtbot, tmp_path, sessions=1)
    assert panel.strategy.isVisible() and not panel.file.isVisible()
    algo = {
        "kind": "twap", "token": TOKEN, "side": "BUY", "quantity": 60, "product": "CNC",
        "duration_seconds": 300, "slices": 5, "order_type": "MARKET",
    }  # fmt: skip
    (tmp_path / "twap.json").write_text(json.dumps(algo), encoding="utf-8")
    first = nifty_like_bars(1)[0].start_ns
    alerts = [
        tradingview_alert(action, first + minutes * 60_000_000_000, lots=20)
        for action, minutes in (("le", 10), ("exit", 40))
    ]
    (tmp_path / "alerts.jsonl").write_text(
        "".join(json.dumps(alert) + "\n" for alert in alerts), encoding="utf-8"
    )
    (tmp_path / "broken.json").write_text('{"kind": "twap",', encoding="utf-8")
    results = []

    async def run(kind: str, path: Path) -> None:
        panel.kind.setCurrentIndex(panel.kind.findData(kind))
        panel.file.setText(str(path))
        panel.result = None
        panel.run_button.click()
        await _until(lambda: panel.result is not None)
        results.append(panel.result)

    async def scenario() -> None:
        await run(ALGO, tmp_path / "twap.json")
        await run(ALERTS, tmp_path / "alerts.jsonl")

    qloop(scenario())
    assert panel.file.isVisible() and not panel.strategy.isVisible()
    twap, replay = results
    assert not twap.cancelled and twap.fills >= 5 and twap.name.startswith("algo-twap-")
    assert not replay.cancelled and replay.fills == 2 and replay.name.startswith("alerts-alerts-")
    assert f"Fills {replay.fills}" in panel.summary.text()

    panel.kind.setCurrentIndex(panel.kind.findData(ALGO))
    panel.file.setText(str(tmp_path / "broken.json"))
    panel.run_button.click()
    said = panel.status.text()
    assert said.startswith("Cannot run: the algo file") and "line 1" in said
    panel.file.setText(str(tmp_path / "nosuch.json"))
    panel.run_button.click()
    assert panel.status.text() == f"Cannot run: there is no file {tmp_path / 'nosuch.json'}"
    panel.file.clear()
    panel.run_button.click()
    assert panel.status.text().startswith("Cannot run: no file chosen")
    assert panel.run_button.isEnabled()
    panel.kind.setCurrentIndex(panel.kind.findData(STRATEGY))
    assert panel.params.isVisible() and not panel.file.isVisible()


def test_backtest_panel_when_the_gate_refuses_the_orders_says_how_many_and_why(
    qtbot, qloop, tmp_path
) -> None:
    panel = _panel(qtbot, tmp_path, sessions=1)
    panel.params.setText(f"token={TOKEN} quantity=50 product=NRML")

    _run_to_its_end(qloop, panel)
    result = panel.result
    assert result is not None and result.fills == 0 and result.denied > 0
    assert (
        f"{result.denied} order(s) refused by the risk gate, the first: NRML is for F&O; use "
        "CNC or MIS for NIFTYLIKE"
    ) in panel.summary.text()
    shots = Path(os.environ.get(SHOTS_VARIABLE) or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    assert panel.grab().save(str(shots / "backtest_panel_refused.png"))


def test_backtest_panel_when_a_run_cannot_even_begin_says_so_and_is_ready_again(
    qtbot, qloop, tmp_path, monkeypatch, caplog
) -> None:
    panel = _panel(qtbot, tmp_path, sessions=1)

    async def no_process(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("can't start new process")

    assert panel._service is not None
    monkeypatch.setattr(panel._service, "run_measured", no_process)

    async def scenario() -> None:
        panel.run_button.click()
        await _until(lambda: panel.run_button.isEnabled())

    qloop(scenario())
    assert panel.status.text() == "The run failed: RuntimeError: can't start new process"
    assert not panel.cancel_button.isEnabled()
    assert "could not run" in caplog.text  # the traceback goes to the log


def test_backtest_panel_runs_under_the_desks_own_risk_limits(qtbot, qloop, tmp_path) -> None:
    # The desk's limits: at most 20 shares of one instrument (the strategy buys 50).
    panel = _panel(
        qtbot,
        tmp_path,
        sessions=1,
        risk_limits=lambda: {"defaults": {"max_position_lots": 20}},
    )

    _run_to_its_end(qloop, panel)
    result = panel.result
    assert result is not None and result.fills == 0 and result.denied > 0
    assert "the limit is 20 lots" in panel.summary.text()


def test_backtest_panel_records_an_instruments_history_and_picks_it(qtbot, qloop, tmp_path) -> None:
    from datetime import datetime

    from engine.calendar import load_calendar
    from engine.core.clock import IST
    from engine.marketdata.sim_history import SimulatedHistory
    from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig

    now = datetime(2026, 11, 27, 16, 0, tzinfo=IST)
    calendar = load_calendar(None)
    market = SimulatedMarket(SimulatedMarketConfig(), lambda: now, calendar)  # type: ignore[arg-type]
    by_symbol = {i.tradingsymbol: i for i in market.instruments()}
    service = BacktestService(
        runner=run_backtest,
        runs_dir=tmp_path / "runs",
        recordings_dir=tmp_path / "recordings",
        strategies=lambda: ["ema_cross"],
        history=SimulatedHistory(market, calendar),
        find_instrument=by_symbol.get,
        now=lambda: now,
    )
    panel = BacktestPanel(service)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.form.isRowVisible(panel._history_row)
    assert panel.recording.count() == 0
    assert panel.status.text().startswith("No recording yet. Name an instrument under Add data")
    assert "Record history" in panel.status.text()
    share = next(s for s, i in by_symbol.items() if i.instrument_type.value == "EQ")

    async def record(symbol: str) -> None:
        panel.history_symbol.setText(symbol)
        panel.history_days.setValue(3)
        panel.history_button.click()
        assert not panel.history_button.isEnabled()
        await _until(lambda: panel.history_button.isEnabled())

    qloop(record(share.lower()))
    assert panel.status.text().startswith(f"Recorded {share}-20261124-20261127 (")
    assert panel.recording.currentText().startswith(f"{share}-20261124-20261127")
    assert panel.bars.isChecked()

    qloop(record("NOSUCH"))
    assert panel.status.text() == (
        "Not recorded: the desk lists no instrument 'NOSUCH': search it in the watch"
    )
    shots = Path(os.environ.get(SHOTS_VARIABLE) or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    assert panel.grab().save(str(shots / "backtest_panel_history.png"))

    bare = BacktestPanel(
        BacktestService(
            runner=run_backtest,
            runs_dir=tmp_path / "runs",
            recordings_dir=tmp_path / "no recordings",
            strategies=list,
        )
    )
    qtbot.addWidget(bare)
    assert not bare.form.isRowVisible(bare._days_row)  # no recording yet: no days to pick
    # No history to record from: the row imports CSV files alone.
    assert bare.form.isRowVisible(bare._history_row) and not bare.import_button.isHidden()
    assert bare.history_button.isHidden() and bare.history_days.isHidden()
    assert "Record history" not in bare.status.text() and "Import CSV" in bare.status.text()
    assert bare.recording.currentIndex() == -1 and bare.recording.placeholderText()
    bare.run_button.click()
    assert bare.status.text() == "Cannot run: no recording to run on: add one under Add data"


def test_backtest_panel_import_shows_the_rows_read_and_stops_keeping_nothing(
    qtbot, qloop, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(history_bars, "IMPORT_REPORT_ROWS", 200)
    quoted = history_bars._quoted

    def slowly(trade: Any) -> Any:  # a file a minute long to read, unless stopped
        time.sleep(0.002)
        return quoted(trade)

    monkeypatch.setattr(history_bars, "_quoted", slowly)
    panel = _panel(qtbot, tmp_path, sessions=1)
    trades = trades_csv(tmp_path / "trades.csv", nifty_like_bars(40))
    said: list[str] = []

    async def scenario() -> None:
        panel.history_symbol.setText("niftylike")
        panel.import_csv(str(trades))
        assert panel.import_button.text() == "Stop import"
        await _until(lambda: "rows read…" in panel.status.text())
        said.append(panel.status.text())
        panel.import_button.click()
        await _until(lambda: panel.import_button.text() == "Import CSV…")

    qloop(scenario())
    assert said[0].startswith("Importing trades.csv as NIFTYLIKE: ")
    assert panel.status.text().startswith("Not imported: the import was cancelled after ")
    assert panel.status.text().endswith(" rows: nothing was kept")
    assert not (tmp_path / "recordings" / "NIFTYLIKE").exists()


def test_backtest_panel_imports_a_csv_of_trades_or_candles_names_bad_rows_and_runs_on_it(
    qtbot, qloop, tmp_path
) -> None:
    panel = _panel(qtbot, tmp_path, sessions=1)
    bars = nifty_like_bars(2)
    trades = trades_csv(tmp_path / "trades.csv", bars)
    candles = tmp_path / "candles.csv"
    candles.write_text(
        "timestamp,open,high,low,close,volume\n2025-03-03 09:15,100.00,100.50,99.90,100.20,10\n"
        "2025-03-03 09:16,100.20,100.30,abc,100.10,12\n",
        encoding="utf-8",
    )
    neither = tmp_path / "neither.csv"
    neither.write_text("when,what\n2025-03-03,1\n", encoding="utf-8")

    panel.choose_csv()  # no symbol yet: asked for before any file dialog
    assert panel.status.text() == "Name the instrument the file is of, then import it."

    async def imported(path: Path, symbol: str) -> str:
        panel.history_symbol.setText(symbol)
        panel.import_csv(str(path))
        assert panel.import_button.text() == "Stop import"
        await _until(lambda: panel.import_button.text() == "Import CSV…")
        return panel.status.text()

    said: list[str] = []

    async def scenario() -> None:
        said.append(await imported(trades, "niftylike"))
        said.append(await imported(trades, "niftylike"))  # its days are recorded now
        said.append(await imported(neither, "niftylike"))
        bars_checked = panel.bars.isChecked()
        said.append(await imported(candles, "cndl"))
        said.append(f"bars {bars_checked} {panel.bars.isChecked()}")

    qloop(scenario())
    assert said[0].startswith(
        "Imported trades.csv: 1,498 of 1,500 rows, 2 skipped (row 10: no instrument "
        "'RELIANCE'; row 21: qty -3 is negative). Kept in NIFTYLIKE (2025-01-02 – 2025-01-03, "
        "2 days, "
    )
    assert said[0].endswith(" kB).")
    assert (
        said[1].startswith("Not imported: ")
        and "already records 2025-01-02, a day of the file" in said[1]
    )
    assert said[2].startswith("Not imported: the header when, what is neither of candles")
    assert said[3].startswith("Imported candles.csv: 1 of 2 rows, 1 skipped (row 3: low 'abc'")
    assert said[4] == "bars False True"  # trades replay as ticks, candles as bars

    panel.recording.setCurrentIndex(
        panel.recording.findData(str(tmp_path / "recordings" / "NIFTYLIKE"))
    )
    panel.bars.setChecked(False)
    panel.params.setText("quantity=45 product=CNC")  # the recording's one instrument

    _run_to_its_end(qloop, panel)
    assert panel.result is not None and panel.result.ticks == 1_498 and panel.result.fills > 0


def test_backtest_panel_a_long_error_wraps_and_never_widens_the_panel(
    qtbot, qloop, tmp_path
) -> None:
    blocked = tmp_path / "a-file-where-the-runs-folder-should-be"
    blocked.write_text("", encoding="utf-8")
    runs = blocked / "with a long name for the backtests of this desk" / "runs"
    panel = _panel(qtbot, tmp_path, sessions=1, runs_dir=runs)
    width = panel.minimumSizeHint().width()
    panel.run_button.click()

    async def failed() -> None:
        await _until(lambda: panel.status.text().startswith("The run failed"))

    qloop(failed())
    said = panel.status.text()
    assert str(blocked) in said and panel.fontMetrics().horizontalAdvance(said) > 900
    assert panel.minimumSizeHint().width() == width and panel.width() == 900
    assert panel.status.wordWrap() and panel.run_button.isEnabled()


def test_backtest_panel_names_a_recordings_unreadable_folders_beside_it(qtbot, tmp_path) -> None:
    panel = _panel(qtbot, tmp_path, sessions=2)
    (tmp_path / "recordings" / "niftylike" / "2026-02-30").mkdir()  # not a date
    panel.refresh()
    assert panel.recording.count() == 1, "the recording is still offered"
    assert panel.recording.itemText(0).endswith("(1 folder(s) skipped)")
    tip = panel.recording.itemData(0, Qt.ItemDataRole.ToolTipRole)
    assert "2026-02-30" in tip and "not a date" in tip


def test_backtest_panel_money_when_large_or_negative_is_grouped_in_lakhs_with_the_sign_before_the_rupee(
    qtbot,
) -> None:
    panel = BacktestPanel(None)
    qtbot.addWidget(panel)
    start = int(datetime(2026, 1, 5, 10, tzinfo=IST).timestamp() * 1e9)
    minute = 60 * 10**9
    peak, trough = (start + minute, Decimal(250_000)), (start + 2 * minute, Decimal("-0.125"))
    curve = [(start, Decimal(0)), peak, trough]
    gross, charges, net = Decimal("-1234567.891"), Decimal("45678.505"), Decimal("-1280246.396")
    result = BacktestResult(
        "run", "trend", {}, 1000, 10, 10, gross, charges, net, 1.0, False, "/tmp/book.db",
        equity=curve,
    )  # fmt: skip
    panel.show_result(result)
    said = panel.summary.text()
    # Indian grouping, the sign before ₹, half up to the paisa (half even: ₹45,678.50, .12).
    assert "Gross -₹12,34,567.89   " in said and "Charges ₹45,678.51   " in said
    assert "Net -₹12,80,246.40   " in said and said.endswith("Max drawdown ₹2,50,000.13")
    assert not panel.export_button.isEnabled() and panel.figures.isHidden()
