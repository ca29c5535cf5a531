"""The XTS market-data REST session against the fake XTS on 127.0.0.1: login, the envelope and its
errors, subscriptions with their quota, the master; and no key, secret or token in any log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from engine.brokers.xts.marketdata_session import (
    MarketDataSession,
    XtsLoginFailed,
    XtsMarketDataError,
    XtsMarketDataKeys,
    XtsSubscriptionQuotaExhausted,
    XtsTokenExpired,
    read_envelope,
)
from engine.brokers.xts.master import download_master, parse_index_list, parse_master
from engine.brokers.xts.socketio_v2 import SocketIOClient, SocketState
from tests.kite_desk import wait_for
from tests.xts_fake.marketdata import FakeXtsMarketData

pytestmark = pytest.mark.timeout(60)

NIFTY_OPTIONS = [(2, n) for n in range(40001, 40011)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeXtsMarketData]:
    server = FakeXtsMarketData(quota=12)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def session(fake: FakeXtsMarketData) -> AsyncIterator[MarketDataSession]:
    md = MarketDataSession(XtsMarketDataKeys(fake.url, fake.app_key, fake.secret_key))
    yield md
    await md.close()


def secrets_of(fake: FakeXtsMarketData) -> list[str]:
    out = [fake.app_key, fake.secret_key]
    if fake.session is not None:
        out.append(fake.session.token)
    return out


async def test_xts_md_login_gets_a_token_and_user_id_with_a_json_body(
    fake: FakeXtsMarketData, session: MarketDataSession
) -> None:
    await session.login()
    assert session.logged_in and session.user_id == "XTSUSER1"
    assert fake.login_bodies == ["json"]
    assert session.socket_query()["token"] == session.token
    assert fake.app_key not in repr(session.keys) and fake.secret_key not in repr(session.keys)


async def test_xts_md_fake_accepts_the_vendor_sdks_form_encoded_login(
    fake: FakeXtsMarketData,
) -> None:
    form = {"appKey": fake.app_key, "secretKey": fake.secret_key, "source": "WEBAPI"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(fake.url + "/apimarketdata/auth/login", data=form) as reply,
    ):
        body = await reply.json()
    assert body["type"] == "success" and body["result"]["token"]
    assert fake.login_bodies == ["form"]


async def test_xts_md_login_with_wrong_keys_fails_without_echoing_them(
    fake: FakeXtsMarketData, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = MarketDataSession(XtsMarketDataKeys(fake.url, "wrong-key-5d1", "wrong-secret-77b"))
    try:
        with pytest.raises(XtsLoginFailed, match="Invalid appKey or secretKey") as caught:
            await wrong.login()
    finally:
        await wrong.close()
    assert not wrong.logged_in
    for secret in ("wrong-key-5d1", "wrong-secret-77b"):
        assert secret not in str(caught.value) and secret not in caplog.text


@pytest.mark.parametrize("status", [400, 200])
async def test_xts_md_invalid_token_is_token_expired_whatever_the_http_status(
    fake: FakeXtsMarketData, session: MarketDataSession, status: int
) -> None:
    fake.dead_token_status = status
    await session.login()
    fake.expire_token()
    with pytest.raises(XtsTokenExpired, match="Invalid Token"):
        await session.subscribe(NIFTY_OPTIONS[:1], 1502)
    assert not session.logged_in  # the owner logs in again
    await session.login()
    assert (await session.subscribe(NIFTY_OPTIONS[:1], 1502)).snapshots


async def test_xts_md_subscribe_returns_snapshots_and_remaining_quota_and_resubscribe_is_ok(
    fake: FakeXtsMarketData, session: MarketDataSession
) -> None:
    await session.login()
    first = await session.subscribe(NIFTY_OPTIONS[:3], 1502)
    assert len(first.snapshots) == 3 and first.remaining == 9 and not first.already
    again = await session.subscribe(NIFTY_OPTIONS[:3], 1502)
    assert again.already and again.snapshots == []
    assert fake.subscribed() == {(2, n, 1502) for n in range(40001, 40004)}
    await session.unsubscribe(NIFTY_OPTIONS[:1], 1502)
    assert session.remaining_subscriptions == 10


async def test_xts_md_exhausted_quota_is_a_clear_error_from_the_server_and_beforehand(
    fake: FakeXtsMarketData, session: MarketDataSession
) -> None:
    await session.login()
    fake.quota = 2
    with pytest.raises(XtsSubscriptionQuotaExhausted, match="Subscription limit exceeded"):
        await session.subscribe(NIFTY_OPTIONS[:3], 1502)
    await session.subscribe(NIFTY_OPTIONS[:2], 1502)
    assert session.remaining_subscriptions == 0
    calls = len(fake.requests)
    with pytest.raises(XtsSubscriptionQuotaExhausted, match="0 subscriptions left"):
        await session.subscribe(NIFTY_OPTIONS[2:3], 1502)
    assert len(fake.requests) == calls  # refused without asking the server


async def test_xts_md_master_and_quotes_come_back_readable(
    fake: FakeXtsMarketData, session: MarketDataSession
) -> None:
    await session.login()
    text = await session.master(["NSECM", "NSEFO"])
    result = parse_master(text)
    assert len(result.instruments) == 13 and result.errors == []
    assert result.skipped_spreads == 1
    downloaded = await download_master(session.master)  # every segment the desk trades
    assert len(downloaded.instruments) == 14 and downloaded.skipped_segments == 0  # no MCX asked
    indices = parse_index_list(await session.index_list(1), 1)
    assert [i.underlying for i in indices.instruments] == [
        "NIFTY",
        "BANKNIFTY",
        "FINNIFTY",
        "INDIA VIX",
    ]
    quotes = await session.quotes([(1, 2885)], 1501)
    assert len(quotes) == 1 and '"ExchangeInstrumentID": 2885' in quotes[0]


async def test_xts_md_logout_ends_the_token(
    fake: FakeXtsMarketData, session: MarketDataSession
) -> None:
    await session.login()
    await session.logout()
    assert not session.logged_in and fake.session is None


async def test_xts_md_unreachable_server_is_a_readable_error() -> None:
    md = MarketDataSession(XtsMarketDataKeys("http://127.0.0.1:9", "k", "s"))
    try:
        with pytest.raises(XtsMarketDataError, match="could not be reached for POST"):
            await md.login()
    finally:
        await md.close()


def test_xts_md_envelope_is_decided_on_the_body_not_the_status() -> None:
    assert read_envelope('{"type":"success","result":{"a":1}}', 200, "x") == {"a": 1}
    with pytest.raises(XtsMarketDataError, match="no XTS envelope"):
        read_envelope("<html>bad gateway</html>", 502, "POST /x")
    with pytest.raises(XtsMarketDataError, match=r"Bad Request \(e-x-1\)"):
        read_envelope('{"type":"error","code":"e-x-1","description":"Bad Request"}', 200, "x")
    refused = read_envelope('{"type":"error","description":"Invalid Token"}', 200, "x")
    assert "refused the session token" in refused.message


async def test_xts_md_message_codes_the_desk_does_not_stream_are_refused_before_sending(
    fake: FakeXtsMarketData, session: MarketDataSession
) -> None:
    await session.login()
    with pytest.raises(ValueError, match="1504 is not one the desk streams"):
        await session.subscribe([(1, 26000)], 1504)
    assert ("POST", "/apimarketdata/instruments/subscription") not in fake.requests


async def test_xts_md_fake_mounts_on_a_shared_application_beside_other_routes() -> None:
    async def ping(request: web.Request) -> web.Response:
        return web.json_response({"pong": True})

    fake = FakeXtsMarketData()
    app = web.Application()
    app.router.add_get("/interactive/ping", ping)
    fake.install(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    root = f"http://127.0.0.1:{runner.addresses[0][1]}"
    md = MarketDataSession(XtsMarketDataKeys(root, fake.app_key, fake.secret_key))
    joined: list[str] = []
    socket = SocketIOClient(
        root, "/apimarketdata/socket.io", md.socket_query, on_event=lambda n, p: joined.append(n)
    )
    try:
        await md.login()
        socket.start()
        await wait_for(lambda: joined == ["joined"])
        assert socket.state is SocketState.OPEN
        async with aiohttp.ClientSession() as http, http.get(root + "/interactive/ping") as reply:
            assert (await reply.json()) == {"pong": True}
    finally:
        await socket.stop()
        await md.close()
        await runner.cleanup()
