"""The Performance panel: P&L per strategy, per symbol and per day from the book's journal, with
the chosen strategy's equity, drawdown and daily P&L plotted, its metrics in one line, and the
HTML report exported from a button.

The figures are read from the journal: on opening, on the Refresh button, and a few seconds
after something fills while the panel is on screen (coalesced; a hidden panel catches up when
shown), never per tick. The first read takes the whole journal (seconds for a busy year), later
ones only the rows written since (``read_performance``), so a refresh after a burst of fills costs
what the burst wrote. The read runs on worker
threads (``read_performance``) so the desk's loop, which is also Qt's, goes on meanwhile: one
read at a time, a refresh asked for during one runs once after it, and the last figures stay on
screen until the new ones come, with "Refreshing…" beside the button (or, when the read fails,
why, in words). Plot items are created once and fed with numpy arrays (``setData``/``setOpts``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QItemSelectionModel, QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.api import IST, OrderFilled
from engine.api.performance import (
    DESK,
    NO_DRAWDOWN,
    NO_LOSING_DAYS,
    NO_LOSSES,
    DayRow,
    Metrics,
    Performance,
    PnlRow,
    daily_pnl,
    drawdown_series,
    session_positions,
)
from ui import format as fmt
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.export import ask_save_path
from ui.models.table import ROW_ROLE, Column, RowTableModel
from ui.panels.table_kit import make_table, panel_layout, selected_rows
from ui.plot_axes import RupeeAxis, SessionAxis

log = logging.getLogger(__name__)

REFRESH_AFTER_ORDERS_MS = 3000
"""Something filled: read the journal again this long after the first fill (the fills
meanwhile are read with it)."""
VIEWS = ("By strategy", "By symbol", "By day")
REFRESHING = "Refreshing…"
NOT_REFRESHED = "Not refreshed"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _sortino(m: Metrics) -> str:
    return NO_LOSING_DAYS if m.sortino is None and m.sortino_unbounded else _ratio(m.sortino)


def _profit_factor(m: Metrics) -> str:
    stats = m.trade_stats
    return NO_LOSSES if stats.without_losses else _ratio(stats.profit_factor)


def _max_drawdown(m: Metrics) -> str:
    dd = m.max_drawdown
    if dd.depth >= 0:
        return NO_DRAWDOWN
    return f"{_pct(dd.depth)} ({fmt.signed_rupees(dd.rupees)})"


def pnl_columns(context: PanelContext, first: str) -> list[Column[PnlRow]]:
    def colour(value: Decimal) -> QColor | None:
        palette = context.theme.palette
        return None if not value else (palette.up if value > 0 else palette.down)

    def name(row: PnlRow) -> str:
        return row.owner if not row.symbol else f"{row.symbol}  ({row.owner})"

    return [
        Column(first, name, width=130),
        Column(
            "Net P&L",
            lambda r: r.net,
            fmt.signed_rupees,
            "right",
            lambda r: colour(r.net),
            width=88,
        ),
        Column(
            "Realised",
            lambda r: r.realised,
            fmt.signed_rupees,
            "right",
            lambda r: colour(r.realised),
            width=84,
        ),
        Column(
            "Unrealised",
            lambda r: r.unrealised,
            fmt.signed_rupees,
            "right",
            lambda r: colour(r.unrealised),
            width=84,
        ),
        Column("Charges", lambda r: r.charges, fmt.rupees, "right", width=74),
        Column(
            "Slippage",
            # Against each order's arrival price, a cost positive; '—' when nothing measured it.
            lambda r: r.slippage if r.slippage_measured else None,
            fmt.rupees,
            "right",
            width=74,
        ),
        Column("Fills", lambda r: r.fills, str, "right", width=52),
        Column("Trades", lambda r: r.trades, str, "right", width=52),
        Column("Win %", lambda r: r.win_rate, _pct, "right", width=56),
        Column(
            "Open",
            lambda r: r.open_quantity if r.symbol else r.open_positions,
            str,
            "right",
            width=45,
        ),
    ]


def day_columns(context: PanelContext) -> list[Column[DayRow]]:
    def colour(value: Decimal) -> QColor | None:
        palette = context.theme.palette
        return None if not value else (palette.up if value > 0 else palette.down)

    return [
        Column("Day", lambda r: r.day, lambda d: d.strftime("%a %d %b %Y"), width=110),
        Column(
            "Net P&L",
            lambda r: r.net,
            fmt.signed_rupees,
            "right",
            lambda r: colour(r.net),
            width=100,
        ),
        Column(
            "P&L", lambda r: r.pnl, fmt.signed_rupees, "right", lambda r: colour(r.pnl), width=95
        ),
        Column("Charges", lambda r: r.charges, fmt.rupees, "right", width=85),
        Column("Fills", lambda r: r.fills, str, "right", width=45),
        Column("Trades", lambda r: r.trades, str, "right", width=50),
        Column("Wins", lambda r: r.wins, str, "right", width=45),
    ]


class PlotGrid(pg.GraphicsLayoutWidget):
    """The panel's plots stacked, or side by side when the panel is too short to stack them
    readably (the bottom dock's default height) and wide enough to lay them across."""

    STACK_MIN_HEIGHT = 420
    """Below this height the plots go across: three stacked need about 140 px each."""

    # Class defaults: the widget is resized while its own __init__ runs, before any are set.
    _plots: tuple[pg.PlotItem, ...] = ()
    across: bool | None = None
    """Whether the plots are laid across (None until they are placed)."""

    def place(self, plots: list[pg.PlotItem]) -> None:
        self._plots = tuple(plots)
        self.across = None
        self._arrange()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._arrange()

    def _arrange(self) -> None:
        height, width = self.height(), self.width()
        across = height < self.STACK_MIN_HEIGHT and width >= 2 * height
        if across == self.across or not self._plots:
            return
        self.across = across
        for plot in self._plots:
            if plot in self.ci.items:
                self.ci.removeItem(plot)
        for index, plot in enumerate(self._plots):
            self.ci.addItem(plot, row=0 if across else index, col=index if across else 0)


class PerformancePanel(QWidget):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("performancePanel")
        self._ctx = context
        self.performance: Performance | None = None
        self.owner = DESK
        self.view_choice = QComboBox(self, objectName="performanceView")
        self.view_choice.addItems(VIEWS)
        self.refresh_button = QPushButton("Refresh", self, objectName="performanceRefresh")
        self.export_button = QPushButton(
            "Export HTML report…", self, objectName="performanceExport"
        )
        self.reading = QLabel(self, objectName="performanceReading")
        """"Refreshing…" while the journal is read; why not, when a read failed."""
        # Its width fixed: a text that comes and goes must not lay the panel (and repaint its
        # plots) out again each time.
        metrics = self.reading.fontMetrics()
        self.reading.setFixedWidth(
            max(metrics.horizontalAdvance(t) for t in (REFRESHING, NOT_REFRESHED)) + 12
        )
        self.feedback = QLabel(self, objectName="performanceFeedback")
        self.feedback.setWordWrap(True)
        self.figures = QLabel(self, objectName="performanceFigures")
        self.figures.setWordWrap(True)
        self.figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.pnl_model: RowTableModel[PnlRow] = RowTableModel(
            pnl_columns(context, "Strategy / symbol"), key=lambda r: (r.owner, r.symbol)
        )
        self.day_model: RowTableModel[DayRow] = RowTableModel(
            day_columns(context), key=lambda r: r.day
        )
        self.pnl_proxy = QSortFilterProxyModel(self)
        self.pnl_proxy.setSourceModel(self.pnl_model)
        self.day_proxy = QSortFilterProxyModel(self)
        self.day_proxy.setSourceModel(self.day_model)
        self.table = make_table(self.pnl_model, self.pnl_proxy, self)
        self.table.setObjectName("performanceTable")
        self.table.setSelectionMode(self.table.SelectionMode.SingleSelection)
        # Rows in the engine's order (strategies by name, the desk last) until a header is clicked.
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.pnl_proxy.sort(-1)

        self.axis = SessionAxis()
        self.plots = PlotGrid()
        self.equity_plot = pg.PlotItem(axisItems={"bottom": self.axis, "left": RupeeAxis()})
        self.drawdown_axis = SessionAxis()
        self.drawdown_plot = pg.PlotItem(axisItems={"bottom": self.drawdown_axis})
        self.daily_plot = pg.PlotItem(axisItems={"left": RupeeAxis()})
        self.plots.place([self.equity_plot, self.drawdown_plot, self.daily_plot])
        self.drawdown_plot.setXLink(self.equity_plot)
        self.equity_curve = self.equity_plot.plot([], [])
        self.drawdown_curve = self.drawdown_plot.plot([], [], fillLevel=0.0)
        for curve in (self.equity_curve, self.drawdown_curve):
            # A busy year is tens of thousands of points: a paint draws what is in view, at
            # most a few per pixel (peaks kept), or each repaint holds the desk's loop.
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
        self.daily_bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.daily_plot.addItem(self.daily_bars)
        self._style_plots()

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.figures)
        right_layout.addWidget(self.plots, 1)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.table)
        split.addWidget(right)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 6)
        split.setSizes([700, 700])
        panel_layout(
            self,
            [
                self.view_choice,
                self.refresh_button,
                self.reading,
                self.export_button,
                self.feedback,
            ],
            split,
            stretch=self.feedback,
        )

        self.view_choice.currentIndexChanged.connect(lambda _i: self._show_view())
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(self._ask_export_path)
        self._watched: QItemSelectionModel | None = None
        """The selection model ``_selected`` is connected to (each model the table is given
        comes with a new one)."""
        self._watch_selection()
        self._later = QTimer(self, objectName="performance-refresh")
        self._later.setSingleShot(True)
        self._later.setInterval(REFRESH_AFTER_ORDERS_MS)
        self._later.timeout.connect(self.refresh)
        self._stale = True
        """The journal is read when the panel is first shown, not when the window is built."""
        self._read_task: asyncio.Task[None] | None = None
        self._read_again = False
        """A refresh was asked for while a read ran: one more read follows it."""
        self._read_at: datetime | None = None
        """When the figures shown were read (wall time)."""
        self._export_task: asyncio.Task[None] | None = None
        context.bridge.orders_changed.connect(self._orders_changed, QUEUED)
        self.destroyed.connect(lambda _object=None: self.stop_reading())

    def _orders_changed(self, events: Sequence[object] = ()) -> None:
        # Only a fill changes the figures (a denial, an order placed or cancelled does not).
        if not any(isinstance(event, OrderFilled) for event in events):
            return
        # Reading the journal is costly: done only for a panel on screen, coalesced.
        # The first fill of a burst starts the wait and later ones ride on it: restarting it on
        # each fill never refreshed while a strategy traded more often than the wait.
        if not self.isVisible():
            self._stale = True
        elif not self._later.isActive():
            self._later.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.refresh()

    # -- reading -----------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the journal again and show it. On the desk's loop the read runs on worker
        threads (``reading`` says so meanwhile); a refresh asked for during a read runs once
        after it. Without a running loop (a script's panel) it is read here."""
        if self._read_task is not None:
            self._read_again = True
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            try:
                performance = self._ctx.api.performance()
            except Exception as problem:  # said beside the figures it leaves standing
                self._not_read(problem)
            else:
                self._show(performance)
            return
        self.reading.setText(REFRESHING)
        self.reading.setToolTip("")
        self._read_task = loop.create_task(self._read(), name="performance-read")

    async def _read(self) -> None:
        try:
            while True:
                self._read_again = False
                try:
                    performance = await self._ctx.api.performance_service.read_performance()
                except asyncio.CancelledError:
                    raise
                except Exception as problem:  # said beside the figures it leaves standing
                    self._not_read(problem)
                else:
                    self._show(performance)
                    self.reading.setText("")
                if not self._read_again:
                    return
                self.reading.setText(REFRESHING)
        finally:
            self._read_task = None

    def stop_reading(self) -> None:
        """The desk is closing (or the panel goes): no read or export goes on, none starts."""
        self._later.stop()
        for task in (self._read_task, self._export_task):
            if task is not None:
                task.cancel()

    def _not_read(self, problem: Exception) -> None:
        log.warning("the performance figures were not read again: %s", problem, exc_info=True)
        shown = (
            f"the figures shown were read at {self._read_at:%H:%M:%S}"
            if self._read_at is not None
            else "no figures are shown"
        )
        self.reading.setText(NOT_REFRESHED)
        self.reading.setToolTip(f"The journal could not be read ({problem}); {shown}.")
        self.feedback.setText(f"Not refreshed: {problem}. {shown[:1].upper()}{shown[1:]}.")

    def _show(self, performance: Performance) -> None:
        self.performance = performance
        self._read_at = datetime.now(IST)
        if self.owner != DESK and self.owner not in performance.owners:
            self.owner = DESK
        count = len(performance.owners)
        self.feedback.setText(
            "No fills in the journal yet."
            if not count
            else f"{count} strateg{'y' if count == 1 else 'ies'} and sources; capital "
            f"₹{fmt.rupees(performance.capital)}"
        )
        self._show_view()

    def choose(self, owner: str) -> None:
        """Plot ``owner`` (a strategy id, a source, or ``desk``)."""
        self.owner = owner
        self._plot()
        if self.view_choice.currentIndex() == 2:
            self._show_view()

    def _show_view(self) -> None:
        performance = self.performance
        if performance is None:
            return
        view = self.view_choice.currentIndex()
        if view == 2:
            self.day_model.set_rows(performance.days(self.owner) if performance.owners else [])
            self.table.setModel(self.day_proxy)
        else:
            rows: Sequence[PnlRow] = (
                performance.strategies() if view == 0 else performance.symbols()
            )
            self.pnl_model.set_rows(list(rows) if performance.owners else [])
            self.table.setModel(self.pnl_proxy)
        self._watch_selection()
        self._plot()

    def _watch_selection(self) -> None:
        """Follow the rows chosen through the table's selection model, connected once: the
        table makes a new one with each model it is given (the views swap proxies), and the
        one it replaced is deleted (Qt leaves that to whoever replaced it)."""
        selection = self.table.selectionModel()
        if selection is self._watched:
            return
        if self._watched is not None:
            self._watched.deleteLater()
        selection.selectionChanged.connect(self._selected)
        self._watched = selection

    def _selected(self, *_changes: object) -> None:
        for row in selected_rows(self.table):
            if isinstance(row, PnlRow) and row.owner != self.owner:
                self.choose(row.owner)
            return

    # -- plotting ----------------------------------------------------------------------------------

    def _plot(self) -> None:
        performance = self.performance
        if performance is None or not performance.owners:
            self._clear_plots()
            self.figures.setText("")
            return
        try:
            self._draw(performance)
        except (ValueError, ArithmeticError) as problem:
            # The tables stand on their own; the curve and its metrics are what failed.
            log.warning("the equity curve of %s could not be built", self.owner, exc_info=True)
            self._clear_plots()
            self.figures.setText(
                f"<b>{escape(self.owner)}</b>: the equity curve and its figures could not be "
                f"built from the journal ({escape(str(problem))}). The P&amp;L table is not "
                "affected."
            )

    def _clear_plots(self) -> None:
        self.equity_curve.setData([], [])
        self.drawdown_curve.setData([], [])
        self.daily_bars.setOpts(x=[], height=[])

    def _draw(self, performance: Performance) -> None:
        curve = performance.curve(self.owner)
        stamps = curve.ts_ns.astype(np.float64)
        places = np.asarray(session_positions([int(t) for t in curve.ts_ns]), dtype=np.float64)
        hours = places / 3.6e12
        for axis in (self.axis, self.drawdown_axis):
            axis.set_moments(hours, stamps)
        self.equity_curve.setData(hours, curve.floats)
        self.drawdown_curve.setData(hours, np.nan_to_num(drawdown_series(curve)) * 100)
        days = daily_pnl(curve)
        values = np.array([float(p) for _, p in days])
        palette = self._ctx.theme.palette
        brushes = [pg.mkBrush(palette.up if v >= 0 else palette.down) for v in values]
        self.daily_bars.setOpts(
            x=np.arange(len(days)),
            height=values,
            width=0.7,
            brushes=brushes,
            pens=[None] * len(days),
        )
        labels = [(i, d.strftime("%d %b")) for i, (d, _) in enumerate(days)]
        step = max(1, len(labels) // 8)
        self.daily_plot.getAxis("bottom").setTicks([labels[::step]])
        self.equity_plot.setTitle(f"Equity — {self.owner}", size="9pt")
        self.drawdown_plot.setTitle("Drawdown %", size="9pt")
        self.daily_plot.setTitle("Daily P&L", size="9pt")
        self.figures.setText(self._figures_text())

    def _figures_text(self) -> str:
        assert self.performance is not None
        m = self.performance.metrics(self.owner)
        stats = m.trade_stats
        parts = [
            f"<b>{escape(self.owner)}</b>",
            f"Net {fmt.signed_rupees(m.net_pnl)}",
            f"CAGR {_pct(m.shown_cagr)}",
            f"Sharpe {_ratio(m.sharpe)}",
            f"Sortino {_sortino(m)}",
            f"Calmar {_ratio(m.shown_calmar)}",
            f"Max DD {_max_drawdown(m)}",
            f"Trades {stats.trades}",
            f"Win {_pct(stats.win_rate)}",
            f"PF {_profit_factor(m)}",
            f"Expectancy {fmt.signed_rupees(stats.expectancy)}",
            f"Charges {fmt.rupees(m.charges)}",
            f"Slippage {fmt.rupees(m.slippage if m.slippage_measured else None)}",
        ]
        said = escape(m.convention[0].upper() + m.convention[1:])
        return " · ".join(parts) + f"<br><span style='color:gray'>{said}</span>"

    def _style_plots(self) -> None:
        palette = self._ctx.theme.palette
        dark = palette.name == "dark"
        self.plots.setBackground("#101318" if dark else "#ffffff")
        foreground = "#8d98a8" if dark else "#4a5261"
        for plot in (self.equity_plot, self.drawdown_plot, self.daily_plot):
            plot.showGrid(x=False, y=True, alpha=0.15)
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(foreground)
                axis.setTextPen(foreground)
        self.equity_curve.setPen(pg.mkPen(palette.buy, width=2))
        self.drawdown_curve.setPen(pg.mkPen(palette.down, width=1.5))
        shade = QColor(palette.down)
        shade.setAlpha(50)
        self.drawdown_curve.setBrush(pg.mkBrush(shade))

    # -- export ------------------------------------------------------------------------------------

    def _ask_export_path(self) -> None:
        ask_save_path(
            self,
            "Export performance report",
            "HTML report (*.html)",
            f"performance-{self.owner}.html",
            self._export_chosen,
        )

    def export_report(self, path: str) -> bool:
        """Write the chosen owner's report to ``path`` now; whether it was, said in
        ``feedback``."""
        problem = self._ctx.api.export_performance_report(path, self.owner, self.performance)
        self._said_exported(path, problem)
        return problem is None

    def _export_chosen(self, path: str) -> None:
        # A busy year's page takes a fraction of a second to render: written on a worker thread
        # from the figures shown (worked out already, read only), not on the desk's loop.
        performance = self.performance
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or performance is None or self._export_task is not None:
            self.export_report(path)
            return
        self.feedback.setText(f"Exporting the report to {path}…")
        self._export_task = loop.create_task(
            self._export(path, self.owner, performance), name="performance-export"
        )

    async def _export(self, path: str, owner: str, performance: Performance) -> None:
        try:
            problem = await asyncio.to_thread(
                self._ctx.api.export_performance_report, path, owner, performance
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # said in the panel, never a traceback
            log.exception("the performance report %s was not exported", path)
            problem = f"{type(error).__name__}: {error}"
        finally:
            self._export_task = None
        self._said_exported(path, problem)

    def _said_exported(self, path: str, problem: str | None) -> None:
        self.feedback.setText(f"Not exported: {problem}" if problem else f"Report saved: {path}")

    def rows_shown(self) -> list[Any]:
        model = self.table.model()
        return [model.index(i, 0).data(ROW_ROLE) for i in range(model.rowCount())]
