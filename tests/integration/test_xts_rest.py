"""XTS REST against the fake XTS on 127.0.0.1: the envelope judged by its body (a dead token at
HTTP 400 and at HTTP 200), errors in words, the per-book rate limit, retries of reads only, and a
place whose answer is lost found by its ``orderUniqueIdentifier`` instead of being sent again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from engine.brokers.xts.config import XtsRestConfig
from engine.brokers.xts.errors import (
    LoginRefused,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    SessionExpired,
    XtsUnavailable,
)
from engine.brokers.xts.rest import XtsRest
from tests.xts_desk import FAST_LIMITS, fast_rest
from tests.xts_fake import ADANIPORTS, FakeXts

pytestmark = pytest.mark.timeout(60)

PLACE = {
    "exchangeSegment": "NSECM",
    "exchangeInstrumentID": 15083,
    "productType": "MIS",
    "orderType": "LIMIT",
    "orderSide": "BUY",
    "timeInForce": "DAY",
    "disclosedQuantity": 0,
    "orderQuantity": 10,
    "limitPrice": 399.5,
    "stopPrice": 0,
}


@pytest.fixture
async def xts() -> AsyncIterator[FakeXts]:
    async with FakeXts(limits=FAST_LIMITS) as fake:
        fake.set_market(ADANIPORTS, Decimal("400.00"))
        yield fake


class Rest:
    def __init__(self, xts: FakeXts, config: XtsRestConfig) -> None:
        self.expired: list[str] = []
        self.rest = XtsRest(config, on_session_expired=lambda: self.expired.append("expired"))
        self.xts = xts

    async def login(self) -> None:
        login = await self.rest.login(self.xts.interactive.app_key, self.xts.interactive.secret_key)
        self.rest.use(login)


@pytest.fixture
async def client(xts: FakeXts) -> AsyncIterator[Rest]:
    rest = Rest(xts, fast_rest(xts))
    await rest.login()
    try:
        yield rest
    finally:
        await rest.rest.close()


async def test_xts_login_sends_json_and_wrong_keys_are_refused_in_words(xts: FakeXts) -> None:
    rest = XtsRest(fast_rest(xts))
    try:
        login = await rest.login(xts.interactive.app_key, xts.interactive.secret_key)
        assert (login.user_id, login.is_investor_client) == ("XTSUSER1", True)
        assert login.token in xts.interactive.tokens and login.token not in repr(login)
        with pytest.raises(LoginRefused, match="Invalid appKey or secretKey"):
            await rest.login(xts.interactive.app_key, "wrong-secret")
    finally:
        await rest.close()
    assert xts.interactive.login_bodies == ["json", "json"]


@pytest.mark.parametrize("status", [400, 200])
async def test_xts_dead_token_is_read_from_the_body_whatever_the_status(
    xts: FakeXts, client: Rest, status: int
) -> None:
    xts.interactive.dead_token_status = status
    await xts.interactive.expire_tokens()

    with pytest.raises(SessionExpired, match="Invalid Token"):
        await client.rest.orders()
    calls = len(xts.interactive.requests)
    with pytest.raises(SessionExpired, match="log in again"):
        await client.rest.place_order("O1", PLACE)

    assert client.expired == ["expired"]  # told once
    assert len(xts.interactive.requests) == calls  # nothing sent on a dead session
    assert xts.oms.placed == 0


async def test_xts_validation_errors_are_read_out_field_by_field(
    xts: FakeXts, client: Rest
) -> None:
    with pytest.raises(OrderRejected) as refused:
        await client.rest.place_order("O1", {**PLACE, "orderSide": "SHORT"})
    text = str(refused.value)
    assert text.startswith("XTS could not place the order: Bad Request (orderSide:")
    assert "must be one of [BUY, SELL]" in text and "HTTP 400" in text


async def test_xts_refusal_of_the_oms_is_an_order_rejection_with_its_reason(
    xts: FakeXts, client: Rest
) -> None:
    placed = await client.rest.place_order("O1", PLACE)
    xts.oms.fill(int(placed.order_id), 10)
    with pytest.raises(OrderRejected, match="cannot be cancelled as it is in Filled state"):
        await client.rest.cancel_order(placed.order_id, "O1")


async def test_xts_reads_are_retried_after_429_and_5xx(xts: FakeXts, client: Rest) -> None:
    xts.interactive.fail_next("GET", "/orders", 429, {"type": "error", "code": "RATE_LIMIT_EXCEEDED",
                              "description": "Too many requests"})  # fmt: skip
    xts.interactive.fail_next("GET", "/orders", 503, {"type": "error", "code": "e-app-0500",
                              "description": "Service unavailable"})  # fmt: skip
    assert await client.rest.orders() == []
    assert client.rest.retries == 2 and client.rest.rate_limited == 1


async def test_xts_order_actions_are_never_sent_twice(xts: FakeXts, client: Rest) -> None:
    placed = await client.rest.place_order("O1", PLACE)
    xts.interactive.fail_next("PUT", "/orders", 429, {"type": "error", "code": "RATE_LIMIT_EXCEEDED",
                              "description": "Too many requests"})  # fmt: skip
    with pytest.raises(RateLimited, match="Too many requests"):
        await client.rest.modify_order({"appOrderID": int(placed.order_id)})
    xts.interactive.fail_next(
        "DELETE", "/orders", 502, {"type": "error", "description": "Bad gateway"}
    )
    with pytest.raises(OutcomeUnknown, match="Bad gateway"):
        await client.rest.cancel_order(placed.order_id, "O1")

    actions = [
        r for r in xts.interactive.requests if r[1] == "/interactive/orders" and r[0] != "GET"
    ]
    assert actions == [("POST", "/interactive/orders"), ("PUT", "/interactive/orders"),
                       ("DELETE", "/interactive/orders")]  # fmt: skip
    assert xts.oms.orders[int(placed.order_id)]["OrderStatus"] == "New"


async def test_xts_place_whose_answer_is_lost_is_found_by_its_unique_id(
    xts: FakeXts, client: Rest
) -> None:
    xts.interactive.hang_next_place_s = 2.0  # the client gives up after 1 s

    placed = await client.rest.place_order("LOST1", PLACE)

    [at_xts] = xts.oms.find("LOST1")
    assert placed.recovered and placed.order_id == str(at_xts["AppOrderID"])
    assert xts.oms.placed == 1


async def test_xts_place_that_never_arrived_is_an_unknown_outcome_not_a_second_place(
    xts: FakeXts, client: Rest
) -> None:
    xts.interactive.fail_next("POST", "/orders", 504, {"type": "error", "description": "Gateway"})

    with pytest.raises(OutcomeUnknown, match="no order NEVER1 in the XTS orderbook"):
        await client.rest.place_order("NEVER1", PLACE)
    assert xts.oms.placed == 0
    posts = [r for r in xts.interactive.requests if r == ("POST", "/interactive/orders")]
    assert len(posts) == 1


async def test_xts_books_are_read_at_most_once_a_second_and_never_refused() -> None:
    # The fake and the client both at XTS's published limits (§C.11).
    async with FakeXts() as real_limits:
        rest = Rest(real_limits, XtsRestConfig(root=real_limits.url, timeout_s=5.0))
        await rest.login()
        try:
            started = time.monotonic()
            await asyncio.gather(*(rest.rest.orders() for _ in range(3)))
            took = time.monotonic() - started
        finally:
            await rest.rest.close()
    assert took >= 1.0  # three reads of one book span at least two calendar-second boundaries
    assert real_limits.interactive.rate_limited == 0


async def test_xts_token_never_reaches_the_log(
    xts: FakeXts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rest = Rest(xts, fast_rest(xts))
    try:
        await rest.login()
        await rest.rest.place_order("O9", PLACE)
        await rest.rest.orders()
        await xts.interactive.expire_tokens()
        with pytest.raises(SessionExpired):
            await rest.rest.trades()
    finally:
        await rest.rest.close()
    logged = caplog.text
    for secret in [*xts.interactive.issued, xts.interactive.secret_key]:
        assert secret not in logged


async def test_xts_slow_replies_fail_a_read_in_words_and_a_place_is_looked_up_not_resent(
    xts: FakeXts, client: Rest
) -> None:
    xts.interactive.slow_s = 1.2  # longer than the client's 1 s time-out

    with pytest.raises(XtsUnavailable, match="no reply"):
        await client.rest.trades()
    assert client.rest.retries == client.rest.config.get_retries

    # The place times out before XTS takes it; the orderbook (quick again) does not show it.
    placing = asyncio.create_task(client.rest.place_order("SLOW1", PLACE))
    await asyncio.sleep(1.1)
    xts.interactive.slow_s = 0.0
    with pytest.raises(OutcomeUnknown, match="no order SLOW1 in the XTS orderbook"):
        await placing
    assert xts.oms.placed == 0
    posts = [r for r in xts.interactive.requests if r == ("POST", "/interactive/orders")]
    assert len(posts) == 1


@pytest.mark.parametrize("answer", ["json error", "html page"])
async def test_xts_login_refusal_that_echoes_the_request_keeps_the_sent_keys_out_of_its_words(
    answer: str,
) -> None:
    from aiohttp import web

    from engine.brokers.xts.errors import XtsError

    async def echo(request: web.Request) -> web.Response:
        # A misconfigured proxy (or a chatty validation message) quoting what it was sent.
        sent = await request.text()
        if answer == "json error":
            description = {"type": "error", "code": "e-app-0005", "description": f"Bad: {sent}"}
            return web.json_response(description, status=400)
        return web.Response(text=f"<html>bad gateway for {sent}</html>", status=502)

    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rest = XtsRest(XtsRestConfig(root=f"http://127.0.0.1:{port}", timeout_s=5.0))
    try:
        with pytest.raises(XtsError) as refused:
            await rest.login("XAPPKEYm1n2b3", "XSECRETv5c6x7")
    finally:
        await rest.close()
        await runner.cleanup()
    text = str(refused.value)
    assert "XAPPKEYm1n2b3" not in text and "XSECRETv5c6x7" not in text
    assert "***" in text and "XTS could not log in" in text
