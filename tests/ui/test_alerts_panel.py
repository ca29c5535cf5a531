"""The Alerts panel and how a fired alert reaches the trader: the panel, the status bar and a
desktop notification delivered over D-Bus to a notification service (a stand-in speaking the
freedesktop Notifications interface on a private session bus)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from engine.api import AlertRule, Condition
from engine.core.clock import TestClock
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.support import MONDAY_MORNING
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.notify import DesktopNotices
from ui.panels.alerts import AlertsPanel, _at, _described


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


@pytest.fixture
def window(qtbot, engine: Engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    window.show()
    yield window
    window.stop()


def panel_of(window: MainWindow) -> AlertsPanel:
    panel = window.panels["alerts"]
    assert isinstance(panel, AlertsPanel)
    return panel


def cells(panel: AlertsPanel) -> list[list[str]]:
    table = panel.table
    return [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]


def test_alerts_panel_sets_a_price_alert_and_shows_it_fired_with_what_it_said(
    window: MainWindow, engine: Engine, tmp_path: Path
) -> None:
    stock = engine.api.instruments.by_symbol("NSE", "RELIANCE")
    assert stock is not None
    trade(engine, stock.token, "1549.00")
    panel = panel_of(window)
    panel.choose(stock)
    assert panel.value.text() == "1549.00"  # the price now, to edit
    panel.condition.setCurrentIndex(0)  # crosses above
    panel.value.setText("1550")
    panel.note.setText("add on strength")
    rule = panel.set_alert()
    assert rule is not None
    assert cells(panel)[0][:3] == [
        "A1",
        "NSE:RELIANCE crosses above ₹1,550.00 — add on strength",
        "armed",
    ]

    trade(engine, stock.token, "1550.05")
    window.bridge.flush()
    window.bridge.flush()  # the queued connection runs on the next event-loop turn
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()
    row = cells(panel)[0]
    assert row[2] == "fired"
    assert row[5] == "NSE:RELIANCE crossed above ₹1,550.00 (₹1,550.05)"
    assert window.statusBar().currentMessage() == f"Alert: {row[5]} — add on strength"
    window.show_panel("alerts")
    assert window.grab().save(str(tmp_path / "alerts.png"))


def test_alerts_panel_explains_a_refused_alert_and_sets_nothing(window: MainWindow) -> None:
    panel = panel_of(window)
    panel.condition.setCurrentIndex(0)
    panel.value.setText("1550")
    assert panel.set_alert() is None
    assert panel.problem.text() == "a price alert needs an instrument"
    panel.condition.setCurrentIndex(3)  # day P&L below
    panel.value.setText("lots")
    assert panel.set_alert() is None
    assert panel.problem.text() == "an alert's value is a number, not 'lots'"
    assert panel.table.rowCount() == 0


def test_alerts_panel_refuses_a_level_too_large_and_sets_nothing(window: MainWindow) -> None:
    panel = panel_of(window)
    panel.condition.setCurrentIndex(4)  # day P&L above
    panel.value.setText("1e9999999")
    assert panel.set_alert() is None
    assert panel.problem.text() == (
        "an alert's level is at most ₹10,00,00,00,000.00 either way, not '1e9999999'"
    )
    assert panel.table.rowCount() == 0


@pytest.mark.parametrize(
    "odd",
    [
        {"condition": "pnl_above", "value": "1e9999999"},
        {"condition": "pnl_above", "value": "1000", "created_ns": 10**22},
        {"condition": "pnl_above", "value": "1000", "fired_ns": 10**22},
    ],
)
def test_alerts_panel_opens_after_a_restart_with_a_saved_rule_it_cannot_show(
    qtbot, tmp_path: Path, odd: dict[str, object]
) -> None:
    (tmp_path / "alerts.json").write_text(
        json.dumps(
            {
                "alerts": [
                    {"alert_id": "A1", "title": "Desk", **odd},
                    {"alert_id": "A2", "condition": "pnl_below", "value": "-5000"},
                ]
            }
        )
    )
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=5, strikes_each_side=2),
            alerts_file=tmp_path / "alerts.json",
        ),
        clock=TestClock(MONDAY_MORNING),
    )
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    try:
        panel = panel_of(window)
        assert [row[:3] for row in cells(panel)] == [
            ["A2", "day P&L falls below -₹5,000.00", "armed"]
        ]
        said = [m.text for m in engine.api.startup_messages if m.source == "alerts"]
        assert len(said) == 1 and said[0].startswith("Alerts: saved alerts set aside"), said
    finally:
        window.stop()
        engine.close()


def test_alerts_panel_shows_a_dash_for_what_cannot_be_shown() -> None:
    # The engine refuses such rules now; the panel still must not fail on one it is given.
    huge = AlertRule("A1", Condition.PNL_ABOVE, Decimal("1e9999999"), title="Desk")
    assert _described(huge) == "day P&L rises above —"
    assert _at(10**22) == "—"


# -- the desktop notification over D-Bus -------------------------------------------------------------


@pytest.fixture
def session_bus(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A private D-Bus session bus (dbus-daemon), for this test only."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        pytest.skip("dbus-daemon is not installed (CI installs it)")
    process = subprocess.Popen(
        [daemon, "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    address = process.stdout.readline().strip()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    yield address
    process.terminate()
    process.wait(timeout=10)


def test_alerts_desktop_notification_reaches_the_notification_service(session_bus: str) -> None:
    from dbus_fast import BusType
    from dbus_fast.aio import MessageBus

    from tests.dbus_notifications import NAME, PATH, Notifications

    daemon = Notifications()

    async def scenario() -> None:
        bus = await MessageBus(bus_type=BusType.SESSION).connect()
        bus.export(PATH, daemon)
        await bus.request_name(NAME)
        notices = DesktopNotices()
        assert notices.notify("DalalDesk alert", "NIFTY 50 crossed above 26,100.00", urgent=True)
        await notices.drain()
        assert notices.sent == 1
        bus.disconnect()

    asyncio.run(scenario())
    assert daemon.received == [
        ("DalalDesk", "DalalDesk alert", "NIFTY 50 crossed above 26,100.00", 2)
    ]


def test_alerts_desktop_notification_without_a_service_is_logged_once(
    session_bus: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> DesktopNotices:
        notices = DesktopNotices()
        for _ in range(3):
            notices.notify("DalalDesk alert", "no daemon listens")
        await notices.drain()
        return notices

    notices = asyncio.run(scenario())
    assert notices.sent == 0
    assert caplog.text.count("desktop notifications are not available here") == 1
    assert os.environ["DBUS_SESSION_BUS_ADDRESS"] == session_bus


def test_alerts_from_market_watch_bring_the_panel_forward_with_the_instrument(
    window: MainWindow, engine: Engine
) -> None:
    stock = engine.api.instruments.by_symbol("NSE", "RELIANCE")
    assert stock is not None
    window.set_alert(stock)
    panel = panel_of(window)
    assert panel.instrument == stock and panel.chosen.text() == "NSE:RELIANCE"
    assert window.docks["alerts"].isVisible()
