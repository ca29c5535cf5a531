"""The one kill switch of a desk trading a Kite account and an XTS account, both on their fakes
(127.0.0.1): the square-off asked with it counts and closes the positions of both accounts,
every press halts both (also one on an account already HALTED), and closing the desk while one
broker does not answer stops both accounts at once and within seconds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web

from app.gui import desk_kill_switch
from engine.api import TradingState
from engine.brokers.xts.credentials import xts_market_data_keys
from engine.brokers.xts.feed import LOGOUT_AT_CLOSE_S
from engine.brokers.xts.link import XtsLink
from engine.brokers.xts.marketdata_session import MarketDataSession
from engine.brokers.xts.session import XtsSession
from engine.core.clock import LiveClock
from engine.credentials import CredentialStore
from engine.domain.orders import OrderStatus
from engine.runtime import Engine, EngineConfig
from engine.runtime.accounts import Accounts
from tests import kite_desk
from tests.kite_desk import ADANIPORTS, KiteDesk, market
from tests.kite_fake import FakeKite
from tests.live_desk import wait_for
from tests.memory_keyring import MemoryKeyring
from tests.xts_desk import (
    ADANIPORTS_INSTRUMENT,
    ADANIPORTS_TOKEN,
    FAST_LIMITS,
    FAST_SOCKET,
    fast_broker,
    fast_feed,
    fast_rest,
    save_fake_account,
)
from tests.xts_fake import ADANIPORTS as XTS_ADANIPORTS
from tests.xts_fake import FakeXts
from ui.bridge import EngineBridge
from ui.context import PanelContext
from ui.kill_switch import KILL_REASON, press_desk_kill_switch
from ui.theme import ThemeHolder

pytestmark = pytest.mark.timeout(120)

MARKET_DATA_TIMEOUT_S = 15.0
"""The desk's own market-data call timeout (``MarketDataSession``'s default)."""


class Desk:
    """Both accounts on their fakes, as ``dalaldesk --broker kite --also xts`` runs them (the
    XTS market data with the desk's own timeouts), and the fake XTS able to stop answering."""

    def __init__(self, kite: FakeKite, xts: FakeXts, on_kite: KiteDesk, xts_engine: Engine):
        self.kite, self.xts, self.on_kite, self.xts_engine = kite, xts, on_kite, xts_engine
        self.accounts = Accounts({"kite": on_kite.engine, "xts": xts_engine})
        self.xts_silent = False
        self.stopped = False
        """A test that closes the desk itself says so (the fixture closes it otherwise)."""

    def xts_order(self, order_id: str) -> dict:  # type: ignore[type-arg]
        [order] = self.xts.oms.find(order_id)
        return order  # type: ignore[no-any-return]


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    silent: list[Desk] = []
    answering_again = asyncio.Event()

    @web.middleware
    async def no_answer(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if silent and silent[0].xts_silent:
            await answering_again.wait()  # accepts the request, no reply while the test runs
        return await handler(request)

    xts = FakeXts(limits=FAST_LIMITS)
    xts.app.middlewares.append(no_answer)
    async with FakeKite(heartbeat_s=0.1) as kite, xts:
        kite.oms.set_last_price("NSE", "ADANIPORTS", Decimal("400.00"))
        kite.ticker.set_market([market()])
        xts.set_market(XTS_ADANIPORTS, Decimal("400.00"))
        kite_store = CredentialStore("accounts", backend=MemoryKeyring())
        kite_store.save_kite_keys(kite.api_key, kite.api_secret)
        xts_store = CredentialStore("accounts", backend=MemoryKeyring())
        save_fake_account(xts, xts_store)
        on_kite = await kite_desk.open_desk(kite, kite_store, tmp_path / "kite.db")
        clock = LiveClock()
        session = XtsSession(xts_store, clock=clock, rest_config=fast_rest(xts))
        link = XtsLink(
            session,
            clock=clock,
            broker_config=fast_broker(),
            market_data=MarketDataSession(xts_market_data_keys(xts_store)),
            feed_config=fast_feed(),
            socket_config=FAST_SOCKET,
        )
        await session.login()
        xts_engine = Engine.build(
            EngineConfig(
                db_url=f"sqlite:///{tmp_path / 'xts.db'}",
                broker="xts",
                feed="xts",
                always_open=True,
                var_interval_seconds=0,
            ),
            clock=clock,
            link=link,
            instruments=[ADANIPORTS_INSTRUMENT],
        )
        xts_engine.start()
        await wait_for(lambda: link.broker is not None, what="XTS adapter")
        await wait_for(lambda: link.broker.paused_reason == "", what="XTS order flow")
        built = Desk(kite, xts, on_kite, xts_engine)
        silent.append(built)
        try:
            yield built
        finally:
            built.xts_silent = False
            answering_again.set()
            if not built.stopped:
                await built.accounts.stop()


@pytest.fixture
def kite_window(desk: Desk, qapp) -> Iterator[tuple[PanelContext, list[str]]]:  # type: ignore[no-untyped-def]
    """The Kite window's panel context, its square-off question answered Yes by the trader."""
    api = desk.accounts.api("kite")
    asked: list[str] = []

    def yes(title: str, text: str, action) -> None:  # type: ignore[no-untyped-def]
        asked.append(text)
        action()

    bridge = EngineBridge(api)
    yield PanelContext(api=api, bridge=bridge, theme=ThemeHolder("dark"), confirm=yes), asked
    bridge.stop()


def place(desk: Desk, account: str, token: int, side: str, quantity: int, price: str) -> str:
    outcome = desk.accounts.place_order(
        account, token, side, quantity, "LIMIT", product="MIS", price=Decimal(price)
    )
    assert outcome.ok, outcome.reason
    assert outcome.order_id is not None
    return outcome.order_id


async def hold(desk: Desk, account: str, side: str, quantity: int) -> None:
    """A position on ``account``: an order filled at its fake broker."""
    api = desk.accounts.api(account)
    token = ADANIPORTS if account == "kite" else ADANIPORTS_TOKEN
    order_id = place(desk, account, token, side, quantity, "400.00")
    await wait_for(lambda: api.order(order_id).status is OrderStatus.OPEN, what=f"{account} open")
    if account == "kite":
        desk.kite.oms.fill(desk.on_kite.broker_id(order_id), quantity)
    else:
        desk.xts.oms.fill(int(desk.xts_order(order_id)["AppOrderID"]), quantity)
    await wait_for(lambda: api.order(order_id).status is OrderStatus.COMPLETE, what="filled")


@pytest.mark.parametrize("kite_long", [10, 0], ids=["both-hold", "kite-flat"])
async def test_kill_switch_square_off_when_pressed_in_the_kite_window_counts_and_closes_every_account(
    desk: Desk, kite_window, kite_long: int
) -> None:
    context, asked = kite_window
    kite_api, xts_api = desk.accounts.api("kite"), desk.accounts.api("xts")
    kite_api.watch([ADANIPORTS])  # a square-off at market is protected from the last price
    xts_api.watch([ADANIPORTS_TOKEN])
    await wait_for(
        lambda: (
            kite_api.tick(ADANIPORTS) is not None and xts_api.tick(ADANIPORTS_TOKEN) is not None
        ),
        what="last prices on both accounts",
    )
    if kite_long:
        await hold(desk, "kite", "BUY", kite_long)
    await hold(desk, "xts", "SELL", 4)

    press_desk_kill_switch(context, desk_kill_switch(desk.accounts, "kite"))

    held = "kite 1, xts 1" if kite_long else "xts 1"
    count = "2 open positions" if kite_long else "1 open position"
    assert len(asked) == 1 and f"square off all {count} ({held})" in asked[0], asked
    assert {r.state for r in desk.accounts.status()} == {TradingState.HALTED}
    await wait_for(
        lambda: (
            [(o["OrderSide"], o["OrderQuantity"]) for o in desk.xts.oms.orders.values()][-1]
            == ("Buy", 4)
        ),
        what="XTS square-off BUY 4 at the XTS broker",
    )
    kite_orders = [(o["transaction_type"], o["quantity"]) for o in desk.kite.oms.orders.values()]
    if kite_long:
        await wait_for(
            lambda: (
                [(o["transaction_type"], o["quantity"]) for o in desk.kite.oms.orders.values()][-1]
                == ("SELL", kite_long)
            ),
            what="Kite square-off SELL at the Kite broker",
        )
    else:
        assert kite_orders == [], "nothing to close on Kite"


@pytest.mark.parametrize("pressed", ["kite-window", "kite-api"])
async def test_kill_switch_when_pressed_again_on_a_halted_account_halts_the_account_rearmed_since(
    desk: Desk, kite_window, pressed: str
) -> None:
    context, _asked = kite_window
    kite_api, xts_api = desk.accounts.api("kite"), desk.accounts.api("xts")

    def press() -> None:
        if pressed == "kite-window":
            press_desk_kill_switch(context, desk_kill_switch(desk.accounts, "kite"))
        else:  # the Risk panel's button, the local API: the account's own kill switch
            kite_api.kill_switch(reason=KILL_REASON)

    press()
    assert {r.state for r in desk.accounts.status()} == {TradingState.HALTED}
    assert xts_api.rearm("re-armed by the trader")  # the XTS window's Re-arm
    resting = place(desk, "xts", ADANIPORTS_TOKEN, "BUY", 10, "399.00")
    await wait_for(lambda: xts_api.order(resting).status is OrderStatus.OPEN, what="XTS open")

    press()  # the Kite account is HALTED already

    assert xts_api.trading_state().state is TradingState.HALTED
    assert "(on account kite)" in xts_api.trading_state().reason
    await wait_for(
        lambda: xts_api.order(resting).status is OrderStatus.CANCELLED,
        what="the XTS order cancelled at XTS",
    )
    assert desk.xts_order(resting)["OrderStatus"] == "Cancelled"
    assert kite_api.trading_state().state is TradingState.HALTED


async def test_accounts_close_when_the_xts_broker_stops_answering_stops_kite_at_once_and_xts_within_seconds(
    desk: Desk,
) -> None:
    kite_engine, xts_engine = desk.on_kite.engine, desk.xts_engine
    desk.xts_silent = True
    desk.stopped = True
    loop = asyncio.get_running_loop()
    began = loop.time()

    stopping = loop.create_task(desk.accounts.stop())
    await wait_for(lambda: kite_engine.database.closed, timeout=2.0, what="Kite account closed")
    assert not stopping.done(), "XTS is still waiting for its logout meanwhile"
    await asyncio.wait_for(stopping, LOGOUT_AT_CLOSE_S + 5)

    assert xts_engine.database.closed
    assert loop.time() - began < MARKET_DATA_TIMEOUT_S, "the logout did not hold the close"


async def test_accounts_close_when_one_account_fails_to_stop_still_stops_the_other_and_logs_it(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    kite_engine, xts_engine = desk.on_kite.engine, desk.xts_engine
    close_book = kite_engine.close

    def close_and_fail() -> None:
        close_book()
        raise RuntimeError("the Kite account's last step failed")

    kite_engine.close = close_and_fail  # type: ignore[method-assign]
    desk.stopped = True
    with caplog.at_level(logging.ERROR, logger="engine.runtime.accounts"):
        await desk.accounts.stop()

    assert xts_engine.database.closed, "the XTS account stopped all the same"
    assert any(
        "account kite did not stop cleanly" in r.getMessage() and r.exc_info for r in caplog.records
    ), caplog.text
