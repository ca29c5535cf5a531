"""The Performance panel's refresh on the desk's loop: the journal read off it, one read at a time
(a refresh asked for meanwhile runs once after it), the last figures kept on screen with
"Refreshing…" beside them, a failed read said in words; only a fill refreshes it; one selection
handler however often it refreshes; time labels only at moments the curve has; and a record
without a loss in words."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel

from engine.api import IST, OrderDenied, OrderFilled, Product, Side
from engine.api.performance import Performance, PerformanceUnavailable, session_positions
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.runtime import Engine
from ui.panels import performance as panel_module
from ui.panels.performance import PerformancePanel
from ui.plot_axes import SessionAxis


@pytest.fixture
def filled(engine: Engine, market: Callable[[float], None]) -> Engine:
    """The test desk after the trader bought and sold RELIANCE by hand."""
    share = next(i for i in engine.registry if i.tradingsymbol == "RELIANCE")
    market(2)
    for side in ("BUY", "SELL"):
        placed = engine.api.place_order(
            share.token, side, 10, "MARKET", product="CNC", source="manual"
        )
        assert placed.ok, placed
        market(2)
    return engine


async def _until(check: Callable[[], Any], seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


def _fill(ts_ns: int, side: Side, price: int, number: int) -> OrderFilled:
    return OrderFilled(
        OrderId(f"W{number}"),
        ts_ns,
        TradeId(f"T{number}"),
        InstrumentToken(256265),
        side,
        Product.MIS,
        10,
        price,
    )


def _winners() -> Performance:
    """Three winning round trips of ``winner`` on three days, no charges."""
    performance = Performance(Decimal(1_000_000))
    start = int(datetime(2026, 11, 23, 10, 0, tzinfo=IST).timestamp()) * 10**9
    for day in range(3):
        at = start + day * 86_400 * 10**9
        performance.add_fill("winner", _fill(at, Side.BUY, 10_000, 2 * day), "NIFTY", None)
        performance.add_fill("winner", _fill(at + 10**12, Side.SELL, 10_500, 2 * day + 1), "NIFTY", None)  # fmt: skip
    performance.finish()
    return performance


def test_performance_panel_refresh_when_on_the_loop_reads_one_at_a_time_keeping_the_last_figures(
    qtbot, qloop, filled: Engine, context, monkeypatch
) -> None:
    service = filled.api.performance_service
    real = service.read_performance
    gates: list[asyncio.Event] = []

    async def held(capital: Decimal | None = None) -> Performance:
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()
        return await real(capital)

    monkeypatch.setattr(service, "read_performance", held)

    async def scenario() -> None:
        panel = PerformancePanel(context)
        qtbot.addWidget(panel)
        panel.show()  # the first read starts
        await _until(lambda: len(gates) == 1)
        assert panel.reading.text() == "Refreshing…" and panel.performance is None
        for _ in range(3):  # asked for during the read: one more read, after it
            panel.refresh()
        await asyncio.sleep(0.05)
        assert len(gates) == 1

        gates[0].set()
        await _until(lambda: len(gates) == 2)
        first = panel.performance
        assert first is not None and first.owners == ["manual"]
        # The second read runs: the first figures stay on screen meanwhile, and it says so.
        assert panel.reading.text() == "Refreshing…"
        assert {r.owner for r in panel.rows_shown()} == {"manual", "desk"}

        gates[1].set()
        await _until(lambda: panel.performance is not first)
        await asyncio.sleep(0.05)
        assert len(gates) == 2 and panel.reading.text() == ""
        assert panel.performance is not None and panel.performance.owners == ["manual"]

    qloop(scenario())


def test_performance_panel_refresh_when_the_read_fails_says_why_and_keeps_the_figures(
    qtbot, qloop, filled: Engine, context, monkeypatch
) -> None:
    service = filled.api.performance_service

    async def scenario() -> None:
        panel = PerformancePanel(context)
        qtbot.addWidget(panel)
        panel.show()
        await _until(lambda: panel.performance is not None and not panel.reading.text())
        shown = panel.performance

        async def failing(capital: Decimal | None = None) -> Performance:
            raise PerformanceUnavailable("the journal could not be read (disk I/O error)")

        monkeypatch.setattr(service, "read_performance", failing)
        panel.refresh_button.click()
        await _until(lambda: panel.reading.text() == "Not refreshed")

        said = panel.feedback.text()
        assert said.startswith("Not refreshed: the journal could not be read (disk I/O error).")
        assert "The figures shown were read at " in said
        assert "disk I/O error" in panel.reading.toolTip()
        assert panel.performance is shown and {r.owner for r in panel.rows_shown()} == {
            "manual",
            "desk",
        }

    qloop(scenario())


def test_performance_panel_refresh_when_an_order_is_denied_does_not_read_and_a_fill_does(
    qtbot, filled: Engine, context, monkeypatch
) -> None:
    monkeypatch.setattr(panel_module, "REFRESH_AFTER_ORDERS_MS", 50)
    panel = PerformancePanel(context)
    qtbot.addWidget(panel)
    panel.show()
    first = panel.performance
    assert first is not None
    now = filled.clock.time_ns()
    denied = OrderDenied(OrderId("D1"), now, "outside the price band")

    context.bridge.orders_changed.emit([denied])
    qtbot.wait(300)
    assert panel.performance is first, "a denial changes no figure: nothing to read again"

    row = next(e for e in filled.journal.read() if e.kind == OrderFilled.kind)
    assert row.order_id is not None
    context.bridge.orders_changed.emit(
        [denied, OrderFilled.from_payload(row.order_id, row.ts_ns, row.payload)]
    )
    qtbot.waitUntil(lambda: panel.performance is not first)


def test_performance_panel_selection_when_refreshed_many_times_runs_one_handler(
    qtbot, engine: Engine, context, monkeypatch
) -> None:
    monkeypatch.setattr(engine.api, "performance", lambda capital=None: _winners())
    panel = PerformancePanel(context)
    qtbot.addWidget(panel)
    panel.show()
    for view in (2, 0, 1, 0):  # the views swapped, each with its own selection model
        panel.view_choice.setCurrentIndex(view)
    for _ in range(200):  # then a refresh every 3 s for ten minutes of trading
        panel.refresh()
    handled: list[object] = []
    real = panel_module.selected_rows
    monkeypatch.setattr(
        panel_module, "selected_rows", lambda table: handled.append(table) or real(table)
    )

    index = panel.pnl_proxy.index(0, 0)
    panel.table.selectionModel().select(
        index,
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )

    assert len(handled) == 1
    assert panel.owner == "winner"


def test_performance_session_axis_when_a_tick_falls_in_a_weekend_gap_labels_a_real_point(
    qtbot,
) -> None:
    # A point every quarter of an hour through Friday's session and Monday's.
    moments = [
        datetime(2026, 11, day, 9, 15, tzinfo=IST) + timedelta(minutes=15 * step)
        for day in (27, 30)
        for step in range(26)
    ]
    stamps = [int(m.timestamp()) * 10**9 for m in moments]
    hours = np.asarray(session_positions(stamps), dtype=np.float64) / 3.6e12
    # Friday from 0 to 6.25 h, the weekend shortened to half an hour, Monday to 13 h.
    assert (hours[25], hours[26], hours[-1]) == (6.25, 6.75, 13.0)
    axis = SessionAxis()
    axis.set_moments(hours, np.asarray(stamps, dtype=np.float64))

    across = axis.tickStrings([0.0, 6.6, 13.0], 1.0, 6.5)
    assert across == ["27 Nov", "30 Nov", "15:30"]  # not "29 Nov", a Sunday in the gap
    assert axis.tickStrings([6.3, 6.4, 6.45], 1.0, 0.1) == ["27 Nov", "", ""]
    # Within a session a tick still reads the moment it stands for.
    assert axis.tickStrings([0.0, 2.0, 6.25], 1.0, 2.0) == ["27 Nov", "11:15", "15:30"]
    shown = axis.tickStrings(list(np.linspace(0.0, 13.0, 27)), 1.0, 0.5)
    assert not {"28 Nov", "29 Nov"} & set(shown)


def test_performance_panel_when_a_record_has_no_loss_says_no_drawdown_and_unbounded_ratios(
    qtbot, engine: Engine, context, monkeypatch
) -> None:
    monkeypatch.setattr(engine.api, "performance", lambda capital=None: _winners())
    panel = PerformancePanel(context)
    qtbot.addWidget(panel)
    panel.show()
    panel.choose("winner")

    figures = panel.figures.text()
    assert "Max DD no drawdown" in figures
    assert "PF ∞ (no losses)" in figures
    assert "Sortino ∞ (no losing days)" in figures


def test_performance_panel_export_when_chosen_in_the_dialog_writes_the_report_off_the_loop(
    qtbot, qloop, filled: Engine, context, monkeypatch, tmp_path
) -> None:
    from PySide6.QtWidgets import QFileDialog

    real = filled.api.export_performance_report
    threads: list[int] = []

    def export(path: str, owner: str = "desk", performance: Performance | None = None) -> Any:
        threads.append(threading.get_ident())
        return real(path, owner, performance)

    monkeypatch.setattr(filled.api, "export_performance_report", export)
    target = tmp_path / "reports" / "desk.html"

    async def scenario() -> None:
        panel = PerformancePanel(context)
        qtbot.addWidget(panel)
        panel.show()
        await _until(lambda: panel.performance is not None and not panel.reading.text())
        panel.export_button.click()
        dialog = panel.findChild(QFileDialog)
        assert dialog is not None
        dialog.fileSelected.emit(str(target))
        assert panel.feedback.text() == f"Exporting the report to {target}…"
        await _until(lambda: panel.feedback.text() == f"Report saved: {target}")
        dialog.close()

    qloop(scenario())

    assert threads and threads[0] != threading.get_ident()
    assert "DalalDesk performance — desk" in target.read_text(encoding="utf-8")
