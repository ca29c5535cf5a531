"""Kite ticks all the way to a panel: the market watch asks for the instrument, the fake Kite
streams it over a real websocket, and the row shows the price."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.credentials import CredentialStore
from tests.kite_desk import (
    ADANIPORTS,
    KiteDesk,
    adaniports_kite,
    market,
    open_desk,
    wait_for,
)
from tests.kite_fake import FakeKite
from tests.memory_keyring import MemoryKeyring

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with adaniports_kite() as fake:
        yield fake


@pytest.fixture
async def desk(kite: FakeKite, tmp_path: Path) -> AsyncIterator[KiteDesk]:
    store = CredentialStore("ui", backend=MemoryKeyring())
    store.save_kite_keys(kite.api_key, kite.api_secret)
    desk = await open_desk(kite, store, tmp_path / "book.db")
    yield desk
    await desk.stop()


async def test_market_watch_when_an_instrument_is_added_streams_it_from_kite(
    qapp, kite: FakeKite, desk: KiteDesk
) -> None:
    from ui.bridge import EngineBridge
    from ui.context import PanelContext
    from ui.panels.market_watch import MarketWatchPanel
    from ui.theme import ThemeHolder

    api = desk.engine.api
    bridge = EngineBridge(api)
    panel = MarketWatchPanel(PanelContext(api=api, bridge=bridge, theme=ThemeHolder("dark")))
    try:
        instrument = api.instruments.get(ADANIPORTS)
        panel.add_instrument(instrument)  # the panel asks the feed for it
        await wait_for(lambda: ADANIPORTS in kite.ticker.subscribed(), what="subscription")
        kite.ticker.push([market(40_125)])
        await wait_for(
            lambda: (tick := api.tick(ADANIPORTS)) is not None and tick.ltp == 40_125, what="tick"
        )
        bridge.flush()  # the frame timer's work, without a Qt event loop in this test
        model = panel.current_view().quotes
        row = model.row_of(ADANIPORTS)
        assert row is not None
        assert model.index(row, 1).data() == "401.25"
    finally:
        bridge.stop()
        panel.deleteLater()


async def test_risk_panel_when_live_on_kite_shows_kites_funds_as_the_margin_available(
    qapp, kite: FakeKite, desk: KiteDesk
) -> None:
    from ui.bridge import EngineBridge
    from ui.context import PanelContext
    from ui.panels.risk import RiskPanel
    from ui.theme import ThemeHolder

    api = desk.engine.api
    risk = desk.engine.risk
    assert risk is not None
    await wait_for(lambda: risk.gate.broker_funds is not None, what="funds from Kite")
    bridge = EngineBridge(api)
    panel = RiskPanel(PanelContext(api=api, bridge=bridge, theme=ThemeHolder("dark")))
    try:
        panel.refresh()
        text = panel.margin_label.text()
        assert "available ₹99,725.05 (Kite's funds at " in text, text
        usage = {row.name: row for row in api.risk_usage()}
        assert usage["capital"].limit == Decimal(
            "99725.05"
        )  # what Kite lets the desk's margin reach
    finally:
        bridge.stop()
        panel.deleteLater()


async def test_order_ticket_when_live_on_kite_adds_kites_own_margin_figure(
    qapp, kite: FakeKite, desk: KiteDesk
) -> None:
    from engine.api import Side
    from ui.bridge import EngineBridge
    from ui.context import PanelContext, TicketRequest
    from ui.panels.order_ticket import OrderTicket
    from ui.theme import ThemeHolder

    api = desk.engine.api
    await desk.link.watch([ADANIPORTS])
    await wait_for(lambda: api.tick(ADANIPORTS) is not None, what="first tick")
    bridge = EngineBridge(api)
    ticket = OrderTicket(PanelContext(api=api, bridge=bridge, theme=ThemeHolder("dark")))
    try:
        instrument = api.instruments.get(ADANIPORTS)
        ticket.open_for(TicketRequest(Side.BUY, instrument, lots=10, price=Decimal("400.00")))
        assert ticket.product.currentText() == "CNC"
        task = ticket.ask_broker_margin()  # what the ticket's timer does once the terms settle
        assert task is not None
        await task
        # The fake's calculator charges delivery the full value: 10 x ₹400.
        assert "Kite ₹4,000.00" in ticket.margin_label.text(), ticket.margin_label.text()
        [(orders, consider_positions)] = kite.rest.basket_requests
        assert consider_positions
        assert orders[0]["tradingsymbol"] == "ADANIPORTS" and orders[0]["quantity"] == 10
        # New terms drop the old figure until the calculator answers for them.
        ticket.lots.setValue(20)
        assert "Kite ₹" not in ticket.margin_label.text()
        kite.rest.fail_next("POST", "/margins/basket", 400, "InputException", "Invalid basket")
        task = ticket.ask_broker_margin()
        assert task is not None
        await task
        assert "Kite: no figure" in ticket.margin_label.text()
    finally:
        bridge.stop()
        ticket.deleteLater()
