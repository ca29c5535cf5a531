"""Reconnect prices: the trader's way back when a live feed stopped trying, without a restart.

The Kite ticker gives up after a small retry limit (the real desk on the fake Kite on 127.0.0.1);
the API call reconnects it and prices flow again. On a streaming feed, and on the paper market,
the call says why nothing is needed. XTS's socket never gives up, but a long backoff is cut short.
The window's Trade menu and the Health panel's button show the answer.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.api import EngineMessage
from engine.brokers.kite.ticker_state import ConnectionState
from engine.brokers.xts.feed import XtsFeed, XtsFeedConfig
from engine.brokers.xts.marketdata_session import MarketDataSession, XtsMarketDataKeys
from engine.brokers.xts.socketio_v2 import SocketIOConfig, SocketState
from engine.core.clock import LiveClock
from engine.domain.events import ConnectionChanged, Severity
from engine.marketdata.quotes import QuoteCache
from engine.runtime import Engine, EngineConfig
from tests.kite_desk import (
    ADANIPORTS,
    KiteDesk,
    adaniports_kite,
    market,
    open_ticking_desk,
    wait_for,
)
from tests.kite_fake import FakeKite
from tests.xts_fake.marketdata import FakeXtsMarketData
from ui.context import PanelContext
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.panels.health import HealthPanel

pytestmark = pytest.mark.timeout(60)

RETRY_LIMIT = 2
SIMULATED = "Prices: the simulated market has no connection to make again"


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with adaniports_kite() as fake:
        yield fake


@pytest.fixture
async def desk(kite: FakeKite, tmp_path: Path) -> AsyncIterator[KiteDesk]:
    desk = await open_ticking_desk(kite, tmp_path / "book.db", "reconnect", retry_limit=RETRY_LIMIT)
    yield desk
    await desk.stop()


@pytest.fixture
def paper(tmp_path: Path) -> Iterator[Engine]:
    engine = Engine.build(EngineConfig(db_url=f"sqlite:///{tmp_path / 'paper.db'}"))
    yield engine
    engine.close()


def told(messages: list[EngineMessage], text: str) -> bool:
    return any(m.severity is Severity.INFO and m.text == text for m in messages)


async def test_reconnect_prices_when_the_kite_ticker_gave_up_reconnects_and_prices_flow_again(
    kite: FakeKite, desk: KiteDesk
) -> None:
    client = desk.link.feed.client
    await kite.ticker.stop_listening()
    await wait_for(lambda: client.states == [ConnectionState.GAVE_UP], 10, "the ticker gave up")
    [stopped] = [m for m in desk.messages() if m.severity is Severity.ERROR]
    assert "use Reconnect prices (Trade menu, or the Health panel's button)" in stopped.text
    await kite.ticker.listen_again()

    answer = desk.engine.api.reconnect_feed()

    assert answer == "Prices: reconnecting to Kite…"
    await wait_for(lambda: client.states == [ConnectionState.OPEN], 10, "open again")
    await wait_for(lambda: desk.messages("Prices flow again: the feed is open again"), 2)
    assert told(desk.messages(), answer)  # in Messages, not only the status bar
    await wait_for(lambda: kite.ticker.subscribed() == {ADANIPORTS: "full"}, 5, "resubscribed")
    assert kite.ticker.push([market(price=41_000)]) == 1
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS).ltp == 41_000, 5, "a new price")


async def test_reconnect_prices_when_the_kite_ticker_streams_says_nothing_is_needed(
    kite: FakeKite, desk: KiteDesk
) -> None:
    handshakes = kite.ticker.handshakes

    answer = desk.engine.api.reconnect_feed()

    assert answer == "Prices are streaming: the Kite ticker is connected; nothing to reconnect"
    assert desk.link.feed.client.states == [ConnectionState.OPEN]
    assert kite.ticker.handshakes == handshakes  # no connection dropped or added


def test_reconnect_prices_when_on_the_paper_market_says_there_is_nothing_to_reconnect(
    paper: Engine,
) -> None:
    heard: list[EngineMessage] = []
    paper.bus.subscribe(EngineMessage, heard.append)

    assert paper.api.reconnect_feed() == SIMULATED
    assert told(heard, SIMULATED)


async def test_reconnect_prices_when_the_xts_socket_waits_out_a_long_backoff_connects_at_once() -> (
    None
):
    fake = FakeXtsMarketData()
    await fake.start()
    events: list[ConnectionChanged] = []
    session = MarketDataSession(XtsMarketDataKeys(fake.url, fake.app_key, fake.secret_key))
    patient = SocketIOConfig(first_delay_s=30.0, max_delay_s=30.0, data_timeout_s=5.0)
    feed = XtsFeed(
        session,
        clock=LiveClock(),
        publish=QuoteCache().update,
        events=events.append,  # type: ignore[arg-type]
        config=XtsFeedConfig(socket=patient),
        rng=random.Random(5),
    )
    try:
        assert feed.reconnect().startswith("Prices: reconnecting")  # not started: harmless
        await feed.start()
        await wait_for(lambda: feed.socket.state is SocketState.OPEN, 5, "open")
        assert feed.reconnect().startswith("Prices are streaming")
        await fake.drop_socket()
        await wait_for(lambda: feed.socket.state is SocketState.BACKOFF, 5, "backing off")

        assert feed.reconnect() == "Prices: reconnecting to XTS market data…"

        await wait_for(lambda: feed.socket.state is SocketState.OPEN, 3, "open without the wait")
        assert feed.socket.stats.reconnects == 1
    finally:
        await feed.stop()
        await session.close()
        await fake.close()


def test_reconnect_prices_in_the_window_when_on_the_paper_market_shows_the_answer(
    qtbot, paper: Engine, tmp_path: Path
) -> None:
    window = MainWindow(paper.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    try:
        trade = window.menuBar().actions()[0].menu()
        [action] = [a for a in trade.actions() if a.text() == "Reconnect prices"]
        action.trigger()
        assert window.statusBar().currentMessage() == SIMULATED

        health = HealthPanel(PanelContext(api=paper.api, bridge=window.bridge, theme=window.theme))
        qtbot.addWidget(health)
        health.reconnect_button.click()
        assert health.reconnect_answer.text() == SIMULATED
    finally:
        window.stop()
