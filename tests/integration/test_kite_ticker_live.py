"""The ticker client against the fake Kite ticker on 127.0.0.1: real sockets, real binary frames."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from engine.brokers.kite.config import KiteTickerConfig
from engine.brokers.kite.feed import KiteFeed
from engine.brokers.kite.ticker import KiteTick
from engine.brokers.kite.ticker_client import KiteTickerClient
from engine.brokers.kite.ticker_state import ConnectionState, ConnectionStateChange
from engine.core.bus import EventBus
from engine.core.clock import LiveClock
from engine.domain.events import ConnectionChanged
from engine.domain.orders import OrderStatus
from engine.domain.reports import OrderReport
from engine.domain.ticks import Tick
from engine.marketdata.quotes import QuoteCache
from tests.kite_fake import FakeKite, MarketState
from tests.kite_fake.packets import frame, packet

pytestmark = pytest.mark.timeout(60)

INFY = 408065
NFO_BASE = (40_000 << 8) | 2


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Feed:
    """A ticker client wired to lists, as the engine wires it to the quote cache and the bus."""

    def __init__(self, kite: FakeKite, access_token: str, **config: Any) -> None:
        self.ticks: list[Tick] = []
        self.kite_ticks: list[KiteTick] = []
        self.orders: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.changes: list[ConnectionStateChange] = []
        settings = {
            "url": kite.ticker.url,
            "data_timeout_s": 1.0,
            "reconnect_first_delay_s": 0.02,
            "reconnect_max_delay_s": 0.1,
            **config,
        }
        self.client = KiteTickerClient(
            kite.api_key,
            access_token,
            clock=LiveClock(),
            config=KiteTickerConfig(**settings),
            on_ticks=self.ticks.extend,
            on_kite_ticks=self.kite_ticks.extend,
            on_order_update=self.orders.append,
            on_error=self.errors.append,
            on_state=self.changes.append,
            rng=random.Random(3),
        )

    def opens(self) -> int:
        return sum(1 for c in self.changes if c.state is ConnectionState.OPEN)


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with FakeKite(heartbeat_s=0.1) as fake:
        yield fake


@pytest.fixture
async def feed(kite: FakeKite) -> AsyncIterator[Feed]:
    made = Feed(kite, kite.login())
    made.client.start()
    await wait_for(lambda: made.client.states == [ConnectionState.OPEN])
    yield made
    await made.client.stop()


async def test_subscribe_when_open_sends_subscribe_and_mode_and_streams_paise_ticks(
    kite: FakeKite, feed: Feed
) -> None:
    await feed.client.subscribe([INFY], "full")
    await wait_for(lambda: kite.ticker.subscribed() == {INFY: "full"})

    kite.ticker.push([MarketState(INFY, 157_370, close=156_780, bids=[(5, 157_340, 1)])])
    await wait_for(lambda: len(feed.ticks) == 1)

    assert kite.ticker.received == [
        {"a": "subscribe", "v": [INFY]},
        {"a": "mode", "v": ["full", [INFY]]},
    ]
    tick = feed.ticks[0]
    assert (tick.token, tick.ltp, tick.close, tick.bid, tick.bid_qty) == (
        INFY,
        157_370,
        156_780,
        157_340,
        5,
    )
    assert feed.kite_ticks[0].last_price == 1573.7
    assert feed.client.stats.bad_frames == 0


async def test_ticker_when_idle_keeps_the_connection_alive_on_heartbeats(
    kite: FakeKite, feed: Feed
) -> None:
    await asyncio.sleep(1.5)  # longer than data_timeout_s, with only heartbeats arriving

    assert feed.client.stats.heartbeats >= 5
    assert feed.client.stats.watchdog_trips == 0
    assert feed.opens() == 1


async def test_subscribe_when_over_3000_tokens_opens_a_second_connection(
    kite: FakeKite, feed: Feed
) -> None:
    tokens = [NFO_BASE + (i << 8) for i in range(3001)]

    await feed.client.subscribe(tokens, "quote")
    await wait_for(lambda: feed.client.states == [ConnectionState.OPEN] * 2)
    await wait_for(lambda: len(kite.ticker.subscribed()) == 3001)
    kite.ticker.push([MarketState(token, 10_000) for token in tokens])
    await wait_for(lambda: len(feed.ticks) == 3001)

    assert [len(session.modes) for session in kite.ticker.sessions] in ([3000, 1], [1, 3000])
    assert {t.token for t in feed.ticks} == set(tokens)


async def test_ticker_when_dropped_20_times_resubscribes_every_time(
    kite: FakeKite, feed: Feed
) -> None:
    tokens = {INFY: "full", NFO_BASE: "ltp"}
    for token, mode in tokens.items():
        await feed.client.subscribe([token], mode)
    await wait_for(lambda: kite.ticker.subscribed() == tokens)

    for drop in range(1, 21):
        assert await kite.ticker.drop_all() == 1
        await wait_for(
            lambda drop=drop: feed.opens() == drop + 1 and kite.ticker.subscribed() == tokens
        )
        kite.ticker.push([MarketState(INFY, 157_000 + drop), MarketState(NFO_BASE, 500 + drop)])
        await wait_for(lambda drop=drop: any(t.ltp == 157_000 + drop for t in feed.ticks))

    reconnects = [c for c in feed.changes if c.state is ConnectionState.OPEN and c.reconnect]
    assert len(reconnects) == 20
    assert feed.client.stats.reconnects == 20
    assert feed.client.stats.bad_frames == 0


async def test_ticker_when_malformed_frames_arrive_counts_them_and_keeps_streaming(
    kite: FakeKite, feed: Feed
) -> None:
    await feed.client.subscribe([INFY], "full")
    await wait_for(lambda: kite.ticker.subscribed() == {INFY: "full"})
    good = frame([packet(MarketState(INFY, 157_370), "full")])

    for bad in (good[:50], good + b"\x00", b"\x00\x01\x00\x05abcde", b"\xff\xff"):
        kite.ticker.send_raw(bad)
    kite.ticker.send_raw("{not json")
    kite.ticker.push([MarketState(INFY, 157_375)])
    await wait_for(lambda: any(t.ltp == 157_375 for t in feed.ticks))

    assert feed.client.stats.bad_frames == 4
    assert feed.client.stats.bad_text == 1
    assert feed.opens() == 1


async def test_ticker_when_frames_come_slowly_delivers_them_in_order_without_reconnecting(
    kite: FakeKite, feed: Feed
) -> None:
    await feed.client.subscribe([INFY], "ltp")
    await wait_for(lambda: kite.ticker.subscribed() == {INFY: "ltp"})
    kite.ticker.slow_s = 0.2  # well inside the 1 s data timeout

    for price in range(157_000, 157_005):
        kite.ticker.push([MarketState(INFY, price)])
    await wait_for(lambda: len(feed.ticks) == 5)

    assert [t.ltp for t in feed.ticks] == list(range(157_000, 157_005))
    assert feed.client.stats.watchdog_trips == 0 and feed.opens() == 1


async def test_ticker_when_feed_stalls_trips_the_watchdog_and_reconnects(
    kite: FakeKite, feed: Feed
) -> None:
    await feed.client.subscribe([INFY], "quote")
    await wait_for(lambda: kite.ticker.subscribed() == {INFY: "quote"})

    kite.ticker.stall()
    await wait_for(lambda: feed.client.stats.watchdog_trips == 1, timeout=3)
    kite.ticker.stall(False)
    await wait_for(lambda: feed.opens() == 2 and kite.ticker.subscribed() == {INFY: "quote"})
    kite.ticker.push([MarketState(INFY, 157_390)])
    await wait_for(lambda: any(t.ltp == 157_390 for t in feed.ticks))

    assert feed.client.stats.reconnects == 1


async def test_ticker_when_handshakes_are_refused_backs_off_and_connects(
    kite: FakeKite, feed: Feed
) -> None:
    kite.ticker.refuse_next = 3

    await kite.ticker.drop_all()
    await wait_for(lambda: feed.opens() == 2)

    backoffs = [c for c in feed.changes if c.state is ConnectionState.BACKOFF]
    assert len(backoffs) == 4  # the drop, then three refusals
    assert "HTTP 503" in backoffs[-1].detail


async def test_ticker_when_token_expires_stops_and_resumes_after_a_new_login(
    kite: FakeKite, feed: Feed
) -> None:
    await feed.client.subscribe([INFY], "quote")
    await wait_for(lambda: kite.ticker.subscribed() == {INFY: "quote"})

    await kite.expire_token()
    await wait_for(lambda: feed.client.states == [ConnectionState.AUTH_REJECTED])
    handshakes = kite.ticker.handshakes
    await asyncio.sleep(0.3)

    assert feed.errors == ["Token expired"]
    assert kite.ticker.handshakes == handshakes  # it waits for a login instead of hammering
    assert feed.client.stats.auth_rejections == 1

    feed.client.set_access_token(kite.login())
    await wait_for(lambda: feed.client.states == [ConnectionState.OPEN])
    await wait_for(lambda: kite.ticker.subscribed() == {INFY: "quote"})


async def test_ticker_when_refused_on_a_token_a_new_login_replaced_connects_with_the_new_one(
    kite: FakeKite, feed: Feed
) -> None:
    await feed.client.subscribe([INFY], "quote")
    await kite.expire_token()
    fresh: list[str] = []

    def login_during_the_handshake(access_token: str) -> None:
        # The trader logs in while a reconnect on the dead token is on its way.
        if not fresh:
            fresh.append(kite.login())
            feed.client.set_access_token(fresh[0])

    kite.ticker.on_handshake = login_during_the_handshake
    await wait_for(lambda: bool(fresh))
    await wait_for(lambda: feed.client.states == [ConnectionState.OPEN])
    await wait_for(lambda: kite.ticker.subscribed() == {INFY: "quote"})

    assert ConnectionState.AUTH_REJECTED not in {change.state for change in feed.changes}
    assert feed.client.stats.auth_rejections == 0
    assert kite.ticker.refused >= 1


async def test_ticker_when_orders_change_at_the_broker_delivers_order_updates(
    kite: FakeKite, feed: Feed
) -> None:
    params = {
        "exchange": "NFO",
        "tradingsymbol": "BANKNIFTY18JAN23500CE",
        "transaction_type": "BUY",
        "quantity": "80",
        "product": "NRML",
        "order_type": "LIMIT",
        "price": "2528.40",
        "tag": "D0000000001",
    }
    order_id = kite.oms.place("regular", params)
    kite.oms.fill(order_id, 40)
    kite.oms.fill(order_id, 40)

    await wait_for(lambda: len(feed.orders) == 3)

    assert [(o["status"], o["filled_quantity"]) for o in feed.orders] == [
        ("OPEN", 0),
        ("UPDATE", 40),
        ("COMPLETE", 80),
    ]
    assert {o["tag"] for o in feed.orders} == {"D0000000001"}


async def test_ticker_when_stopped_closes_every_connection(kite: FakeKite) -> None:
    feed = Feed(kite, kite.login(), tokens_per_connection=1)
    feed.client.start()
    await feed.client.subscribe([INFY, NFO_BASE], "ltp")
    await wait_for(lambda: len(kite.ticker.sessions) == 2)

    await feed.client.stop()
    await wait_for(lambda: kite.ticker.sessions == [])

    assert feed.client.states == [ConnectionState.CLOSED] * 2


async def test_kite_feed_when_wired_to_the_engine_fills_the_quote_cache_and_reports(
    kite: FakeKite,
) -> None:
    bus, quotes = EventBus(), QuoteCache()
    seen_ticks: list[Tick] = []
    bus.subscribe(Tick, seen_ticks.append)
    connection_events: list[ConnectionChanged] = []
    bus.subscribe(ConnectionChanged, connection_events.append)
    reports: list[OrderReport] = []
    reconnects: list[bool] = []

    def publish(tick: Tick) -> None:
        quotes.update(tick)
        bus.publish(tick)

    feed = KiteFeed(
        kite.api_key,
        kite.login(),
        clock=LiveClock(),
        publish=publish,
        events=bus.publish,
        on_order_report=reports.append,
        on_reconnect=lambda: reconnects.append(True),
        config=KiteTickerConfig(url=kite.ticker.url, reconnect_first_delay_s=0.02),
    )
    feed.start()
    await feed.watch([INFY])
    await wait_for(lambda: kite.ticker.subscribed() == {INFY: "full"})
    kite.ticker.push([MarketState(INFY, 157_370, close=156_780, asks=[(10, 157_375, 2)])])
    order_id = kite.oms.place(
        "regular",
        {
            "exchange": "NSE",
            "tradingsymbol": "ABCAPITAL-BL",
            "transaction_type": "SELL",
            "quantity": "1",
            "product": "CNC",
            "order_type": "LIMIT",
            "price": "100.05",
        },
    )
    await wait_for(lambda: quotes.ltp(INFY) == 157_370 and len(reports) == 1)
    await kite.ticker.drop_all()
    await wait_for(lambda: reconnects == [True])
    await feed.stop()

    cached = quotes.get(INFY)
    assert cached is not None and (cached.ltp, cached.ask, cached.close) == (
        157_370,
        157_375,
        156_780,
    )
    assert seen_ticks and {t.ltp for t in seen_ticks} == {157_370}  # the push, then snapshots
    assert (reports[0].broker_order_id, reports[0].status, reports[0].price) == (
        order_id,
        OrderStatus.OPEN,
        10_005,
    )
    assert [e.state for e in connection_events][:2] == ["connecting", "open"]
    assert connection_events[-1].state == "closed"
