"""Two accounts on one desk, a window each: the kill switch pressed in either window halts both
accounts, and each window shows only its own account's orders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.api import OrderStatus, TradingState
from engine.core.clock import IST, TestClock
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.runtime.accounts import Accounts
from engine.settings import SettingsStore
from tests.support import atm_call
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow


@pytest.fixture
def two(qtbot, tmp_path: Path) -> Iterator[tuple[MainWindow, MainWindow, Accounts]]:  # type: ignore[no-untyped-def]
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
        for name in ("first", "second")
    }
    accounts = Accounts(engines)
    settings = SettingsStore()
    windows = [
        MainWindow(
            engine.api,
            layouts=LayoutStore(tmp_path / f"layout-{name}.ini"),
            broker=f"{name} account",
            settings=settings,
        )
        for name, engine in engines.items()
    ]
    for window in windows:
        qtbot.addWidget(window)
        window.show()
    yield windows[0], windows[1], accounts
    for window in windows:
        window.stop()
    accounts.close()


def test_kill_switch_in_one_account_window_halts_every_account(two) -> None:
    first, second, accounts = two
    engine = accounts.engine("first")
    option = atm_call(engine)
    quote = engine.api.quote(option.token)
    assert quote is not None and quote.bid is not None
    resting = engine.api.place_order(
        option.token, "BUY", option.lot_size, "LIMIT", price=quote.bid - Decimal("5.00")
    )
    assert resting.ok, resting.reason
    second.context.confirm = lambda title, text, action: None  # type: ignore[method-assign]
    second.kill_action.trigger()
    states = {row.account: row.state for row in accounts.status()}
    assert states == {"first": TradingState.HALTED, "second": TradingState.HALTED}
    assert engine.api.order(resting.order_id).status is OrderStatus.CANCELLED
    assert "on account second" in engine.api.trading_state().reason
    assert first.windowTitle() == "DalalDesk — first account"
    assert second._api.orders() == [], "the second window's account has none of the first's"
