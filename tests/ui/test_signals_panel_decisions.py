"""What the Signals panel tells the trader about a decision: a card says the order that will go
(the lots multiplier, the position an entry reverses), a double click decides once and never
reads "refused", a card whose time ran out says so, and a new signal adds one row to Recent
signals without writing the rows already there again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.api import SignalResult
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.signals.desk import SignalMode, SignalRules
from engine.signals.tradingview import TradingViewAlert
from tests.live_desk import wait_for
from ui.bridge import EngineBridge
from ui.context import PanelContext
from ui.panels.signals import RECENT, SignalsPanel
from ui.theme import ThemeHolder

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def desk(
    qtbot, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Engine, SignalsPanel]]:
    rules: SignalRules = getattr(request, "param", SignalRules(default_mode=SignalMode.APPROVE))
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
            always_open=True,
            var_interval_seconds=0,
            signal_rules=rules,
        )
    )
    bridge = EngineBridge(engine.api, frame_ms=20)
    panel = SignalsPanel(PanelContext(api=engine.api, bridge=bridge, theme=ThemeHolder("dark")))
    qtbot.addWidget(panel)
    panel.resize(600, 800)
    panel.show()
    try:
        yield engine, panel
    finally:
        bridge.stop()
        engine.close()


def cell(panel: SignalsPanel, row: int, column: int) -> str:
    item = panel.table.item(row, column)
    assert item is not None, (row, column)
    return item.text()


def send(engine: Engine, signal_id: str, **changes: Any) -> None:
    alert = {"id": signal_id, "symbol": "NSE:RELIANCE", "action": "buy", "lots": 1, **changes}
    engine.signals.receive(TradingViewAlert.model_validate(alert))


def test_signal_card_double_clicked_places_once_and_a_repeat_says_what_became_of_it(
    qtbot, desk: tuple[Engine, SignalsPanel]
) -> None:
    engine, panel = desk
    decided: list[SignalResult] = []
    panel.decided.connect(decided.append)
    send(engine, "DBL")
    qtbot.waitUntil(lambda: len(panel.cards) == 1)
    card = panel.cards[0]
    assert card.title.text() == "BUY 1 lot (1 unit) RELIANCE"
    QTest.mouseClick(card.approve_button, Qt.MouseButton.LeftButton)
    assert not card.approve_button.isEnabled() and not card.reject_button.isEnabled()
    QTest.mouseClick(card.approve_button, Qt.MouseButton.LeftButton)
    [order] = engine.api.orders()
    assert [r.step.value for r in decided] == ["placed"]
    assert panel.problem.text() == ""
    again = panel.approve("DBL")  # a notification's Approve, say, after the card went
    assert again.order_id == order.order_id
    assert panel.problem.text() == f"DBL: already decided: placed (order {order.order_id})"
    assert "refused" not in panel.problem.text()
    assert len(engine.api.orders()) == 1


@pytest.mark.parametrize(
    "desk",
    [SignalRules(default_mode=SignalMode.APPROVE, approval_timeout_s=0.3)],
    indirect=True,
)
def test_signal_card_approved_after_its_time_ran_out_says_not_placed_in_words(
    qtbot, desk: tuple[Engine, SignalsPanel]
) -> None:
    engine, panel = desk
    decided: list[SignalResult] = []
    panel.decided.connect(decided.append)
    send(engine, "LATE")
    qtbot.waitUntil(lambda: len(panel.cards) == 1)
    time.sleep(0.4)  # its time runs out before the heartbeat says so
    panel.setFocus()
    QTest.keyClick(panel, Qt.Key.Key_Return)
    assert panel.cards == [] and engine.api.orders() == []
    assert panel.problem.text() == "LATE: not placed: not approved in time"
    assert [r.step.value for r in decided] == ["expired"]


@pytest.mark.parametrize(
    "desk",
    [
        SignalRules(
            default_mode=SignalMode.APPROVE,
            modes={"seller": SignalMode.AUTO},
            approval_timeout_s=600,
            lots_multiplier=3,
        )
    ],
    indirect=True,
)
def test_signal_card_says_the_lots_that_go_and_the_short_an_entry_closes(
    qtbot, qloop, desk: tuple[Engine, SignalsPanel]
) -> None:
    engine, panel = desk
    future = {"symbol": "NSE:NIFTY1!"}

    async def filled() -> int:
        order = engine.api.orders()[-1]
        await wait_for(lambda: engine.api.order(order.order_id).filled_quantity > 0, what="fill")  # type: ignore[union-attr]
        return order.quantity

    async def scenario() -> list[tuple[str, str, int]]:
        engine.start()
        cards: list[tuple[str, str, int]] = []
        try:
            for signal_id, action in (("M1", "buy"), ("L1", "le")):
                if signal_id == "L1":  # from the long of 195, a short of 195 to reverse
                    send(engine, "S1", action="sell", lots=2, strategy="seller", **future)
                    await filled()
                send(engine, signal_id, action=action, **future)
                await wait_for(lambda: len(panel.cards) == 1, what="the card")
                card = panel.cards[0]
                panel.approve(signal_id)
                cards.append((card.title.text(), card.view.instrument, await filled()))
        finally:
            await engine.stop()
        return cards

    (bought, name, bought_units), (entered, _, entered_units) = qloop(scenario())
    assert (bought, bought_units) == (f"BUY 3 lots (195 units) {name}", 195)
    assert (entered, entered_units) == (
        f"ENTER LONG 3 lots (195 units) {name} and closes the short of 195: BUY 390 units",
        390,
    )


def test_new_signal_adds_one_row_to_a_full_recent_table_and_rewrites_none(
    qtbot, desk: tuple[Engine, SignalsPanel]
) -> None:
    engine, panel = desk
    for n in range(40):  # received, pending, rejected: 120 records, the table full
        send(engine, f"S{n}")
        engine.signals.reject(f"S{n}")
    qtbot.waitUntil(lambda: panel.table.rowCount() == RECENT)
    written: list[int] = []
    inserted: list[tuple[int, int]] = []
    model = panel.table.model()
    model.dataChanged.connect(
        lambda top, bottom, _roles=(): written.extend(range(top.row(), bottom.row() + 1))
    )
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))

    send(engine, "X0")  # received, then pending: two rows
    qtbot.waitUntil(lambda: cell(panel, 0, 1) == "X0")

    # Each new row's cells, at most twice each (the item put in, its text set): none below it.
    assert set(written) == {0} and len(written) <= 2 * 2 * panel.table.columnCount()
    assert inserted == [(0, 0), (0, 0)]
    assert panel.table.rowCount() == RECENT
    assert [cell(panel, r, 3) for r in range(3)] == ["pending", "received", "rejected"]
    assert cell(panel, RECENT - 1, 1) == panel.recent[RECENT - 1].signal_id
