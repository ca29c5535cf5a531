"""A TradingView alert posted over real HTTP to the running desk becomes an approval card; the
trader approves it with the keyboard, the paper venue fills it, and the journal and the day's
audit export link signal, decision, order and fill by their ids."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PySide6.QtCore import Qt

from engine.api import IST, OrderStatus
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.signals.desk import SignalMode, SignalRules
from engine.signals.server import WEBHOOK_PATH
from tests.live_desk import wait_for
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.panels.signals import SignalsPanel

pytestmark = pytest.mark.timeout(60)


def test_signal_webhook_to_approval_card_keypress_order_fill_and_audit(
    qtbot, qloop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DALALDESK_WEBHOOK_PASSPHRASE", "s3cret-phrase")
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
            always_open=True,
            var_interval_seconds=0,
            api_port=0,
            signal_rules=SignalRules(default_mode=SignalMode.APPROVE, approval_timeout_s=30),
        )
    )
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    window.show()
    panel = window.panels["signals"]
    assert isinstance(panel, SignalsPanel)

    async def scenario() -> dict[str, Any]:
        engine.start()
        await wait_for(
            lambda: engine.signal_server is not None, timeout=10, what="signals endpoint"
        )
        assert engine.signal_server is not None
        body = {
            "passphrase": "s3cret-phrase",
            "id": "ema-L-42",
            "strategy": "ema-9-21",
            "symbol": "NSE:RELIANCE",
            "action": "buy",
            "lots": "1",
            "fired": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        url = engine.signal_server.url + WEBHOOK_PATH
        async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
            answered = (response.status, await response.json())
        await wait_for(lambda: len(panel.cards) == 1, timeout=10, what="the approval card")
        card = panel.cards[0]
        assert card.title.text() == "BUY 1 lot (1 unit) RELIANCE"
        assert "strategy ema-9-21" in card.terms.text() and "NSE:RELIANCE" in card.terms.text()
        assert "Signal ema-L-42" in window.statusBar().currentMessage()
        window.show_panel("signals")
        panel.setFocus()
        qtbot.keyClick(panel, Qt.Key.Key_Plus)  # two lots, then Enter approves
        assert card.title.text() == "BUY 2 lots (2 units) RELIANCE (changed)"
        qtbot.keyClick(panel, Qt.Key.Key_Return)
        await wait_for(lambda: not panel.cards, timeout=10, what="the card gone")
        [order] = engine.api.orders()
        await wait_for(
            lambda: engine.api.order(order.order_id).status is OrderStatus.COMPLETE,
            timeout=10,
            what="paper fill",
        )
        return {"answered": answered, "order": order.order_id}

    try:
        outcome = qloop(scenario())
    finally:
        window.stop()
        qloop(engine.stop())
    assert outcome["answered"][0] == 202 and outcome["answered"][1]["status"] == "pending"
    order_id = outcome["order"]
    assert engine.api.order(order_id).quantity == 2
    [steps] = [[row.step for row in panel.recent if row.signal_id == "ema-L-42"][::-1]]
    assert [s.value for s in steps] == ["received", "pending", "approved", "placed"]

    today = datetime.now(IST).date()
    reopened = Engine.build(EngineConfig(db_url=f"sqlite:///{tmp_path / 'book.db'}"))
    try:
        rows = reopened.api.signal_audit(today, today)
        assert reopened.api.export_signal_audit(tmp_path / "audit.csv", today, today) is None
        assert reopened.api.export_signal_audit(tmp_path / "audit.json", today, today) is None
    finally:
        reopened.close()
    trail = [(r.signal, r.step, r.decided_by, r.order, r.event) for r in rows]
    assert trail[:4] == [
        ("ema-L-42", "received", "", "", ""),
        ("ema-L-42", "pending", "", "", ""),
        ("ema-L-42", "approved", "trader", "", ""),
        ("ema-L-42", "order", "", order_id, "order_submitted"),
    ]
    # The paper venue answers at once: the order's events and the "placed" step follow.
    later = trail[4:]
    assert ("ema-L-42", "placed", "", order_id, "") in later
    assert any(event == "order_filled" for *_, order, event in later if order == order_id)
    assert {r.signal for r in rows} == {"ema-L-42"}
    with open(tmp_path / "audit.csv", encoding="utf-8", newline="") as file:
        exported = list(csv.DictReader(file))
    assert [r["step"] for r in exported] == [r.step for r in rows]
    assert {r["order"] for r in exported if r["event"] == "order_filled"} == {order_id}
    assert json.loads((tmp_path / "audit.json").read_text("utf-8"))[3]["order"] == order_id


def test_signals_panel_follows_the_chosen_card_and_never_moves_enter_onto_another(
    qtbot, tmp_path: Path
) -> None:
    from engine.signals.tradingview import TradingViewAlert
    from ui.bridge import EngineBridge
    from ui.context import PanelContext
    from ui.theme import ThemeHolder

    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
            always_open=True,
            var_interval_seconds=0,
            signal_rules=SignalRules(default_mode=SignalMode.APPROVE, approval_timeout_s=300),
        )
    )
    bridge = EngineBridge(engine.api, frame_ms=20)
    panel = SignalsPanel(PanelContext(api=engine.api, bridge=bridge, theme=ThemeHolder("dark")))
    qtbot.addWidget(panel)
    panel.show()
    try:
        for name in ("A", "B", "C", "D"):
            alert = {"id": name, "symbol": "NSE:RELIANCE", "action": "buy", "lots": 1}
            engine.signals.receive(TradingViewAlert.model_validate(alert))
        qtbot.waitUntil(lambda: len(panel.cards) == 4)
        chosen = lambda: None if panel.selected is None else panel.cards[panel.selected]  # noqa: E731
        assert chosen().view.signal_id == "A"  # type: ignore[union-attr]
        panel.setFocus()
        qtbot.keyClick(panel, Qt.Key.Key_Down)
        assert chosen().view.signal_id == "B"  # type: ignore[union-attr]

        # A card above it goes (decided elsewhere): B stays chosen, though its place moved up.
        engine.api.reject_signal("A", "rejected by the script")
        qtbot.waitUntil(lambda: len(panel.cards) == 3)
        assert chosen().view.signal_id == "B"  # type: ignore[union-attr]

        # B itself goes without a decision here: Enter approves nothing until the trader chooses.
        engine.api.reject_signal("B", "rejected by the script")
        qtbot.waitUntil(lambda: len(panel.cards) == 2)
        assert panel.selected is None
        qtbot.keyClick(panel, Qt.Key.Key_Return)
        assert panel.problem.text() == "The chosen signal is gone: choose one with ↑ or ↓."
        assert not engine.api.orders() and len(panel.cards) == 2

        # Chosen again, approved here with its own lots: the next card takes its place.
        qtbot.keyClick(panel, Qt.Key.Key_Down)
        assert chosen().view.signal_id == "C"  # type: ignore[union-attr]
        qtbot.keyClick(panel, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: len(panel.cards) == 1)
        assert chosen().view.signal_id == "D"  # type: ignore[union-attr]
        [order] = engine.api.orders()
        assert order.tag == "C"
        approved = [r for r in panel.recent if r.signal_id == "C" and r.step.value == "approved"]
        assert approved and "lots" not in approved[0].detail  # unchanged lots are no change
    finally:
        bridge.stop()
        engine.close()
