"""The Backtest panel: pick what to run (a strategy of the catalogue, a multileg portfolio, an
execution algo or a replay of TradingView alerts, the last three from files) and a recording,
run it on the desk's own engine (in a worker process) with a progress bar, an estimate of the
time left and Cancel, then read the result: orders, fills, P&L before and after charges, the
figures a trader judges a run by (return, CAGR, Sharpe, Sortino, Calmar, the drawdown and how long
it lasted, win rate, expectancy, profit factor, charges, slippage), the equity curve with its
drawdown, and Export report… for the run's performance report as one HTML page."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import date, datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.api import IST
from engine.api.backtests import (
    BARS,
    FAILED_PARTWAY,
    MAX_HISTORY_DAYS,
    TICKS,
    BacktestCancelled,
    BacktestError,
    BacktestJob,
    BacktestRequest,
    BacktestResult,
    BacktestService,
    Progress,
    RunReport,
    cancelled_said,
    max_drawdown,
    read_portfolio_file,
    read_settings_file,
    strategy_params,
)
from engine.api.performance import session_positions
from ui import format as fmt
from ui.export import ask_save_path
from ui.plot_axes import RupeeAxis, SessionAxis

log = logging.getLogger(__name__)

STRATEGY, PORTFOLIO, ALGO, ALERTS = "strategy", "portfolio", "algo", "alerts"
KINDS = (
    (STRATEGY, "Strategy"),
    (PORTFOLIO, "Multileg portfolio (file)"),
    (ALGO, "Execution algo (file)"),
    (ALERTS, "TradingView alerts (file)"),
)
FILE_HINTS = {
    PORTFOLIO: "a portfolio exported from the Multileg panel (.json)",
    ALGO: "an algo's settings, one JSON object (.json)",
    ALERTS: "alerts with their 'fired' times: a JSON array or one per line",
}

_READY = "Pick what to run and a recording, then Run."
_NO_RECORDING_HISTORY = (
    "No recording yet. Name an instrument under Add data, then Record history (its 1-minute "
    "bars of the last days) or Import CSV… (a file of its candles or trades)."
)
_NO_RECORDING = (
    "No recording yet. Name an instrument under Add data, then Import CSV… (a file of its "
    "candles or trades), or record the desk's feed (dalaldesk --record)."
)


_FAILURES_SHOWN = 5
"""A result names this many of its strategy's failures, then counts the rest."""
SAID_MAX = 2000
"""The most characters a line of the panel's words shows: an error can echo a file's content,
and a label wraps its whole text on every layout (megabytes of it hold the window)."""


class SaidLabel(QLabel):
    """Words for the trader: plain text (a file named ``<b>…`` is not read as markup), wrapped
    (an error names folders and runs long: it never widens the dock past the window),
    selectable, and cut at ``SAID_MAX`` characters."""

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setText(text)

    def setText(self, text: str) -> None:
        super().setText(text if len(text) <= SAID_MAX else f"{text[:SAID_MAX]}…")


class BacktestPanel(QWidget):
    def __init__(self, service: BacktestService | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backtest")
        self._service = service
        self._job: BacktestJob | None = None
        self._task: asyncio.Task[Any] | None = None
        self.result: BacktestResult | None = None
        self.report: RunReport | None = None
        """The shown run's figures and report (None: a result shown without them)."""
        self._export_task: asyncio.Task[Any] | None = None

        self.kind = QComboBox()
        for kind, label in KINDS:
            self.kind.addItem(label, kind)
        self.strategy = QComboBox()
        self.file = QLineEdit()
        self.browse_button = QPushButton("Browse…")
        self._file_row = file_row = QHBoxLayout()
        file_row.addWidget(self.file, 1)
        file_row.addWidget(self.browse_button)
        self.recording = QComboBox()
        self.recording.setPlaceholderText("none yet: add data below")
        self._recorded_days: dict[str, tuple[date, ...]] = {}
        self._ranged = ""
        """The recording the day range was set for: brought forward again, it keeps the range."""
        # The days of the recording to run on: all of them unless the trader narrows it.
        self.from_day, self.to_day = QDateEdit(), QDateEdit()
        for edit in (self.from_day, self.to_day):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("dd MMM yyyy")
        self._days_row = days_row = QHBoxLayout()
        days_row.addWidget(self.from_day)
        days_row.addWidget(QLabel("to"))
        days_row.addWidget(self.to_day)
        days_row.addStretch(1)
        # The past of an instrument from the desk's history (Kite's candles, or the paper
        # market's), kept as a recording to run on.
        self.history_symbol = QLineEdit()
        self.history_symbol.setPlaceholderText("trading symbol, e.g. NIFTYBEES")
        self.history_days = QSpinBox()
        self.history_days.setRange(1, MAX_HISTORY_DAYS)
        self.history_days.setValue(30)
        self.history_days.setSuffix(" days")
        self.history_button = QPushButton("Record history")
        self.history_button.setToolTip(
            "Keep the instrument's 1-minute bars of the last days as a recording"
        )
        # Or a CSV file of the instrument's candles or trades.
        self.import_button = QPushButton("Import CSV…")
        self.import_button.setToolTip(
            "Keep a CSV file of the instrument's candles (timestamp,open,high,low,close,volume) "
            "or trades (timestamp,symbol,ltp,qty[,bid,ask]) as a recording; each bad row is "
            "named and skipped"
        )
        self._import_task: asyncio.Task[Any] | None = None
        self._import_stop: threading.Event | None = None
        self._history_row = history_row = QHBoxLayout()
        history_row.addWidget(self.history_symbol, 1)
        history_row.addWidget(self.history_days)
        history_row.addWidget(self.history_button)
        history_row.addWidget(self.import_button)
        self._history_task: asyncio.Task[Any] | None = None
        self.params = QLineEdit()
        self.params.setPlaceholderText("fast=10 slow=30 quantity=50")
        self.bars = QCheckBox("1-minute bars (next-bar fills)")
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p%")
        self.status = SaidLabel(_READY)
        self.summary = SaidLabel()
        self.figures = QLabel("")
        self.figures.setObjectName("backtestFigures")
        self.figures.setTextFormat(Qt.TextFormat.RichText)
        self.figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figures.setWordWrap(True)  # a narrow dock wraps between figures, never inside one
        self.figures.hide()
        self.export_button = QPushButton("Export report…")
        self.export_button.setObjectName("backtestExport")
        self.export_button.setToolTip(
            "Save the run's performance report (equity, drawdown, daily P&L, figures, trades) "
            "as one HTML page that opens in any browser"
        )
        self.export_button.setEnabled(False)
        self.export_feedback = SaidLabel()
        self.export_feedback.hide()

        self.form = form = QFormLayout()
        form.addRow("Run", self.kind)
        form.addRow("Strategy", self.strategy)
        form.addRow("File", file_row)
        form.addRow("Recording", self.recording)
        form.addRow("Days", days_row)
        form.addRow("Add data", history_row)
        form.addRow("Parameters", self.params)
        form.addRow("", self.bars)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.export_button)

        self.plots = pg.GraphicsLayoutWidget()
        # Below this the rupee labels of the two plots run into each other (a shared dock).
        self.plots.setMinimumHeight(220)
        self.equity_plot = self.plots.addPlot(row=0, col=0, title="Equity (net P&L, ₹)")
        self.drawdown_plot = self.plots.addPlot(row=1, col=0, title="Drawdown (₹)")
        self.drawdown_plot.setXLink(self.equity_plot)
        # Market time with nights and weekends shortened, labelled in IST, as the Performance
        # panel draws it: a run of many sessions is its sessions, not mostly closed hours.
        self.time_axes = (SessionAxis(), SessionAxis())
        for plot, axis in zip((self.equity_plot, self.drawdown_plot), self.time_axes, strict=True):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setAxisItems({"bottom": axis, "left": RupeeAxis()})
        self.plots.ci.layout.setRowStretchFactor(0, 3)
        self.plots.ci.layout.setRowStretchFactor(1, 1)
        self.equity_curve = self.equity_plot.plot(pen=pg.mkPen("#4fc3f7", width=2))
        self.drawdown_curve = self.drawdown_plot.plot(
            pen=pg.mkPen("#ef5350"), fillLevel=0, brush=pg.mkBrush(239, 83, 80, 80)
        )

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.summary)
        layout.addWidget(self.figures)
        layout.addWidget(self.export_feedback)
        # Until a run has a result, words in the plots' place: empty axes would read as a
        # result of ₹0 to ₹1. The place keeps its height, so the panel scrolls in a shared dock
        # from the start rather than growing the dock once there is a result.
        self.plots_place = QStackedWidget()
        waiting = QLabel("The equity and drawdown of a run show here.")
        waiting.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.plots_place.addWidget(waiting)
        self.plots_place.addWidget(self.plots)
        layout.addWidget(self.plots_place, 1)

        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self.ask_export_path)
        self.browse_button.clicked.connect(self.browse)
        self.history_button.clicked.connect(self.record_history)
        self.history_symbol.returnPressed.connect(self.record_history)
        self.import_button.clicked.connect(self.choose_csv)
        self.form.setRowVisible(history_row, service is not None)
        records_history = service is not None and service.records_history
        self.history_days.setVisible(records_history)
        self.history_button.setVisible(records_history)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.recording.currentIndexChanged.connect(self._recording_changed)
        self._kind_changed()
        self.refresh()

    def _kind_changed(self) -> None:
        kind = self.kind.currentData()
        self.form.setRowVisible(self.strategy, kind == STRATEGY)
        self.form.setRowVisible(self.params, kind == STRATEGY)
        self.form.setRowVisible(self._file_row, kind != STRATEGY)
        self.file.setPlaceholderText(FILE_HINTS.get(kind, ""))

    def browse(self) -> None:
        kind = self.kind.currentData()
        filters = (
            "Alerts (*.json *.jsonl *.txt);;All files (*)"
            if kind == ALERTS
            else ("Settings (*.json);;All files (*)")
        )
        start = self.file.text() or str(Path.home())
        path, _chosen = QFileDialog.getOpenFileName(self, "Choose the file to run", start, filters)
        if path:
            self.file.setText(path)

    def refresh(self) -> None:
        """List the strategies and recordings there are now."""
        chosen = self.strategy.currentData(), self.recording.currentData()
        self.strategy.clear()
        if self._service is None:
            self.run_button.setEnabled(False)
            self.status.setText(
                "Backtests run from the workstation's profile; this window has none."
            )
            return
        for strategy_id in self._service.strategy_ids():
            self.strategy.addItem(strategy_id, strategy_id)
        self.recording.blockSignals(True)  # the range follows the choice once it is made
        self.recording.clear()
        self._recorded_days.clear()
        for info in self._service.recordings():
            # Folders of it that could not be read are said beside its name, and in full on hover.
            skipped = f"  ({len(info.notes)} folder(s) skipped)" if info.notes else ""
            self.recording.addItem(info.title + skipped, str(info.path))
            if info.notes:
                self.recording.setItemData(
                    self.recording.count() - 1, "\n".join(info.notes), Qt.ItemDataRole.ToolTipRole
                )
            self._recorded_days[str(info.path)] = info.days
        for box, data in zip((self.strategy, self.recording), chosen, strict=True):
            if data is not None and box.findData(data) >= 0:
                box.setCurrentIndex(box.findData(data))
        if self.recording.currentIndex() < 0 and self.recording.count():
            self.recording.setCurrentIndex(0)  # with a placeholder, none is chosen by itself
        self.recording.blockSignals(False)
        self._recording_changed()
        if self.status.text() in (_READY, _NO_RECORDING, _NO_RECORDING_HISTORY):
            self.status.setText(self._ready_text())

    def _ready_text(self) -> str:
        """What to do first: run, or get a recording to run on."""
        if self.recording.count():
            return _READY
        if self._service is not None and self._service.records_history:
            return _NO_RECORDING_HISTORY
        return _NO_RECORDING

    def _recording_changed(self) -> None:
        """The day range spans the chosen recording: all its days for a new choice; the range
        the trader set, within the days there are now, for the same one."""
        path = self.recording.currentData() or ""
        days = self._recorded_days.get(path, ())
        self.form.setRowVisible(self._days_row, bool(days))  # no recording: no days to pick
        if not days:
            self._ranged = ""
            return
        first, last = (QDate(d.year, d.month, d.day) for d in (days[0], days[-1]))
        for edit in (self.from_day, self.to_day):
            edit.setDateRange(first, last)  # a date outside it moves to its nearer end
        if path != self._ranged:
            self.from_day.setDate(first)
            self.to_day.setDate(last)
            self._ranged = path

    def record_history(self) -> None:
        if self._service is None or self._history_task is not None:
            return
        symbol = self.history_symbol.text().strip()
        if not symbol:
            self.status.setText("Name the instrument whose history to record.")
            return
        days = self.history_days.value()
        self.history_button.setEnabled(False)
        self.status.setText(f"Recording {days} days of {symbol.upper()} from the desk's history…")
        self._history_task = asyncio.ensure_future(self._record_history(symbol, days))

    async def _record_history(self, symbol: str, days: int) -> None:
        assert self._service is not None  # the row is hidden without one
        try:
            info = await self._service.record_history(symbol, days)
        except BacktestError as problem:
            self.status.setText(f"Not recorded: {problem}")
        else:
            self.refresh()
            self.recording.setCurrentIndex(self.recording.findData(str(info.path)))
            self.bars.setChecked(True)  # history is bars: a tick replay would find none
            self.status.setText(f"Recorded {info.title}: pick what to run, then Run.")
        finally:
            self._history_task = None
            self.history_button.setEnabled(True)

    def choose_csv(self) -> None:
        if self._import_stop is not None:
            self.stop_import()
            return
        if self._service is None:
            return
        if not self.history_symbol.text().strip():
            self.status.setText("Name the instrument the file is of, then import it.")
            return
        path, _chosen = QFileDialog.getOpenFileName(
            self, "Import candles or trades", str(Path.home()), "CSV (*.csv *.txt);;All files (*)"
        )
        if path:
            self.import_csv(path)

    def import_csv(self, path: str) -> None:
        """Keep ``path`` as a recording of the instrument named in the symbol field; the
        button stops it meanwhile."""
        if self._service is None or self._import_task is not None:
            return
        symbol = self.history_symbol.text().strip().upper()
        self._import_stop = threading.Event()
        self.import_button.setText("Stop import")
        self.status.setText(f"Importing {Path(path).name} as {symbol}…")
        self._import_task = asyncio.ensure_future(self._import_csv(path, symbol))

    def stop_import(self) -> None:
        """Stop an import under way (nothing of it is kept)."""
        if self._import_stop is not None:
            self._import_stop.set()
            self.status.setText("Stopping the import…")

    async def _import_csv(self, path: str, symbol: str) -> None:
        assert self._service is not None and self._import_stop is not None
        name = Path(path).name

        def read(rows: int) -> None:
            if self._import_stop is not None and not self._import_stop.is_set():
                self.status.setText(f"Importing {name} as {symbol}: {rows:,} rows read…")

        try:
            done = await self._service.import_csv(
                path, symbol, progress=read, stop=self._import_stop
            )
        except BacktestError as problem:
            self.status.setText(f"Not imported: {problem}")
        else:
            self.refresh()
            self.recording.setCurrentIndex(self.recording.findData(str(done.recording.path)))
            self.bars.setChecked(done.candles)  # candles replay as bars, trades as ticks
            report = done.report
            said = f"Imported {name}: {report.imported:,} of {report.rows:,} rows"
            if report.skipped:
                shown = "; ".join(str(p) for p in report.problems[:3])
                more = report.skipped - min(3, len(report.problems))
                said += f", {report.skipped:,} skipped ({shown}" + (
                    f"; and {more:,} more)" if more > 0 else ")"
                )
            self.status.setText(f"{said}. Kept in {done.recording.title}.")
        finally:
            self._import_task = None
            self._import_stop = None
            self.import_button.setText("Import CSV…")

    def showEvent(self, event: QShowEvent) -> None:
        """Brought forward: list what was recorded since (the choices stay)."""
        if self._task is None:
            self.refresh()
        super().showEvent(event)

    # -- running -----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is not None:
            return
        try:
            request = self._request()
        except (BacktestError, ValueError) as problem:
            self.status.setText(f"Cannot run: {problem}")
            return
        self._job = BacktestJob()
        self.clear_result()  # a run that fails or stops early must not sit above the last one's
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(f"Running {self._what()} on {self.recording.currentText()}…")
        self._task = asyncio.ensure_future(self._run(request, self._job))

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.status.setText("Cancelling…")

    async def _run(self, request: BacktestRequest, job: BacktestJob) -> None:
        assert self._service is not None  # Run is off without one
        try:
            report = await self._service.run_measured(request, job, self._on_progress)
        except BacktestCancelled as stopped:
            self.status.setText(f"{str(stopped)[:1].upper()}{str(stopped)[1:]}.")
        except (BacktestError, ValueError, OSError) as problem:
            self.status.setText(f"The run failed: {problem}")
        except Exception as problem:  # a run that cannot even begin: said, never left "Running"
            log.exception("backtest %s could not run", request.name)
            self.status.setText(f"The run failed: {type(problem).__name__}: {problem}")
        else:
            self.show_result(report.result, report)
        finally:
            self._task = None
            self._job = None
            self.run_button.setEnabled(True)
            self.cancel_button.setEnabled(False)

    def _on_progress(self, step: Progress) -> None:
        if step.days_read is not None:
            read, days = step.days_read
            self.status.setText(
                f"Reading the recording: {read} of {days} days ({step.market_time:%d %b %Y})"
            )
            return
        self.progress.setValue(round(step.done * 1000))
        left = "" if step.eta_s is None else f", about {step.eta_s:.0f} s left"
        self.status.setText(f"Replaying {step.market_time:%d %b %H:%M}{left}")

    def show_result(self, result: BacktestResult, report: RunReport | None = None) -> None:
        """The run's result, with its figures and its report to export when ``report`` has
        them."""
        self.result = result
        self.report = report
        self.progress.setValue(1000 if not result.cancelled else self.progress.value())
        failures = result.strategy_failures
        ran, kept = f"{result.replayed} in {result.elapsed_s:.1f} s", f"kept in {result.book}"
        # A run stopped early, or whose strategy stopped partway, must not read as a clean one.
        if result.cancelled:
            failed = ", and the strategy failed partway" if failures else ""
            self.status.setText(f"{cancelled_said(result)}{failed} ({ran}) — {kept}")
        else:
            failed = ", but the strategy failed partway" if failures else ""
            self.status.setText(f"Done{failed}: {ran} — {kept}")
        summary = (
            f"Orders {result.orders}   Fills {result.fills}   "
            f"Gross {fmt.rupee_amount(result.gross_pnl, signed=True)}   "
            f"Charges {fmt.rupee_amount(result.charges)}   "
            f"Net {fmt.rupee_amount(result.net_pnl, signed=True)}   "
            f"Max drawdown {fmt.rupee_amount(max_drawdown(result.equity))}"
        )
        if result.denied:
            summary += f"\n{result.denied} order(s) refused by the risk gate, the first: "
            summary += result.first_denial
        if failures:
            summary += f"\n{FAILED_PARTWAY}:"
            summary += "".join(f"\n  {failure}" for failure in failures[:_FAILURES_SHOWN])
            if len(failures) > _FAILURES_SHOWN:
                summary += f"\n  … and {len(failures) - _FAILURES_SHOWN} more"
        self.summary.setText(summary)
        self._show_figures(report)
        if result.equity:
            stamps = [ts for ts, _ in result.equity]
            x = np.asarray(session_positions(stamps), dtype=np.float64) / 3.6e12  # hours
            for axis in self.time_axes:
                axis.set_moments(x, np.asarray(stamps, dtype=np.float64))
            y = np.array([float(v) for _, v in result.equity])
            self.equity_curve.setData(x, y)
            self.drawdown_curve.setData(x, y - np.maximum.accumulate(np.maximum(y, 0)))
            self.plots_place.setCurrentWidget(self.plots)

    def clear_result(self) -> None:
        """No run's result shown: its figures, curves and Export report… go (a run begun since
        is not theirs)."""
        self.result = None
        self.report = None
        self.summary.setText("")
        self._show_figures(None)
        self.equity_curve.setData([], [])
        self.drawdown_curve.setData([], [])
        self.plots_place.setCurrentIndex(0)

    def _show_figures(self, report: RunReport | None) -> None:
        """The run's figures (or why there are none), and Export report… when there is a report
        to export."""
        self.export_feedback.hide()
        self.export_button.setEnabled(report is not None and report.view is not None)
        if report is None:
            self.figures.hide()
            return
        self.figures.setText(figures_text(report))
        self.figures.show()

    # -- the report ---------------------------------------------------------------------------------

    def ask_export_path(self) -> None:
        """Ask where to save the shown run's report: a non-modal dialog, the engine keeps
        running while the trader picks a file."""
        if self.report is None or self.report.view is None:
            return
        run = self.report.result
        ask_save_path(
            self,
            "Export backtest report",
            "HTML report (*.html)",
            str(Path(run.book).with_name(f"{run.name}-report.html")),
            self.export_report,
        )

    def export_report(self, path: str) -> None:
        """Write the shown run's report to ``path`` (the engine makes and writes the page off
        the loop); the panel says where it went, or why it did not."""
        if self._service is None or self.report is None or self._export_task is not None:
            return
        self.export_button.setEnabled(False)
        self._say_export(f"Saving the report to {path}…")
        self._export_task = asyncio.ensure_future(self._export(self.report, path))

    async def _export(self, report: RunReport, path: str) -> None:
        assert self._service is not None  # no service, no run, no report
        try:
            problem = await self._service.export_report(report, path)
        except Exception as failure:  # said in the panel, never lost in the loop's log
            log.exception("backtest report %s not exported", path)
            problem = f"{type(failure).__name__}: {failure}"
        finally:
            self._export_task = None
            self.export_button.setEnabled(self.report is not None and self.report.view is not None)
        self._say_export(f"Not exported: {problem}" if problem else f"Report saved: {path}")

    def _say_export(self, text: str) -> None:
        self.export_feedback.setText(text)
        self.export_feedback.show()

    def _what(self) -> str:
        if self.kind.currentData() == STRATEGY:
            return str(self.strategy.currentData())
        return Path(self.file.text().strip()).name

    def _request(self) -> BacktestRequest:
        kind = self.kind.currentData()
        recording = self.recording.currentData()
        if not recording:
            raise ValueError("no recording to run on: add one under Add data")
        mode = BARS if self.bars.isChecked() else TICKS
        start, end = self.from_day.date().toPython(), self.to_day.date().toPython()
        if start > end:
            raise ValueError(
                f"the days end on {end:%d %b %Y}, before they start on {start:%d %b %Y}"
            )
        common = {"start": start, "end": end, "mode": mode}  # what every kind of run takes
        if kind == STRATEGY:
            strategy = self.strategy.currentData()
            if not strategy:
                raise ValueError("no strategy chosen")
            name = f"{strategy}-{datetime.now(IST):%Y%m%d-%H%M%S}"
            return BacktestRequest(
                name,
                recording,
                strategy=strategy,
                params=strategy_params(self.params.text().split()),
                **common,
            )
        path = self.file.text().strip()
        if not path:
            raise ValueError(f"no file chosen: {FILE_HINTS[kind]}")
        if not Path(path).is_file():
            raise ValueError(f"there is no file {path}")
        name = f"{kind}-{Path(path).stem}-{datetime.now(IST):%Y%m%d-%H%M%S}"
        if kind == ALERTS:
            return BacktestRequest(name, recording, signals=path, **common)
        if kind == PORTFOLIO:
            portfolio = read_portfolio_file(path)
            return BacktestRequest(name, recording, portfolio=portfolio, **common)
        return BacktestRequest(name, recording, algo=read_settings_file(path, kind), **common)


def figures_text(report: RunReport) -> str:
    """A run's figures as the panel shows them: returns, risk, trades, costs, a line each (rich
    text: a narrow dock wraps between figures, never inside one), then how they are measured."""
    m = report.metrics
    if m is None:
        return _grey(f"No figures: {report.note}")
    dd, stats = m.max_drawdown, m.trade_stats
    growth = m.net_pnl / m.start_equity * 100 if m.start_equity > 0 else None
    lasted = "none" if dd.depth >= 0 else _duration(dd.duration_ns)
    if dd.depth < 0:
        lasted += ", recovered" if dd.recovered_ns is not None else ", not recovered"
    capital = fmt.rupee_amount(report.capital).removesuffix(".00")  # a round sum reads so
    lines = [
        [
            (f"Return on {capital}", fmt.percent(growth)),
            ("CAGR", _percent(m.shown_cagr)),
            ("Sharpe", _ratio(m.sharpe)),
            ("Sortino", _ratio(m.sortino)),
            ("Calmar", _ratio(m.shown_calmar)),
        ],
        [
            ("Max drawdown", _percent(dd.depth)),
            ("Drawdown lasted", lasted),
        ],
        [
            ("Trades", str(stats.trades)),
            ("Win rate", "—" if stats.win_rate is None else f"{stats.win_rate * 100:.1f}%"),
            ("Expectancy", fmt.rupee_amount(stats.expectancy, signed=True)),
            ("Profit factor", _ratio(stats.profit_factor)),
            ("Avg win", fmt.rupee_amount(stats.average_win, signed=True)),
            ("Avg loss", fmt.rupee_amount(stats.average_loss, signed=True)),
        ],
        [
            ("Charges", fmt.rupee_amount(m.charges)),
            ("Slippage", fmt.rupee_amount(m.slippage) if m.slippage_measured else "not measured"),
        ],
    ]
    shown = "<br>".join(
        # A line breaks only after a separator: never inside a figure, nor before its "·".
        "&nbsp;&nbsp;·&nbsp; ".join(
            f"<span style='white-space:nowrap'>{_grey(escape(name))} <b>{_joined(value)}</b></span>"
            for name, value in line
        )
        for line in lines
    )
    said = m.convention[:1].upper() + m.convention[1:] + "."
    if report.note:
        said += f" Note: {report.note[:1].upper()}{report.note[1:]}."
    return f"{shown}<br>{_grey(escape(said), small=True)}"


def _joined(value: str) -> str:
    """``value`` with a word joiner after a leading "+": Qt breaks a line between "+" and "₹"
    even in a span that must not wrap."""
    return escape(value).replace("+", "+\u2060", 1) if value.startswith("+") else escape(value)


def _grey(text: str, *, small: bool = False) -> str:
    size = " font-size:small;" if small else ""
    return f"<span style='color:gray;{size}'>{text}</span>"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _percent(fraction: float | None) -> str:
    return fmt.percent(None if fraction is None else fraction * 100)


def _duration(ns: int) -> str:
    """A span of calendar time: 3 d 4 h, 2 h 15 min, 40 min."""
    minutes = ns // (60 * 10**9)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
