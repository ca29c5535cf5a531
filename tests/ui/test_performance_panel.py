"""The Performance panel on a desk that traded two strategies and manual orders for some days:
the tables per strategy, symbol and day, the chosen strategy's plots, and the report export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel

from engine.api import OrderFilled
from engine.api.performance import DESK, DayRow, PnlRow, daily_pnl
from engine.runtime import Engine
from tests.performance_desk import traded_desk
from ui.panels.performance import PerformancePanel
from ui.plot_axes import SessionAxis


@pytest.fixture
def traded(tmp_path: Path) -> Iterator[Engine]:
    engine, _clock = traded_desk(tmp_path / "book.db", days=3, step=60.0)
    yield engine
    engine.close()


@pytest.fixture
def traded_context(qtbot, traded: Engine):  # type: ignore[no-untyped-def]
    from ui.bridge import EngineBridge
    from ui.context import PanelContext
    from ui.theme import ThemeHolder

    bridge = EngineBridge(traded.api, frame_ms=20)
    yield PanelContext(api=traded.api, bridge=bridge, theme=ThemeHolder("dark"))
    bridge.stop()


def test_performance_panel_shows_each_strategy_plots_the_chosen_one_and_exports_the_report(
    qtbot, traded: Engine, traded_context, tmp_path: Path
) -> None:
    panel = PerformancePanel(traded_context)
    qtbot.addWidget(panel)
    panel.resize(1400, 600)
    panel.show()

    shown = panel.rows_shown()
    assert all(isinstance(r, PnlRow) for r in shown)
    rows = {r.owner: r for r in shown}
    assert sorted(rows) == sorted(["manual", "meanrev", "trend", DESK])
    desk = rows[DESK]
    performance = panel.performance
    assert performance is not None
    assert desk.net == rows["manual"].net + rows["meanrev"].net + rows["trend"].net
    assert desk.fills == sum(1 for e in traded.journal.read() if e.kind == "order_filled")
    # The desk's curve is plotted first; choosing a strategy row plots that strategy.
    _x, y = panel.equity_curve.getData()
    assert len(y) == len(performance.curve(DESK))
    source_row = panel.pnl_model.row_of(("meanrev", ""))
    assert source_row is not None
    index = panel.pnl_proxy.mapFromSource(panel.pnl_model.index(source_row, 0))
    panel.table.selectionModel().select(
        index,
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    assert panel.owner == "meanrev"
    curve = performance.curve("meanrev")
    _x, y = panel.equity_curve.getData()
    np.testing.assert_allclose(y, curve.floats)
    heights = panel.daily_bars.opts["height"]
    assert [float(h) for h in heights] == [float(p) for _, p in daily_pnl(curve)]
    figures = panel.figures.text()
    assert "meanrev" in figures and "Sharpe" in figures
    # Three days of trading: no CAGR or Calmar compounded from them, and the reason in words.
    assert "CAGR — ·" in figures and "Calmar — ·" in figures
    assert "shown from 20 trading days on (this record has 3 trading days)" in figures

    panel.view_choice.setCurrentIndex(1)  # by symbol
    symbols = panel.rows_shown()
    assert {(r.owner, r.symbol) for r in symbols} == {
        ("manual", "RELIANCE"),
        ("trend", "RELIANCE"),
        ("meanrev", "HDFCBANK"),
    }
    panel.view_choice.setCurrentIndex(2)  # the chosen strategy's days
    days = panel.rows_shown()
    assert all(isinstance(d, DayRow) for d in days) and len(days) == 3
    assert sum((d.net for d in days), days[0].net * 0) == rows["meanrev"].net

    out = tmp_path / "reports" / "meanrev.html"
    assert panel.export_report(str(out))
    html = out.read_text(encoding="utf-8")
    assert "DalalDesk performance — meanrev" in html and html.count("<svg") == 3
    assert panel.feedback.text() == f"Report saved: {out}"
    assert not panel.export_report(str(tmp_path))  # a folder: said in words, nothing raised
    assert panel.feedback.text().startswith("Not exported: the report could not be written")


def test_performance_panel_when_orders_change_more_often_than_it_refreshes_still_refreshes(
    qtbot, traded: Engine, traded_context, monkeypatch
) -> None:
    monkeypatch.setattr("ui.panels.performance.REFRESH_AFTER_ORDERS_MS", 300)
    panel = PerformancePanel(traded_context)
    qtbot.addWidget(panel)
    panel.show()
    readings = {id(panel.performance)}
    row = next(e for e in traded.journal.read() if e.kind == OrderFilled.kind)
    assert row.order_id is not None
    fill = OrderFilled.from_payload(row.order_id, row.ts_ns, row.payload)
    for _ in range(16):  # a strategy filling every 100 ms, steadily, for 1.6 s
        traded_context.bridge.orders_changed.emit([fill])
        qtbot.wait(100)
        readings.add(id(panel.performance))
    assert len(readings) >= 1 + 3, "the journal must be read again at least every 300 ms"


def test_performance_session_axis_labels_ticks_within_a_day_by_time_and_across_days_by_date(
    qtbot,
) -> None:
    axis = SessionAxis()
    ist = ZoneInfo("Asia/Kolkata")
    moments = [
        datetime(2026, 12, 3, 9, 15, tzinfo=ist),
        datetime(2026, 12, 3, 15, 30, tzinfo=ist),
        datetime(2026, 12, 4, 9, 15, tzinfo=ist),
        datetime(2026, 12, 4, 15, 30, tzinfo=ist),
    ]
    stamps = np.array([m.timestamp() * 1e9 for m in moments])
    axis.set_moments(np.array([0.0, 6.25, 6.5, 12.75]), stamps)
    assert axis.tickStrings([0.0, 2.0, 4.0, 6.25], 1.0, 2.0) == [
        "03 Dec",
        "11:15",
        "13:15",
        "15:30",
    ]
    assert axis.tickStrings([4.0, 6.5, 8.5], 1.0, 2.0) == ["03 Dec", "04 Dec", "11:15"]
    assert axis.tickStrings([0.0, 6.5], 1.0, 6.5) == ["03 Dec", "04 Dec"]
    seconds = 1 / 3600
    assert axis.tickStrings([2.0, 2.0 + 10 * seconds, 2.0 + 20 * seconds], 1.0, 10 * seconds) == [
        "03 Dec",
        "11:15:10",
        "11:15:20",
    ]


def test_performance_session_axis_keeps_only_ticks_whose_labels_fit_side_by_side(qtbot) -> None:
    axis = SessionAxis()
    seconds = 1 / 3600  # positions are hours
    for span, pixels in ((3 * seconds, 250.0), (6.25, 250.0), (6.25, 1200.0), (40.0, 90.0)):
        levels = axis.tickSpacing(0.0, span, pixels)
        assert levels, (span, pixels)
        for spacing, _offset in levels:
            assert span / spacing <= max(pixels // 80, 2), (span, pixels, spacing)
    assert len(axis.tickSpacing(0.0, 6.25, 1200.0)) > len(axis.tickSpacing(0.0, 6.25, 250.0))


def test_performance_rupee_axis_labels_ticks_closer_than_a_rupee_with_paise(qtbot) -> None:
    from ui.plot_axes import RupeeAxis

    axis = RupeeAxis()
    assert axis.tickStrings([0.0, 0.25, 0.5, 0.75, 1.0], 1.0, 0.25) == [
        "₹0.00", "₹0.25", "₹0.50", "₹0.75", "₹1.00",
    ]  # fmt: skip
    assert axis.tickStrings([-500.0, 0.0, 500.0], 1.0, 500.0) == ["-₹500", "₹0", "₹500"]
    assert axis.tickStrings([998_000.0], 1.0, 1000.0) == ["₹9.98L"]


def test_performance_report_export_asks_for_an_html_file_without_blocking(qtbot) -> None:
    from PySide6.QtWidgets import QFileDialog, QWidget

    from ui.export import ask_save_path

    parent = QWidget()
    qtbot.addWidget(parent)
    chosen: list[str] = []
    dialog = ask_save_path(
        parent, "Export performance report", "HTML report (*.html)", "performance-desk.html",
        chosen.append,
    )  # fmt: skip
    assert dialog.isVisible() and dialog.acceptMode() is QFileDialog.AcceptMode.AcceptSave
    assert dialog.nameFilters() == ["HTML report (*.html)"] and dialog.defaultSuffix() == "html"
    dialog.fileSelected.emit("/tmp/report.html")
    assert chosen == ["/tmp/report.html"]
    dialog.close()


def test_performance_panel_when_short_lays_its_plots_across_and_when_tall_stacks_them(
    qtbot, traded_context
) -> None:
    panel = PerformancePanel(traded_context)
    qtbot.addWidget(panel)
    panel.show()
    plots = [panel.equity_plot, panel.drawdown_plot, panel.daily_plot]

    def cells() -> list[tuple[int, int]]:
        return [panel.plots.ci.items[plot][0] for plot in plots]

    panel.resize(1400, 300)  # the bottom dock's default height
    qtbot.waitUntil(lambda: panel.plots.across is True)
    assert cells() == [(0, 0), (0, 1), (0, 2)]
    heights = [plot.sceneBoundingRect().height() for plot in plots]
    assert min(heights) > 0.8 * panel.plots.height()  # each plot has the whole height

    panel.resize(1100, 900)  # floated, or a tall dock
    qtbot.waitUntil(lambda: panel.plots.across is False)
    assert cells() == [(0, 0), (1, 0), (2, 0)]
    # The data stays with its plot through the moves.
    _x, y = panel.equity_curve.getData()
    assert y is not None and len(y) == len(panel.performance.curve(DESK))
