"""The Alerts panel as the trader works it from the keyboard: choosing one instrument after
another, re-arming a mixed selection, and seeing a rule on an instrument no longer listed."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel

from engine.core.clock import TestClock
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.support import MONDAY_MORNING
from ui.bridge import EngineBridge
from ui.context import PanelContext
from ui.panels.alerts import AlertsPanel
from ui.theme import ThemeHolder


def stock(engine: Engine, symbol: str) -> Instrument:
    found = engine.api.instruments.by_symbol("NSE", symbol)
    assert found is not None
    return found


def trade(engine: Engine, token: int, rupees: str) -> None:
    paise = int(Decimal(rupees) * 100)
    tick = Tick(InstrumentToken(token), paise, paise - 5, paise + 5, 10, 10, 100, 0, 0)
    engine.on_tick(tick)


def rows(panel: AlertsPanel) -> dict[str, str]:
    table = panel.table
    return {table.item(r, 0).text(): table.item(r, 2).text() for r in range(table.rowCount())}


def select(panel: AlertsPanel, *alert_ids: str) -> None:
    table = panel.table
    table.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in range(table.rowCount()):
        if table.item(row, 0).text() in alert_ids:
            table.selectionModel().select(table.model().index(row, 0), flags)


def test_alerts_panel_choosing_another_instrument_puts_its_price_in_the_level(
    context: PanelContext, engine: Engine
) -> None:
    reliance, infy = stock(engine, "RELIANCE"), stock(engine, "INFY")
    trade(engine, reliance.token, "1549.00")
    trade(engine, infy.token, "1612.35")
    panel = AlertsPanel(context)

    panel.choose(reliance)
    assert (panel.chosen.text(), panel.value.text()) == ("NSE:RELIANCE", "1549.00")
    panel.value.setText("1560")  # the trader's level for RELIANCE
    panel.choose(reliance)  # the same row again: the typed level stays
    assert panel.value.text() == "1560"

    panel.choose(infy)  # the next row: RELIANCE's level is no level of INFY's
    assert (panel.chosen.text(), panel.value.text()) == ("NSE:INFY", "1612.35")


def test_alerts_panel_rearm_acts_on_fired_rules_and_says_an_armed_one_was_left(
    context: PanelContext, engine: Engine
) -> None:
    reliance = stock(engine, "RELIANCE")
    token = int(reliance.token)
    trade(engine, token, "1000.00")
    move = engine.api.add_alert("moves_pct", "2", token=token)
    cross = engine.api.add_alert("crosses_above", "1010", token=token)
    trade(engine, token, "1015.00")  # the cross fires; the move (1.5%) does not
    panel = AlertsPanel(context)
    assert rows(panel) == {move.alert_id: "armed", cross.alert_id: "fired"}

    select(panel, move.alert_id, cross.alert_id)
    panel.rearm_button.click()

    assert rows(panel) == {move.alert_id: "armed", cross.alert_id: "armed"}
    starts = {r.alert_id: r.reference for r in engine.api.alerts()}
    assert starts[move.alert_id] == Decimal(1000)  # the move is still measured from 1,000
    assert panel.problem.text() == (
        f"Re-armed {cross.alert_id}; {move.alert_id} is armed already (not fired): left as set"
    )


def test_alerts_panel_shows_an_armed_alert_on_an_instrument_no_longer_listed(
    qtbot, tmp_path: Path
) -> None:
    gone = {"alert_id": "A1", "condition": "crosses_above", "value": "10", "token": 987654321}
    waiting = {"alert_id": "A2", "condition": "pnl_below", "value": "-5000"}
    (tmp_path / "alerts.json").write_text(json.dumps({"alerts": [gone, waiting]}))
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=5, strikes_each_side=2),
            alerts_file=tmp_path / "alerts.json",
        ),
        clock=TestClock(MONDAY_MORNING),
    )
    bridge = EngineBridge(engine.api, frame_ms=20)
    try:
        panel = AlertsPanel(PanelContext(api=engine.api, bridge=bridge, theme=ThemeHolder("dark")))
        qtbot.addWidget(panel)
        assert rows(panel) == {"A1": "not listed", "A2": "armed"}
        state = next(
            panel.table.item(r, 2)
            for r in range(panel.table.rowCount())
            if panel.table.item(r, 0).text() == "A1"
        )
        assert "no longer lists this instrument" in state.toolTip()
    finally:
        bridge.stop()
        engine.close()
