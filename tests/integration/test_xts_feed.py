"""The XTS feed end to end against the fake XTS on 127.0.0.1: REST login and subscriptions, the
Socket.IO v2 stream into the engine's quote cache, drops, stalls, malformed events, token expiry."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from engine.brokers.xts.feed import XtsFeed, XtsFeedConfig
from engine.brokers.xts.marketdata_session import (
    MarketDataSession,
    XtsMarketDataKeys,
    XtsSubscriptionQuotaExhausted,
)
from engine.brokers.xts.master import (
    download_master,
    parse_index_list,
    token_of,
    xts_instrument,
)
from engine.brokers.xts.socketio_v2 import SocketIOConfig
from engine.core.clock import LiveClock
from engine.domain.bars import Bar
from engine.domain.events import ConnectionChanged
from engine.domain.instruments import InstrumentType
from engine.domain.ticks import Tick
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.quotes import QuoteCache
from engine.runtime import Engine, EngineConfig
from tests.kite_desk import wait_for
from tests.xts_fake.marketdata import FakeXtsMarketData

pytestmark = pytest.mark.timeout(90)

RELIANCE = token_of(1, 2885)
NIFTY_FUT = token_of(2, 35001)
OPTIONS = [token_of(2, n) for n in range(40001, 40011)]
FAST_SOCKET = SocketIOConfig(first_delay_s=0.01, max_delay_s=0.05, data_timeout_s=0.8)


class Desk:
    """The feed wired as the engine wires it: ticks into the quote cache, events into a list."""

    def __init__(self, fake: FakeXtsMarketData, mode: str = "Partial", codes=(1502,)) -> None:
        self.fake = fake
        self.quotes = QuoteCache()
        self.events: list[ConnectionChanged] = []
        self.bars: list[Bar] = []
        self.session = MarketDataSession(XtsMarketDataKeys(fake.url, fake.app_key, fake.secret_key))
        self.feed = XtsFeed(
            self.session,
            clock=LiveClock(),
            publish=self.quotes.update,
            events=self.events.append,  # type: ignore[arg-type]
            on_bar=self.bars.append,
            config=XtsFeedConfig(message_codes=codes, broadcast_mode=mode, socket=FAST_SOCKET),
            rng=random.Random(5),
        )

    def states(self) -> list[str]:
        return [event.state for event in self.events]

    async def close(self) -> None:
        await self.feed.stop()
        await self.session.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeXtsMarketData]:
    server = FakeXtsMarketData()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def desk(fake: FakeXtsMarketData) -> AsyncIterator[Desk]:
    wired = Desk(fake)
    yield wired
    await wired.close()


async def started(desk: Desk, tokens: list[int]) -> None:
    """The feed started, the tokens watched, and every subscription made at the server."""
    await desk.feed.start()
    await desk.feed.watch(tokens)
    await wait_for(lambda: desk.feed.socket.state.value == "open")
    wanted = {
        (*xts_instrument(token), code)
        for token in tokens
        for code in desk.feed.config.message_codes
    }
    await wait_for(lambda: wanted <= desk.fake.subscribed())


async def test_xts_feed_login_subscribe_and_ticks_reach_the_quote_cache(
    fake: FakeXtsMarketData, desk: Desk
) -> None:
    await started(desk, [RELIANCE, NIFTY_FUT, *OPTIONS])
    # The subscribe replies' snapshots already priced every instrument.
    await wait_for(lambda: len(desk.quotes) == 12)
    assert desk.quotes.ltp(RELIANCE) == 141050
    assert fake.subscribed() >= {(1, 2885, 1502), (2, 35001, 1502)}
    fake.set_price(1, 2885, 1412.35)
    assert await fake.push(1, 2885) == 1
    await wait_for(lambda: desk.quotes.ltp(RELIANCE) == 141235)
    tick = desk.quotes.get(RELIANCE)
    assert tick is not None and len(tick.bids) == 5 and tick.bid == 141230
    assert "open" in desk.states()


async def test_xts_feed_partial_deltas_merge_into_the_full_picture(
    fake: FakeXtsMarketData, desk: Desk
) -> None:
    await started(desk, [NIFTY_FUT])
    await wait_for(lambda: NIFTY_FUT in desk.quotes)
    await fake.push(2, 35001)  # the session's first event is full
    for price in (26081.0, 26082.5, 26079.95):
        fake.set_price(2, 35001, price)
        await fake.push(2, 35001)  # then partial strings
    await wait_for(lambda: desk.quotes.ltp(NIFTY_FUT) == 2607995)
    tick = desk.quotes.get(NIFTY_FUT)
    assert tick is not None
    assert tick.bids[0] == (2607990, 75, 1) and tick.asks[4] == (2608020, 375, 5)
    assert tick.close == 2601050 and tick.volume == 20_003  # from the full event and the deltas
    assert desk.feed.stats.malformed == {}


async def test_xts_feed_twenty_socket_drops_give_twenty_reconnects_and_resubscribes(
    fake: FakeXtsMarketData, desk: Desk
) -> None:
    await started(desk, [RELIANCE, *OPTIONS[:4]])
    subscribe_calls = desk.feed.stats.subscribe_calls
    for n in range(1, 21):
        await wait_for(lambda: len(fake.socket.sessions) == 1)
        await fake.drop_socket()
        await wait_for(lambda n=n: desk.feed.socket.stats.reconnects == n)
    await wait_for(lambda: desk.feed.stats.resubscribes == 20)
    await wait_for(lambda: desk.feed.stats.subscribe_calls == subscribe_calls + 20)
    assert desk.states().count("open") == 21
    await wait_for(lambda: len(fake.socket.sessions) == 1)
    fake.set_price(2, 40002, 99.95)
    await fake.push(2, 40002)
    await wait_for(lambda: desk.quotes.ltp(OPTIONS[1]) == 9995)


async def test_xts_feed_malformed_events_are_counted_logged_once_per_kind_and_survived(
    fake: FakeXtsMarketData, desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    await started(desk, [RELIANCE])
    for _ in range(3):
        await fake.send_malformed()
    fake.set_price(1, 2885, 1415.0)
    await fake.push(1, 2885)
    await wait_for(lambda: desk.quotes.ltp(RELIANCE) == 141500)
    malformed = desk.feed.stats.malformed
    assert malformed == {
        "1501-json-full": 6,
        "1502-json-full": 3,
        "1501-json-partial": 3,
        "1502-json-partial": 3,
        "1512-json-full": 3,
    }
    assert desk.feed.socket.stats.bad_frames == 3
    assert caplog.text.count("skipped a malformed 1501-json-full") == 1
    assert desk.feed.socket.stats.reconnects == 0


async def test_xts_feed_token_expiry_is_reported_and_answered_by_a_new_login(
    fake: FakeXtsMarketData, desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await started(desk, [RELIANCE, NIFTY_FUT])
    first_token = fake.session.token if fake.session else ""
    fake.expire_token()  # the server forgets the token and its subscriptions
    await fake.drop_socket()
    await wait_for(lambda: "auth rejected" in desk.states())
    await wait_for(lambda: desk.feed.socket.stats.reconnects == 1)
    assert fake.logins == 2 and desk.feed.stats.relogins == 1
    await wait_for(lambda: fake.subscribed() == {(1, 2885, 1502), (2, 35001, 1502)})
    await wait_for(lambda: len(fake.socket.sessions) == 1)
    fake.set_price(2, 35001, 26100.0)
    await fake.push(2, 35001)
    await wait_for(lambda: desk.quotes.ltp(NIFTY_FUT) == 2610000)
    # A REST call with a dead token logs in again too.
    fake.expire_token()
    await desk.feed.watch([OPTIONS[0]])
    assert fake.logins == 3 and (2, 40001, 1502) in fake.subscribed()
    for secret in (fake.app_key, fake.secret_key, first_token, fake.session.token):
        assert secret not in caplog.text


async def test_xts_feed_when_the_new_login_is_refused_reports_login_required(
    fake: FakeXtsMarketData, desk: Desk
) -> None:
    await started(desk, [RELIANCE])
    fake.expire_token()
    fake.secret_key = "rotated-secret"  # the keys in the keyring no longer work
    await fake.drop_socket()
    await wait_for(lambda: "login required" in desk.states())
    detail = next(e.detail for e in desk.events if e.state == "login required")
    assert "Invalid appKey or secretKey" in detail
    fake.secret_key = desk.session.keys.secret_key
    await desk.feed.relogin()
    await wait_for(lambda: desk.feed.socket.state.value == "open")


async def test_xts_feed_watchdog_reconnects_a_stalled_socket(
    fake: FakeXtsMarketData, desk: Desk
) -> None:
    await started(desk, [RELIANCE])
    fake.socket.stall()
    await wait_for(lambda: desk.feed.socket.stats.watchdog_trips == 1)
    fake.socket.stall(False)
    await wait_for(lambda: desk.feed.stats.resubscribes == 1)


async def test_xts_feed_unwatch_unsubscribes_and_stops_the_ticks(
    fake: FakeXtsMarketData, desk: Desk
) -> None:
    await started(desk, [RELIANCE, NIFTY_FUT])
    await desk.feed.unwatch([RELIANCE])
    assert fake.subscribed() == {(2, 35001, 1502)}
    assert await fake.push(1, 2885) == 0
    assert list(desk.feed.watched) == [NIFTY_FUT]


async def test_xts_feed_full_mode_touchline_oi_and_candles(fake: FakeXtsMarketData) -> None:
    desk = Desk(fake, mode="Full", codes=(1501, 1510, 1505))
    try:
        await started(desk, [NIFTY_FUT])
        fake.flat_touchline = True
        fake.set_price(2, 35001, 26090.0, oi=1_600_000)
        for code in (1501, 1510, 1505):
            await fake.push(2, 35001, code)
        await wait_for(lambda: len(desk.bars) == 2)  # the subscribe snapshot's, then the pushed
        tick = desk.quotes.get(NIFTY_FUT)
        assert tick is not None and (tick.ltp, tick.oi) == (2609000, 1_600_000)
        assert desk.bars[1].close == 2609000 and desk.bars[1].high == 2609000
    finally:
        await desk.close()


async def test_xts_feed_refuses_tokens_of_segments_xts_does_not_stream(desk: Desk) -> None:
    with pytest.raises(ValueError, match="not an instrument of a segment XTS streams"):
        await desk.feed.watch([256265])  # Kite's NIFTY 50 index token
    assert desk.feed.watched == {}


async def test_xts_feed_with_the_quota_nearly_used_reconnects_and_resubscribes_everything(
    fake: FakeXtsMarketData,
) -> None:
    fake.quota = 12
    desk = Desk(fake)
    desk.feed.config = XtsFeedConfig(subscribe_chunk=4, socket=FAST_SOCKET)
    try:
        await started(desk, [RELIANCE, NIFTY_FUT, *OPTIONS])  # 12 of 12
        # The server counts a subscription before the desk has read its reply with the quota.
        await wait_for(lambda: desk.session.remaining_subscriptions == 0)
        with pytest.raises(XtsSubscriptionQuotaExhausted, match="0 subscriptions left"):
            await desk.feed.watch([token_of(1, 1594)])
        assert token_of(1, 1594) not in desk.feed.watched
        await fake.drop_socket()
        await wait_for(lambda: desk.feed.stats.resubscribes == 1)
        # 3 chunks, the refused attempt, then 3 chunks again: all answered e-session-0002.
        await wait_for(lambda: desk.feed.stats.subscribe_calls == 7)
        assert not desk.events or "re-subscribing failed" not in desk.events[-1].detail
        assert desk.states().count("error") == 0
    finally:
        await desk.close()


async def test_xts_feed_run_waits_for_good_keys_and_for_the_server_then_streams(
    fake: FakeXtsMarketData,
) -> None:
    desk = Desk(fake)
    real_secret, fake.secret_key = fake.secret_key, "rotated-secret"
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(desk.feed.run(desk.quotes.update, stop))
    try:
        await wait_for(lambda: "login required" in desk.states())
        assert not task.done()  # a refused login does not end the feed
        fake.secret_key = real_secret
        await desk.feed.relogin()
        await wait_for(lambda: desk.feed.socket.state.value == "open")
        await desk.feed.watch([RELIANCE])
        await wait_for(lambda: RELIANCE in desk.quotes)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await desk.session.close()
    assert desk.feed.socket.state.value == "closed"


async def test_xts_feed_run_retries_an_unreachable_server_with_backoff() -> None:
    fake = FakeXtsMarketData()
    desk = Desk(fake)  # fake.url points at port 0 until started: nothing listens there
    desk.session.keys = XtsMarketDataKeys("http://127.0.0.1:9", fake.app_key, fake.secret_key)
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(desk.feed.run(desk.quotes.update, stop))
    try:
        await wait_for(lambda: desk.states().count("backoff") >= 2)
        assert "could not be reached" in desk.events[0].detail and not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await desk.session.close()


async def test_xts_feed_a_failing_subscriber_is_isolated(fake: FakeXtsMarketData) -> None:
    desk = Desk(fake)
    seen: list[int] = []

    def fragile(tick: Tick) -> None:
        if tick.token == RELIANCE:
            raise RuntimeError("a broken subscriber")
        seen.append(tick.token)

    desk.feed._publish = fragile
    try:
        await started(desk, [RELIANCE, NIFTY_FUT])  # the snapshots already reach it
        await wait_for(lambda: NIFTY_FUT in seen)
        await fake.push(1, 2885)
        await fake.push(2, 35001)
        await wait_for(lambda: seen.count(NIFTY_FUT) == 2)
        assert desk.feed.stats.callback_errors == 2
    finally:
        await desk.close()


@pytest.mark.parametrize("rest_delay_s", [0.0, 0.3], ids=["rest-first", "socket-first"])
async def test_xts_feed_a_token_refused_by_rest_and_socket_at_once_is_replaced_once(
    fake: FakeXtsMarketData, desk: Desk, rest_delay_s: float
) -> None:
    await started(desk, [RELIANCE])
    fake.slow_s = rest_delay_s
    for logins in (2, 3, 4):
        fake.expire_token()
        # The socket reconnects with the dead token while a REST call meets it too.
        await asyncio.gather(fake.drop_socket(), desk.feed.watch([OPTIONS[logins]]))
        await wait_for(lambda: len(fake.socket.sessions) == 1)
        await wait_for(lambda n=logins: (2, 40001 + n, 1502) in fake.subscribed())
        assert fake.logins == logins  # one new login served both
    refused_sockets = desk.feed.socket.stats.auth_rejections
    if rest_delay_s:  # the socket met each dead token before the slow REST call did
        assert refused_sockets == 3
    else:  # which meets a dead token first is the scheduler's choice: at most once an expiry
        assert refused_sockets <= 3


async def test_xts_feed_close_logs_out_and_ends_the_subscriptions(fake: FakeXtsMarketData) -> None:
    desk = Desk(fake)
    await started(desk, [RELIANCE])
    await desk.feed.close()
    assert fake.session is None and not desk.session.logged_in
    assert ("DELETE", "/apimarketdata/auth/logout") in fake.requests
    await wait_for(lambda: not fake.socket.sessions)
    assert desk.feed.socket.state.value == "closed"


async def test_xts_feed_as_the_engines_feed_prices_the_instruments_of_the_xts_master(
    fake: FakeXtsMarketData, tmp_path: Path
) -> None:
    session = MarketDataSession(XtsMarketDataKeys(fake.url, fake.app_key, fake.secret_key))
    await session.login()
    master = await download_master(session.master)
    indices = parse_index_list(await session.index_list(1), 1)
    sink: list[Callable[[object], None]] = []
    registry: list[InstrumentRegistry] = []

    def is_index(token: int) -> bool:
        instrument = registry[0].find(token)
        return instrument is not None and instrument.instrument_type is InstrumentType.INDEX

    feed = XtsFeed(
        session,
        clock=LiveClock(),
        publish=lambda tick: None,  # run() hands the engine's on_tick in
        events=lambda event: sink[0](event),
        is_index=is_index,
        config=XtsFeedConfig(socket=FAST_SOCKET),
    )
    engine = Engine.build(
        EngineConfig(db_url=f"sqlite:///{tmp_path / 'book.db'}"),
        feed=feed,
        instruments=[*master.instruments, *indices.instruments],
    )
    changes: list[ConnectionChanged] = []
    sink.append(engine.bus.publish)
    registry.append(engine.registry)
    engine.bus.subscribe(ConnectionChanged, changes.append)
    engine.start()
    try:
        await wait_for(lambda: feed.socket.state.value == "open")
        call = engine.registry.by_symbol("NFO", "NIFTY26D0826000CE")
        assert call is not None and call.token == OPTIONS[4] and call.lot_size == 65
        await feed.watch([RELIANCE, call.token])
        await wait_for(lambda: engine.api.tick(call.token) is not None)
        fake.set_price(2, 40005, 102.35)
        await fake.push(2, 40005)
        await wait_for(lambda: engine.api.tick(call.token).ltp == 10235)  # type: ignore[union-attr]
        quote = engine.api.quote(RELIANCE)
        assert quote is not None and str(quote.ltp) == "1410.5"
        assert engine.quotes.ltp(call.token) == 10235
        nifty = engine.registry.spot_tokens()["NIFTY"]
        assert nifty == token_of(1, 26000)  # NIFTY 50 from the index list, as XTS streams it
        await feed.watch([nifty])
        assert (1, 26000, 1501) in fake.subscribed()  # an index streams its touchline, no book
        await wait_for(lambda: engine.quotes.ltp(nifty) == 2601235)
        fake.set_price(1, 26000, 26020.0)
        await fake.push(1, 26000, 1501)
        await wait_for(lambda: engine.quotes.ltp(nifty) == 2602000)
        assert any(change.state == "open" for change in changes)
    finally:
        await engine.stop()
        await feed.close()
