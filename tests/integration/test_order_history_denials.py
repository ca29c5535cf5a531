"""What the journal keeps and the order book does not: a request the risk gate refused (it never
became an order) and a refused modification of a live order. The orderbook lists the day's
refusals after a restart, Order history shows refused modifications, and the orders service
reads both (and the fills after those a panel holds) on a real book."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.api import OrderStatus, RiskDenied
from engine.core.clock import IST, TestClock
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from ui.bridge import EngineBridge
from ui.context import PanelContext
from ui.panels.order_history import OrderHistoryDialog
from ui.panels.orderbook import OrderbookPanel
from ui.theme import ThemeHolder

MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def desk(book: Path, at: datetime) -> Engine:
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{book}",
            market=SimulatedMarketConfig(seed=5, strikes_each_side=2),
        ),
        clock=TestClock(at),
    )
    run(engine, 1)
    return engine


def run(engine: Engine, seconds: float) -> None:
    clock = engine.clock
    assert isinstance(clock, TestClock)
    for _ in range(max(1, int(seconds / 0.25))):
        clock.advance(0.25)
        for tick in engine.market.step(0.25):
            engine.on_tick(tick)


def reliance(engine: Engine) -> int:
    return next(int(i.token) for i in engine.registry if i.tradingsymbol == "RELIANCE")


@pytest.fixture
def context_of(qtbot) -> Iterator:  # type: ignore[no-untyped-def]
    bridges: list[EngineBridge] = []

    def make(engine: Engine) -> PanelContext:
        bridge = EngineBridge(engine.api, frame_ms=20)
        bridges.append(bridge)
        return PanelContext(api=engine.api, bridge=bridge, theme=ThemeHolder("dark"))

    yield make
    for bridge in bridges:
        bridge.stop()


def test_orderbook_when_restarted_the_same_day_lists_the_denied_orders_with_their_reason(
    qtbot, tmp_path, context_of
) -> None:  # type: ignore[no-untyped-def]
    book = tmp_path / "book.db"
    first = desk(book, MONDAY_10AM)
    denied = first.api.place_order(reliance(first), "BUY", 5000, "MARKET", product="MIS")
    assert not denied.ok and denied.order_id
    later = first.clock.now() + timedelta(minutes=10)
    first.close()

    again = desk(book, later)
    try:
        panel = OrderbookPanel(context_of(again))
        qtbot.addWidget(panel)
        rows = {r.order_id: r for r in panel.model.rows}
        row = rows[str(denied.order_id)]
        assert row.status is OrderStatus.DENIED and row.reason == denied.reason
        assert row.symbol == "RELIANCE" and row.quantity == 5000
        assert "Rejected (1)" in panel.tabs.tabText(2)
        history = panel.show_history(str(denied.order_id))
        assert history is not None
        assert [(r.event, r.message) for r in history.rows] == [("Denied", denied.reason)]
        history.close()
    finally:
        again.close()

    next_day = desk(book, later + timedelta(days=2))  # Wednesday: Monday's refusals are Monday's
    try:
        panel = OrderbookPanel(context_of(next_day))
        qtbot.addWidget(panel)
        assert str(denied.order_id) not in {r.order_id for r in panel.model.rows}
    finally:
        next_day.close()


def test_order_history_when_a_modification_is_refused_lists_the_refusal_with_its_reason(
    qtbot, tmp_path, context_of
) -> None:  # type: ignore[no-untyped-def]
    engine = desk(tmp_path / "book.db", MONDAY_10AM)
    try:
        placed = engine.api.place_order(
            reliance(engine), "BUY", 10, "LIMIT", product="MIS", price="1500"
        )
        assert placed.ok, placed.reason
        run(engine, 1)
        dialog = OrderHistoryDialog(context_of(engine), str(placed.order_id))
        qtbot.addWidget(dialog)
        assert [r.event for r in dialog.rows] == ["Submitted", "Status"]
        refused = engine.api.modify(placed.order_id, price="5000")  # outside the circuit band
        assert not refused.ok
        # Followed live: the refusal reaches the open dialog with the message telling the trader.
        qtbot.waitUntil(lambda: [r.event for r in dialog.rows][-1:] == ["Refused"])
        last = dialog.rows[-1]
        assert last.message == f"modify refused ({refused.check}): {refused.reason}"
        assert last.status is OrderStatus.OPEN  # the order stays as it was
        assert [r.event for r in dialog.rows] == ["Submitted", "Status", "Refused"]
        dialog.close()
        reopened = OrderHistoryDialog(context_of(engine), str(placed.order_id))
        qtbot.addWidget(reopened)
        assert [r.event for r in reopened.rows] == ["Submitted", "Status", "Refused"]
        reopened.close()
    finally:
        engine.close()


def test_orders_service_when_the_journal_is_read_gives_denials_refusals_and_new_fills(
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    engine = desk(tmp_path / "book.db", MONDAY_10AM)
    try:
        orders, token = engine.api.orders_service, reliance(engine)
        assert engine.api.place_order(token, "BUY", 2, "MARKET", product="MIS").ok
        run(engine, 3)
        denied = engine.api.place_order(token, "BUY", 5000, "MARKET", product="MIS")
        assert [(d.order_id, d.reason) for d in orders.denials()] == [
            (denied.order_id, denied.reason)
        ]
        assert orders.denials(MONDAY_10AM.date() - timedelta(days=1)) == []
        assert orders.trading_day() == MONDAY_10AM.date()

        resting = engine.api.place_order(token, "BUY", 1, "LIMIT", product="MIS", price="1500")
        run(engine, 1)
        refused = engine.api.modify(resting.order_id, price="5000")
        found = orders.refusals(str(resting.order_id))
        assert found == [
            RiskDenied(resting.order_id, found[0].ts_ns, refused.check, refused.reason, "modify")
        ]
        assert orders.refusals("no such order") == []

        held = len(engine.api.trades())
        assert engine.api.place_order(token, "SELL", 2, "MARKET", product="MIS").ok
        new = engine.api.trades(held)
        assert len(new) == 1 and new[0].side.value == "SELL"
        assert engine.api.trades(held + 1) == []
        with pytest.raises(ValueError, match="how many fills were read already"):
            engine.api.trades(-1)
    finally:
        engine.close()
