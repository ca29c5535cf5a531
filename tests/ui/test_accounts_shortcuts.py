"""Two accounts on one desk, a window each, built as the desk builds them (``app.gui``): the keys
pressed in a window act on that window's account (F1, F2, Ctrl+Shift+X, Ctrl+Shift+Q), also from
its order ticket; the kill switch key, pressed in either window any number of times, halts
every account, and its square-off question counts and closes every account's positions. Qt
says nothing of an ambiguous shortcut (a Qt warning fails the test)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.gui import KeysFollowTheTrader, account_window, desk_kill_switch
from engine.api import OrderStatus, Side, TradingState
from engine.core.clock import IST, TestClock
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.runtime.accounts import Accounts
from engine.settings import SettingsStore
from tests.support import atm_call
from ui.main_window import MainWindow

CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
ACCOUNTS = ("first", "second")


class Desk:
    def __init__(self, accounts: Accounts, windows: dict[str, MainWindow]) -> None:
        self.accounts = accounts
        self.windows = windows

    def api(self, account: str) -> Any:
        return self.accounts.api(account)

    def states(self) -> dict[str, TradingState]:
        return {row.account: row.state for row in self.accounts.status()}

    def open_orders(self, account: str) -> list[Any]:
        return [o for o in self.api(account).orders() if o.status.is_open]

    def held(self, account: str) -> list[int]:
        return [p.net_quantity for p in self.api(account).positions() if p.net_quantity]

    def rest_and_hold(self, account: str) -> str:
        """One lot held (a market buy, filled) and one order resting below the bid."""
        engine = self.accounts.engine(account)
        option = atm_call(engine)
        assert engine.api.place_order(option.token, "BUY", option.lot_size, "MARKET")
        quote = engine.api.quote(option.token)
        assert quote is not None and quote.bid is not None
        resting = engine.api.place_order(
            option.token, "BUY", option.lot_size, "LIMIT", price=quote.bid - Decimal("5.00")
        )
        assert resting.ok and resting.order_id is not None, resting.reason
        return resting.order_id


@pytest.fixture
def desk(qtbot, tmp_path: Path) -> Iterator[Desk]:  # type: ignore[no-untyped-def]
    clock = TestClock(datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    engines = {
        name: Engine.build(
            EngineConfig(
                db_url=f"sqlite:///{tmp_path / f'{name}.db'}",
                market=SimulatedMarketConfig(seed=5, strikes_each_side=4),
                var_interval_seconds=0,
            ),
            clock=clock,
        )
        for name in ACCOUNTS
    }
    accounts = Accounts(engines)
    settings = SettingsStore()
    profile = f"shortcuts-{tmp_path.name}"
    windows = {
        name: account_window(
            engine, profile, settings, lambda: None, desk_kill_switch(accounts, name)
        )
        for name, engine in engines.items()
    }
    for window in windows.values():
        qtbot.addWidget(window)
        qtbot.waitExposed(window)
    keys = KeysFollowTheTrader(list(windows.values()))
    yield Desk(accounts, windows)
    keys.stop()
    for window in windows.values():
        window.stop()
    accounts.close()


def go_to(qtbot, widget: QWidget) -> QWidget:  # type: ignore[no-untyped-def]
    """The trader brings ``widget``'s window to the front; its focus widget takes the keys."""
    widget.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is widget.window(), timeout=2000)
    return QApplication.focusWidget() or widget


def question_in(qtbot, window: QWidget) -> QMessageBox:  # type: ignore[no-untyped-def]
    """The question box the window asks (the last one opened)."""
    boxes: list[QMessageBox] = []

    def asked() -> bool:
        boxes[:] = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
        return bool(boxes)

    qtbot.waitUntil(asked, timeout=2000)
    return boxes[-1]


def answer(qtbot, box: QMessageBox, button: QMessageBox.StandardButton) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(box.button(button), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=2000)


@pytest.mark.parametrize("pressed_in", ACCOUNTS)
def test_kill_switch_shortcut_when_two_account_windows_are_open_halts_and_squares_off_every_account(
    qtbot, desk: Desk, pressed_in: str
) -> None:
    resting = {name: desk.rest_and_hold(name) for name in ACCOUNTS}
    window = desk.windows[pressed_in]

    qtbot.keyClick(go_to(qtbot, window), Qt.Key.Key_K, CTRL_SHIFT)

    assert desk.states() == {name: TradingState.HALTED for name in ACCOUNTS}
    for name, order_id in resting.items():
        assert desk.api(name).order(order_id).status is OrderStatus.CANCELLED, name
    box = question_in(qtbot, window)
    assert "HALTED on first, second" in box.text()
    assert "square off all 2 open positions (first 1, second 1)" in box.text()
    answer(qtbot, box, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: not desk.held("first") and not desk.held("second"), timeout=3000)


def test_kill_switch_shortcut_when_pressed_again_in_a_halted_window_halts_the_account_rearmed_since(
    qtbot, desk: Desk
) -> None:
    first = desk.windows["first"]
    qtbot.keyClick(go_to(qtbot, first), Qt.Key.Key_K, CTRL_SHIFT)
    assert desk.states() == {"first": TradingState.HALTED, "second": TradingState.HALTED}
    assert desk.api("second").rearm("re-armed by the trader")  # in its own window
    resting = desk.rest_and_hold("second")

    qtbot.keyClick(go_to(qtbot, first), Qt.Key.Key_K, CTRL_SHIFT)  # first: HALTED already

    assert desk.states()["second"] is TradingState.HALTED
    assert "(on account first)" in desk.api("second").trading_state().reason
    assert desk.api("second").order(resting).status is OrderStatus.CANCELLED
    box = question_in(qtbot, first)  # the first account is flat: the second's is counted
    assert "square off all 1 open position (second 1)" in box.text()
    answer(qtbot, box, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: not desk.held("second"), timeout=3000)


@pytest.mark.parametrize("pressed_in", ACCOUNTS)
def test_order_shortcuts_when_two_account_windows_are_open_act_on_the_focused_window_account(
    qtbot, desk: Desk, pressed_in: str
) -> None:
    other = next(name for name in ACCOUNTS if name != pressed_in)
    for name in ACCOUNTS:
        desk.rest_and_hold(name)
    window, other_window = desk.windows[pressed_in], desk.windows[other]

    qtbot.keyClick(go_to(qtbot, window), Qt.Key.Key_F1)
    qtbot.waitUntil(window.ticket.isVisible, timeout=2000)
    assert not other_window.ticket.isVisible()
    assert window.ticket.side is Side.BUY
    qtbot.keyClick(go_to(qtbot, window.ticket), Qt.Key.Key_F2)  # from inside the ticket
    assert window.ticket.side is Side.SELL and not other_window.ticket.isVisible()
    window.ticket.close()

    qtbot.keyClick(go_to(qtbot, window), Qt.Key.Key_X, CTRL_SHIFT)
    box = question_in(qtbot, window)
    assert box.text() == "Cancel all 1 open order(s)?"
    answer(qtbot, box, QMessageBox.StandardButton.Yes)
    assert not desk.open_orders(pressed_in)
    assert len(desk.open_orders(other)) == 1, "the other account's order is left alone"

    qtbot.keyClick(go_to(qtbot, window), Qt.Key.Key_Q, CTRL_SHIFT)
    answer(qtbot, question_in(qtbot, window), QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: not desk.held(pressed_in), timeout=3000)
    assert desk.held(other), "the other account's position is left alone"
    assert desk.states() == {name: TradingState.ACTIVE for name in ACCOUNTS}


def test_kill_switch_shortcut_when_pressed_in_an_account_order_ticket_halts_every_account(
    qtbot, desk: Desk
) -> None:
    second = desk.windows["second"]
    qtbot.keyClick(go_to(qtbot, second), Qt.Key.Key_F1)
    qtbot.waitUntil(second.ticket.isVisible, timeout=2000)

    qtbot.keyClick(go_to(qtbot, second.ticket), Qt.Key.Key_K, CTRL_SHIFT)

    assert desk.states() == {"first": TradingState.HALTED, "second": TradingState.HALTED}


def test_kill_switch_button_of_the_risk_panel_when_two_accounts_trade_asks_for_every_account(
    qtbot, desk: Desk
) -> None:
    for name in ACCOUNTS:
        desk.rest_and_hold(name)
    first = desk.windows["first"]
    first.show_panel("risk")
    risk = first.panels["risk"]

    qtbot.mouseClick(risk.kill_button, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]

    assert desk.states() == {name: TradingState.HALTED for name in ACCOUNTS}
    box = question_in(qtbot, first)
    assert "square off all 2 open positions (first 1, second 1)" in box.text()
    answer(qtbot, box, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: not desk.held("first") and not desk.held("second"), timeout=3000)
