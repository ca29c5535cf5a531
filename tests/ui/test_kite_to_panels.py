"""Kite ticks all the way to a panel: the market watch asks for the instrument, the fake Kite
streams it over a real websocket, and the row shows the price."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.credentials import CredentialStore
from tests.kite_desk import ADANIPORTS, KiteDesk, market, open_desk, wait_for
from tests.kite_fake import FakeKite
from tests.memory_keyring import MemoryKeyring

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with FakeKite(heartbeat_s=0.1) as fake:
        fake.oms.set_last_price("NSE", "ADANIPORTS", Decimal("400.00"))
        fake.ticker.set_market([market()])
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
        await wait_for(lambda: (api.quote(ADANIPORTS) or market(0)).ltp == 40_125, what="tick")
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
