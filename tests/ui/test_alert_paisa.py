"""Alert levels in rupees are whole paise: a level finer than a paisa (101.005) is refused in
words wherever it comes in (the API, the Alerts panel, a saved alerts file), never rounded to a
level the trader did not ask for. A saved file keeps its other rules and sets the bad one aside."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.api import AlertError, AlertFired
from engine.core.clock import TestClock
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.support import MONDAY_MORNING
from ui.panels.alerts import AlertsPanel

FINER_THAN_A_PAISA = "whole paise"


def reliance(engine: Engine) -> int:
    found = engine.api.instruments.by_symbol("NSE", "RELIANCE")
    assert found is not None
    return int(found.token)


def trade(engine: Engine, token: int, rupees: str) -> None:
    paise = int(Decimal(rupees) * 100)
    engine.on_tick(
        Tick(
            InstrumentToken(token),
            paise,
            paise - 5,
            paise + 5,
            10,
            10,
            100,
            0,
            engine.clock.time_ns(),
        )
    )


def build(tmp_path: Path) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=2, strikes_each_side=2),
            alerts_file=tmp_path / "alerts.json",
        ),
        clock=TestClock(MONDAY_MORNING),
    )


@pytest.mark.parametrize(
    ("condition", "value", "on_reliance"),
    [
        ("crosses_above", "101.005", True),
        ("crosses_below", "101.001", True),
        ("crosses_above", 101.005, True),
        ("crosses_above", "0.001", True),
        ("crosses_above", "101.00000000000000000000000000001", True),  # past Decimal's 28 digits
        ("pnl_below", "-25000.005", False),
        ("pnl_above", "1E-7", False),
    ],
)
def test_alert_paisa_level_finer_than_a_paisa_is_refused_by_the_api(
    engine: Engine, condition: str, value: str | float, on_reliance: bool
) -> None:
    token = reliance(engine) if on_reliance else None
    with pytest.raises(AlertError, match=FINER_THAN_A_PAISA) as refused:
        engine.api.add_alert(condition, value, token=token)
    assert str(value)[:6] in str(refused.value)  # the level as asked, not a rounded one
    assert engine.api.alerts() == []


@pytest.mark.parametrize("value", ["101.05", "101.050", "101.5", "101", "1.01E+2"])
def test_alert_paisa_level_in_whole_paise_is_set_and_fires_at_that_level(
    engine: Engine, value: str
) -> None:
    token = reliance(engine)
    rule = engine.api.add_alert("crosses_above", value, token=token)
    assert rule.value == Decimal(value)
    seen: list[AlertFired] = []
    engine.bus.subscribe(AlertFired, seen.append)
    level = Decimal(value)
    trade(engine, token, str(level - Decimal("0.05")))
    trade(engine, token, str(level - Decimal("0.01")))
    assert seen == []  # a paisa below the level is not above it
    trade(engine, token, str(level))
    assert [e.alert_id for e in seen] == [rule.alert_id]


def test_alert_paisa_level_typed_in_the_panel_is_refused_in_words(
    qtbot, context, engine: Engine
) -> None:
    panel = AlertsPanel(context)
    qtbot.addWidget(panel)
    stock = engine.api.instruments.by_symbol("NSE", "RELIANCE")
    assert stock is not None
    panel.choose(stock)
    panel.condition.setCurrentIndex(0)  # crosses above
    panel.value.setText("101.005")
    assert panel.set_alert() is None
    assert FINER_THAN_A_PAISA in panel.problem.text() and "101.005" in panel.problem.text()
    assert panel.table.rowCount() == 0 and engine.api.alerts() == []
    panel.value.setText("101.01")
    assert panel.set_alert() is not None
    assert panel.table.rowCount() == 1


def test_alert_paisa_saved_level_finer_than_a_paisa_is_set_aside_and_the_rest_kept(
    tmp_path: Path,
) -> None:
    first = build(tmp_path)
    token = reliance(first)
    first.close()
    saved = {
        "alerts": [
            {"alert_id": "A1", "condition": "crosses_above", "value": "101.005", "token": token},
            {"alert_id": "A2", "condition": "crosses_above", "value": "201", "token": token},
            {"alert_id": "A3", "condition": "pnl_below", "value": "-5000.50"},
        ]
    }
    as_it_was = json.dumps(saved)
    (tmp_path / "alerts.json").write_text(as_it_was)

    engine = build(tmp_path)
    try:
        assert [r.alert_id for r in engine.api.alerts()] == ["A2", "A3"]
        problem = engine.alerts.problem
        assert problem is not None
        assert "alert 'A1'" in problem and FINER_THAN_A_PAISA in problem and "101.005" in problem
        said = [m.text for m in engine.api.startup_messages if m.source == "alerts"]
        assert len(said) == 1 and "alert 'A1'" in said[0], said
        assert (tmp_path / "alerts.json.bad").read_text() == as_it_was  # nothing lost
        kept = json.loads((tmp_path / "alerts.json").read_text())
        assert [a["alert_id"] for a in kept["alerts"]] == ["A2", "A3"]
    finally:
        engine.close()
