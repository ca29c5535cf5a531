"""The Strategies panel: the demo strategy started and stopped from it, its orders and P&L
followed, a failed strategy shown with its reason, and files that could not load listed."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel

from engine.domain.strategy_records import StrategyStatus
from engine.domain.ticks import Tick
from engine.strategies.kernel import Strategy
from ui.panels.strategies import StrategiesPanel


class Breaks(Strategy):
    strategy_id = "breaks"
    title = "Breaks on a tick"

    def on_start(self, state: dict[str, Any]) -> None:
        self.ctx.watch_all()

    def on_tick(self, tick: Tick) -> None:
        raise KeyError("spot")


def select(panel: StrategiesPanel, strategy_id: str) -> None:
    row = panel.model.row_of(strategy_id)
    assert row is not None
    index = panel.proxy.mapFromSource(panel.model.index(row, 0))
    panel.view.selectionModel().select(
        index,
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )


def test_strategies_panel_when_demo_started_and_stopped_follows_its_status_and_pnl(
    qtbot, engine, context, market
) -> None:
    engine.strategies.add(Breaks)
    engine.strategies.problems.append("mine.py, line 3: syntax error: invalid syntax")
    panel = StrategiesPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    assert {r.strategy_id for r in panel.model.rows} == {"demo", "ema_cross", "breaks"}
    assert panel.problems.text() == "Not loaded: mine.py, line 3: syntax error: invalid syntax"
    select(panel, "demo")
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    panel.start_button.click()
    assert panel.feedback.text() == "Demo started"
    market(30)  # the demo places an order every 100 ticks
    panel.refresh()
    demo = panel.model.row_at(panel.model.row_of("demo"))
    assert demo.status is StrategyStatus.RUNNING and demo.since is not None
    assert demo.fills > 0 and demo.net_pnl is not None
    assert panel.stop_button.isEnabled()
    select(panel, "breaks")
    panel.start_button.click()
    market(1)
    panel.refresh()
    broken = panel.model.row_at(panel.model.row_of("breaks"))
    assert broken.status is StrategyStatus.FAILED
    assert broken.note == "KeyError in on_tick: 'spot'"
    select(panel, "demo")
    panel.stop_button.click()
    assert panel.feedback.text() == "Demo stopped"
    assert panel.model.row_at(panel.model.row_of("demo")).status is StrategyStatus.STOPPED
