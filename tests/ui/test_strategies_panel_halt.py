"""The Strategies panel after a halt: a strategy the kill switch stopped says so in its note, is
not started while trading is HALTED, and once re-armed a Start from the panel goes on from what
the strategy last saved (a trader's own Stop shows what the strategy does again)."""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import QItemSelectionModel

from engine.domain.strategy_records import StrategyStatus
from engine.domain.ticks import Tick
from engine.strategies.kernel import Strategy
from ui.panels.strategies import StrategiesPanel, StrategyRow


class Counter(Strategy):
    strategy_id = "counter"
    title = "Counts ticks"
    description = "Counts the ticks it hears"
    started_with: ClassVar[list[dict[str, Any]]] = []

    def on_start(self, state: dict[str, Any]) -> None:
        Counter.started_with.append(dict(state))
        self.ticks = int(state.get("ticks", 0))
        self.ctx.watch_all()

    def on_tick(self, tick: Tick) -> None:
        self.ticks += 1

    def snapshot(self) -> dict[str, Any]:
        return {"ticks": self.ticks}


def select(panel: StrategiesPanel, strategy_id: str) -> None:
    row = panel.model.row_of(strategy_id)
    assert row is not None
    index = panel.proxy.mapFromSource(panel.model.index(row, 0))
    panel.view.selectionModel().select(
        index,
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )


def row_of(panel: StrategiesPanel, strategy_id: str) -> StrategyRow:
    panel.refresh()
    found = panel.model.row_of(strategy_id)
    assert found is not None
    return panel.model.row_at(found)


def test_strategies_panel_when_the_kill_switch_stops_a_strategy_shows_why_and_resumes_it(
    qtbot, engine, context, market
) -> None:
    Counter.started_with.clear()
    engine.strategies.add(Counter)
    panel = StrategiesPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    market(1)
    select(panel, "counter")
    panel.start_button.click()
    assert panel.feedback.text() == "Counts ticks started"
    market(1)
    engine.api.kill_switch(reason="trader pressed")
    stopped = row_of(panel, "counter")
    assert stopped.status is StrategyStatus.STOPPED
    assert stopped.note == (
        "stopped by the kill switch (trader pressed); start it again after re-arming"
    )
    select(panel, "counter")
    panel.start_button.click()
    assert panel.feedback.text() == (
        "Counts ticks: trading is HALTED (trader pressed): re-arm before starting counter"
    )
    assert row_of(panel, "counter").status is StrategyStatus.STOPPED
    assert engine.api.rearm()
    market(1)
    assert row_of(panel, "counter").status is StrategyStatus.STOPPED  # a re-arm starts nothing
    select(panel, "counter")
    panel.start_button.click()
    assert panel.feedback.text() == "Counts ticks started"
    saved = Counter.started_with[-1]
    assert saved["ticks"] > 0 and Counter.started_with == [{}, saved]
    select(panel, "counter")
    panel.stop_button.click()
    assert panel.feedback.text() == "Counts ticks stopped"
    assert row_of(panel, "counter").note == "Counts the ticks it hears"
