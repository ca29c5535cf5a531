"""The REST wrapper (official kiteconnect client in a thread pool) against the fake Kite on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from engine.brokers.kite.book import read_kite_book
from engine.brokers.kite.config import KiteRestConfig
from engine.brokers.kite.errors import (
    KiteUnavailable,
    LoginRefused,
    OrderRejected,
    OutcomeUnknown,
    SessionExpired,
)
from engine.brokers.kite.rest import KiteRest
from engine.brokers.kite.status_map import parse_order, parse_trade
from engine.domain.orders import OrderStatus
from tests.kite_fake import FakeKite, RateLimits

pytestmark = pytest.mark.timeout(60)

OPTION = {
    "exchange": "NFO",
    "tradingsymbol": "BANKNIFTY18JAN23500CE",
    "transaction_type": "BUY",
    "quantity": 80,
    "product": "NRML",
    "order_type": "LIMIT",
    "price": 2528.4,
}


def fast_config(kite: FakeKite, **changes: Any) -> KiteRestConfig:
    values: dict[str, Any] = {
        "root": kite.rest.url,
        "timeout_s": 1.0,
        "retry_first_delay_s": 0.05,
        "retry_max_delay_s": 0.1,
        "place_check_interval_s": 0.05,
        **changes,
    }
    return KiteRestConfig(**values)


class Expiries:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with FakeKite() as fake:
        yield fake


@pytest.fixture
async def expiries() -> Expiries:
    return Expiries()


@pytest.fixture
async def rest(kite: FakeKite, expiries: Expiries) -> AsyncIterator[KiteRest]:
    client = KiteRest(
        kite.api_key,
        access_token=kite.login(),
        config=fast_config(kite),
        on_session_expired=expiries,
    )
    yield client
    await client.close()


async def test_generate_session_when_checksum_is_right_gets_a_working_access_token(
    kite: FakeKite,
) -> None:
    client = KiteRest(kite.api_key, config=fast_config(kite))

    session = await client.generate_session(kite.credentials.issue_request_token(), kite.api_secret)
    profile = await client.profile()
    await client.close()

    assert kite.credentials.is_valid(session["access_token"])
    assert session["user_id"] == profile["user_id"] == "AB1234"
    assert client.session_ok


async def test_generate_session_when_secret_is_wrong_is_refused_with_a_readable_message(
    kite: FakeKite,
) -> None:
    client = KiteRest(kite.api_key, config=fast_config(kite))

    with pytest.raises(LoginRefused) as refused:
        await client.generate_session(kite.credentials.issue_request_token(), "wrong secret")
    await client.close()

    assert str(refused.value) == (
        "Kite could not log in: Invalid `checksum` (TokenException, HTTP 403); the API secret is "
        "not the API key's: check both in Settings → Brokers"
    )
    assert kite.credentials.exchanges == 0


async def test_generate_session_when_the_login_link_was_used_says_so_and_keeps_the_session(
    kite: FakeKite,
) -> None:
    expiries: list[str] = []
    client = KiteRest(
        kite.api_key, config=fast_config(kite), on_session_expired=lambda: expiries.append("x")
    )
    request_token = kite.credentials.issue_request_token()

    # One redirect sent twice at once (caught by the browser and pasted too), then once more.
    both = await asyncio.gather(
        client.generate_session(request_token, kite.api_secret),
        client.generate_session(request_token, kite.api_secret),
        return_exceptions=True,
    )
    with pytest.raises(LoginRefused) as again:
        await client.generate_session(request_token, kite.api_secret)
    profile = await client.profile()
    await client.close()

    assert sorted(type(r).__name__ for r in both) == ["LoginRefused", "dict"], both
    assert str(again.value).endswith(
        "this login link was used already or has expired: log in again"
    )
    assert client.session_ok and expiries == [], "the session the first exchange opened stands"
    assert profile["user_id"] == "AB1234"


async def test_place_modify_cancel_when_accepted_walk_the_order_through_kite_statuses(
    kite: FakeKite, rest: KiteRest
) -> None:
    placed = await rest.place_order(tag="D0AAAAAAAAAA0001", **OPTION)
    await rest.modify_order("regular", placed.order_id, price=2530.0)
    await rest.cancel_order("regular", placed.order_id)

    history = [parse_order(entry) for entry in await rest.order_history(placed.order_id)]
    assert len(placed.order_id) == 19 and not placed.recovered
    assert [h.status for h in history] == [
        OrderStatus.PUT_ORDER_REQ_RECEIVED,
        OrderStatus.VALIDATION_PENDING,
        OrderStatus.OPEN_PENDING,
        OrderStatus.OPEN,
        OrderStatus.MODIFY_VALIDATION_PENDING,
        OrderStatus.MODIFY_PENDING,
        OrderStatus.MODIFIED,
        OrderStatus.OPEN,
        OrderStatus.CANCEL_PENDING,
        OrderStatus.CANCELLED,
    ]
    final = history[-1]
    assert (final.price, final.tag, final.cancelled_quantity) == (253_000, "D0AAAAAAAAAA0001", 80)


async def test_place_when_filled_shows_in_trades_and_positions(
    kite: FakeKite, rest: KiteRest
) -> None:
    placed = await rest.place_order(tag="D0AAAAAAAAAA0002", **OPTION)
    kite.oms.fill(placed.order_id, 40, Decimal("2528.35"))
    kite.oms.fill(placed.order_id, 40)

    trades = [parse_trade(t) for t in await rest.trades()]
    order = parse_order((await rest.orders())[0])
    positions = await rest.positions()

    assert [(t.quantity, t.price) for t in trades] == [(40, 252_835), (40, 252_840)]
    assert order.status is OrderStatus.COMPLETE
    assert order.average_price is None  # 2528.375 is not whole paise; the trades are exact
    assert positions["net"][0]["quantity"] == 80


async def test_place_when_market_order_lacks_protection_is_rejected_readably(
    rest: KiteRest,
) -> None:
    market = {**OPTION, "order_type": "MARKET", "price": None}

    with pytest.raises(OrderRejected) as refused:
        await rest.place_order(tag="D0AAAAAAAAAA0003", **market)

    assert str(refused.value) == (
        "Kite could not place the order: Market orders without market protection are not "
        "allowed via API (InputException, HTTP 400)"
    )


async def test_place_when_market_protection_given_fills_at_once(
    kite: FakeKite, rest: KiteRest
) -> None:
    market = {**OPTION, "order_type": "MARKET", "price": None, "market_protection": -1}

    placed = await rest.place_order(tag="D0AAAAAAAAAA0004", **market)

    assert kite.oms.orders[placed.order_id]["status"] == "COMPLETE"


async def test_place_when_reply_is_lost_finds_the_order_by_tag_and_never_resends(
    kite: FakeKite, rest: KiteRest
) -> None:
    kite.rest.hang_next_place_s = 2.0  # longer than the client's 1 s timeout

    placed = await rest.place_order(tag="D0AAAAAAAAAA0005", **OPTION)

    assert placed.recovered
    assert kite.oms.placed == 1
    assert kite.oms.orders[placed.order_id]["tag"] == "D0AAAAAAAAAA0005"


async def test_place_when_kite_fails_with_5xx_and_has_no_such_order_reports_unknown_outcome(
    kite: FakeKite, rest: KiteRest
) -> None:
    kite.rest.fail_next("POST", "/orders/", 503, "NetworkException", "OMS unreachable")

    with pytest.raises(OutcomeUnknown, match="no order tagged D0AAAAAAAAAA0006") as doubt:
        await rest.place_order(tag="D0AAAAAAAAAA0006", **OPTION)

    assert doubt.value.tag == "D0AAAAAAAAAA0006"
    assert kite.oms.placed == 0
    assert [r for r in kite.rest.requests if r[0] == "POST"] == [("POST", "/orders/regular")]


async def test_read_when_kite_fails_twice_retries_and_succeeds(
    kite: FakeKite, rest: KiteRest
) -> None:
    kite.rest.fail_next("GET", "/orders", 503, "NetworkException", "busy")
    kite.rest.fail_next("GET", "/orders", 502, "DataException", "bad gateway")

    assert await rest.orders() == []

    assert rest.retries == 2


async def test_read_when_replies_are_too_slow_gives_up_with_kite_unavailable(
    kite: FakeKite,
) -> None:
    client = KiteRest(
        kite.api_key,
        access_token=kite.login(),
        config=fast_config(kite, timeout_s=0.2, get_retries=1),
    )
    kite.rest.slow_s = 0.5

    with pytest.raises(KiteUnavailable, match="could not fetch the positions: no reply"):
        await client.positions()
    await client.close()

    assert client.retries == 1


async def test_place_when_server_rate_limits_a_burst_places_every_order_exactly_once(
    kite: FakeKite,
) -> None:
    kite.rest.limits = RateLimits(orders_per_second=5)
    # The client believes it may send 50 a second: Kite's 429s must slow it down.
    client = KiteRest(
        kite.api_key, access_token=kite.login(), config=fast_config(kite, orders_per_second=50)
    )

    placed = await asyncio.gather(
        *(client.place_order(tag=f"D0BURST{i:04d}", **OPTION) for i in range(12))
    )
    await client.close()

    assert kite.rest.rate_limited > 0 and client.rate_limited > 0
    assert kite.oms.placed == 12
    assert sorted(o["tag"] for o in kite.oms.orders.values()) == [
        f"D0BURST{i:04d}" for i in range(12)
    ]
    assert len({p.order_id for p in placed}) == 12


async def test_place_when_client_limit_matches_kite_paces_orders_without_429(
    kite: FakeKite,
) -> None:
    kite.rest.limits = RateLimits(orders_per_second=5)
    client = KiteRest(
        kite.api_key, access_token=kite.login(), config=fast_config(kite, orders_per_second=5)
    )
    started = time.monotonic()

    await asyncio.gather(*(client.place_order(tag=f"D0PACE{i:04d}", **OPTION) for i in range(11)))
    await client.close()

    assert kite.rest.rate_limited == 0
    assert kite.oms.placed == 11
    assert time.monotonic() - started >= 1.0  # 11 orders at 5 a second span three seconds


async def test_calls_when_token_expires_raise_session_expired_and_stop_sending(
    kite: FakeKite, rest: KiteRest, expiries: Expiries
) -> None:
    await rest.orders()
    await kite.expire_token()

    with pytest.raises(SessionExpired, match="Incorrect `api_key` or `access_token`"):
        await rest.place_order(tag="D0AAAAAAAAAA0007", **OPTION)
    sent = len(kite.rest.requests)
    with pytest.raises(SessionExpired, match="log in again"):
        await rest.orders()

    assert expiries.count == 1
    assert len(kite.rest.requests) == sent  # nothing goes out on a dead session
    assert kite.oms.placed == 0

    rest.set_access_token(kite.login())
    assert await rest.orders() == []


async def test_call_when_refused_on_a_token_a_new_login_replaced_goes_again_on_the_new_one(
    kite: FakeKite, rest: KiteRest, expiries: Expiries
) -> None:
    # The order leaves on the old token; before Kite answers, the token dies and the trader
    # logs in again. The refusal is about the old token: the new session must not end.
    kite.rest.slow_s = 0.3
    placing = asyncio.ensure_future(rest.place_order(tag="D0AAAAAAAAAA0008", **OPTION))
    while ("POST", "/orders/regular") not in kite.rest.requests:  # Kite has it, not answered
        await asyncio.sleep(0.005)
    await kite.expire_token()
    rest.set_access_token(kite.login())

    placed = await placing

    assert expiries.count == 0
    assert rest.session_ok
    assert kite.rest.token_rejections == 1
    assert [order["order_id"] for order in await rest.orders()] == [placed.order_id]
    assert kite.oms.placed == 1


async def test_reads_when_fixture_backed_return_the_official_shapes(rest: KiteRest) -> None:
    margins = await rest.margins()
    instruments = await rest.instruments("NFO")
    quote = await rest.quote("NSE:INFY")

    assert margins["equity"]["available"]["cash"] == 245431.6
    assert {i["exchange"] for i in instruments} == {"NFO"}
    assert instruments[0]["lot_size"] > 0
    assert quote["NSE:INFY"]["instrument_token"] == 408065


JSON = "application/json"
UNDOCUMENTED_REPLIES = {
    "a proxy's bare 502": (502, b"", None),
    "a success without data": (200, b'{"status":"success"}', JSON),
    "a success with null data": (200, b'{"status":"success","data":null}', JSON),
    "a JSON list": (200, b"[]", JSON),
    "a JSON string": (200, b'"ok"', JSON),
    "an error without its type": (500, b'{"status":"error"}', JSON),
}


@pytest.mark.parametrize("reply", UNDOCUMENTED_REPLIES.values(), ids=UNDOCUMENTED_REPLIES.keys())
async def test_place_when_kite_answers_in_an_undocumented_form_and_has_no_such_order_reports_unknown_outcome(
    kite: FakeKite, rest: KiteRest, reply: tuple[int, bytes, str | None]
) -> None:
    status, body, content_type = reply
    kite.rest.garble_next("POST", "/orders/", status, body, content_type=content_type)

    with pytest.raises(OutcomeUnknown, match="in a form it does not document") as doubt:
        await rest.place_order(tag="D0AAAAAAAAAA0009", **OPTION)

    assert "no order tagged D0AAAAAAAAAA0009" in doubt.value.message
    assert doubt.value.tag == "D0AAAAAAAAAA0009"
    assert kite.oms.placed == 0
    assert [r for r in kite.rest.requests if r[0] == "POST"] == [("POST", "/orders/regular")]


async def test_place_when_placed_but_the_reply_lacks_data_finds_the_order_by_tag_once(
    kite: FakeKite, rest: KiteRest
) -> None:
    kite.rest.garble_next("POST", "/orders/", 200, b'{"status":"success"}', handled=True)

    placed = await rest.place_order(tag="D0AAAAAAAAAA0010", **OPTION)

    assert placed.recovered
    assert kite.oms.placed == 1
    assert kite.oms.orders[placed.order_id]["tag"] == "D0AAAAAAAAAA0010"


async def test_modify_and_cancel_when_kite_answers_without_a_content_type_report_unknown_outcome(
    kite: FakeKite, rest: KiteRest
) -> None:
    placed = await rest.place_order(tag="D0AAAAAAAAAA0011", **OPTION)
    kite.rest.garble_next("PUT", "/orders/", 502, b"", content_type=None)
    kite.rest.garble_next("DELETE", "/orders/", 200, b'{"status":"success"}', handled=True)

    with pytest.raises(OutcomeUnknown, match="modify the order: a reply without a Content-Type"):
        await rest.modify_order("regular", placed.order_id, price=2530.0)
    with pytest.raises(OutcomeUnknown, match="cancel the order: a reply without its 'data'"):
        await rest.cancel_order("regular", placed.order_id)

    assert kite.oms.orders[placed.order_id]["status"] == "CANCELLED"


async def test_gtt_place_when_kite_answers_a_success_without_data_reports_unknown_outcome(
    kite: FakeKite, rest: KiteRest
) -> None:
    kite.rest.garble_next("POST", "/gtt/triggers", 200, b'{"status":"success","data":[]}')

    with pytest.raises(OutcomeUnknown, match="place the GTT: the data was a list, not an object"):
        await rest.place_gtt(
            trigger_type="single",
            tradingsymbol="INFY",
            exchange="NSE",
            trigger_values=[1400.0],
            last_price=1500.0,
            orders=[],
        )


@pytest.mark.parametrize("reply", UNDOCUMENTED_REPLIES.values(), ids=UNDOCUMENTED_REPLIES.keys())
async def test_read_when_kite_answers_in_an_undocumented_form_retries_and_succeeds(
    kite: FakeKite, rest: KiteRest, reply: tuple[int, bytes, str | None]
) -> None:
    status, body, content_type = reply
    kite.rest.garble_next("GET", "/orders", status, body, content_type=content_type)

    assert await rest.orders() == []

    assert rest.retries == 1


READS = {
    "orders": lambda rest: rest.orders(),
    "trades": lambda rest: rest.trades(),
    "order history": lambda rest: rest.order_history("1"),
    "positions": lambda rest: rest.positions(),
    "margins": lambda rest: rest.margins(),
    "profile": lambda rest: rest.profile(),
}
READ_PATHS = {
    "orders": "/orders",
    "trades": "/trades",
    "order history": "/orders/1",
    "positions": "/portfolio/positions",
    "margins": "/user/margins",
    "profile": "/user/profile",
}


@pytest.mark.parametrize("read", READS, ids=READS.keys())
@pytest.mark.parametrize("reply", UNDOCUMENTED_REPLIES.values(), ids=UNDOCUMENTED_REPLIES.keys())
async def test_read_when_every_answer_is_undocumented_gives_up_with_kite_unavailable(
    kite: FakeKite, read: str, reply: tuple[int, bytes, str | None]
) -> None:
    client = KiteRest(
        kite.api_key, access_token=kite.login(), config=fast_config(kite, get_retries=1)
    )
    status, body, content_type = reply
    for _ in range(2):
        kite.rest.garble_next("GET", READ_PATHS[read], status, body, content_type=content_type)

    with pytest.raises(KiteUnavailable, match="in a form it does not document"):
        await READS[read](client)
    await client.close()

    assert client.retries == 1


async def test_read_when_the_orderbook_is_an_object_is_unavailable_never_an_empty_book(
    kite: FakeKite, rest: KiteRest
) -> None:
    for _ in range(4):
        kite.rest.garble_next("GET", "/orders", 200, b'{"status":"success","data":{"net":[]}}')

    with pytest.raises(KiteUnavailable, match="fetch the orderbook: the data was an object, not"):
        await rest.orders()


async def test_book_when_net_positions_are_null_counts_them_unreadable_and_reads_the_rest(
    kite: FakeKite, rest: KiteRest
) -> None:
    placed = await rest.place_order(tag="D0AAAAAAAAAA0012", **OPTION)
    kite.rest.garble_next(
        "GET", "/portfolio/positions", 200, b'{"status":"success","data":{"net":null,"day":[]}}'
    )

    book = await read_kite_book(rest)

    assert [o.broker_order_id for o in book.orders] == [placed.order_id]
    assert (book.positions, book.unreadable) == ([], 1)
    assert book.available_cash is not None


async def test_book_when_a_net_position_is_not_an_object_counts_it_and_keeps_the_others(
    kite: FakeKite, rest: KiteRest
) -> None:
    row = {"instrument_token": 408065, "product": "CNC", "quantity": 5, "exchange": "NSE",
           "tradingsymbol": "INFY"}  # fmt: skip
    body = json.dumps({"status": "success", "data": {"net": ["INFY", row], "day": []}})
    kite.rest.garble_next("GET", "/portfolio/positions", 200, body.encode())

    book = await read_kite_book(rest)

    assert [(p.token, p.quantity, p.name) for p in book.positions] == [(408065, 5, "NSE:INFY")]
    assert book.unreadable == 1


async def test_place_when_in_doubt_and_the_tag_lookup_is_refused_stays_unknown_never_refused(
    kite: FakeKite, rest: KiteRest
) -> None:
    kite.rest.garble_next("POST", "/orders/", 502, b"", content_type=None)
    kite.rest.fail_next("GET", "/orders", 403, "TokenException", "Token is invalid")

    with pytest.raises(OutcomeUnknown, match="orderbook could not be searched for tag D0A"):
        await rest.place_order(tag="D0AAAAAAAAAA0013", **OPTION)

    assert kite.oms.placed == 0
