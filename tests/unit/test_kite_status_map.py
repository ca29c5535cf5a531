"""Kite order and trade objects (the official mocks) in engine terms: statuses, paise, aware times."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from engine.brokers.kite.errors import readable
from engine.brokers.kite.status_map import (
    KITE_STATUSES,
    KiteDataError,
    is_known_status,
    order_status,
    parse_order,
    parse_trade,
)
from engine.brokers.rate_limit import RateLimiter
from engine.core.clock import IST
from engine.domain.orders import OrderStatus, OrderType, Side
from tests.kite_fake.oms import FIXTURES


def mock(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())["data"]


def test_order_status_when_every_kite_status_maps_to_the_engine_status_of_that_name() -> None:
    for text, status in KITE_STATUSES.items():
        assert order_status(text) is status
        assert status.value == text
    assert set(KITE_STATUSES.values()) == set(OrderStatus) - {
        OrderStatus.PENDING_SUBMIT,
        OrderStatus.DENIED,
    }


@pytest.mark.parametrize(
    ("text", "status", "known"),
    [
        ("UPDATE", None, True),
        ("CANCEL", OrderStatus.CANCELLED, True),
        ("PUT ORDER REQUEST RECEIVED", OrderStatus.PUT_ORDER_REQ_RECEIVED, True),
        (" open ", OrderStatus.OPEN, True),
        ("AUCTION PENDING", None, False),
    ],
)
def test_order_status_when_update_alias_or_unknown_says_so(
    text: str, status: OrderStatus | None, known: bool
) -> None:
    assert order_status(text) is status
    assert is_known_status(text) is known


def test_parse_order_when_orderbook_mock_gives_exact_reports() -> None:
    reports = [parse_order(order) for order in mock("orders.json")]

    assert len(reports) == 10
    iceberg = next(r for r in reports if r.tag == "icebergord")
    assert iceberg.status is OrderStatus.REJECTED and iceberg.open_quantity == 0
    first = reports[0]
    assert (first.status, first.side, first.order_type) == (
        OrderStatus.CANCELLED,
        Side.BUY,
        OrderType.LIMIT,
    )
    assert first.price == 7200 and first.average_price is None
    # The mock leaves pending_quantity at 1 on a cancelled order: terminal means nothing is open.
    assert first.pending_quantity == 1 and first.open_quantity == 0
    assert first.order_timestamp == datetime(2021, 5, 31, 9, 18, 57, tzinfo=IST)
    assert all(len(r.broker_order_id) >= 15 for r in reports)


def test_parse_order_when_history_mock_follows_the_modify_sequence() -> None:
    history = [parse_order(entry) for entry in mock("order_info.json")]

    assert [h.status for h in history][-4:] == [
        OrderStatus.MODIFY_VALIDATION_PENDING,
        OrderStatus.MODIFY_PENDING,
        OrderStatus.MODIFIED,
        OrderStatus.OPEN,
    ]
    assert (history[0].price, history[-1].price) == (30000, 30010)
    assert history[-1].open_quantity == 1


def test_parse_order_when_websocket_update_keeps_status_none_and_quantities() -> None:
    update = {**mock("orders.json")[1], "status": "UPDATE", "filled_quantity": 0}

    report = parse_order(update)

    assert report.is_update and report.status is None


def test_parse_trade_when_trade_mock_gives_paise_and_aware_fill_time() -> None:
    trade = parse_trade(mock("trades.json")[0])

    assert (trade.trade_id, trade.quantity, trade.price, trade.side) == (
        "10000000",
        1,
        42065,
        Side.BUY,
    )
    assert trade.fill_timestamp == datetime(2021, 5, 31, 9, 16, 39, tzinfo=IST)


def test_parse_trade_when_currency_price_is_finer_than_a_paisa_refuses_it_clearly() -> None:
    currency = next(t for t in mock("trades.json") if t["exchange"] == "CDS")

    with pytest.raises(KiteDataError, match="finer than one paisa"):
        parse_trade(currency)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", None),
        ("quantity", -5),
        ("transaction_type", "HOLD"),
        ("order_timestamp", "31/05/2021"),
        ("price", "abc"),
    ],
)
def test_parse_order_when_malformed_raises_kite_data_error(field: str, value: Any) -> None:
    order = dict(mock("orders.json")[1])
    if value is None:
        del order[field]
    else:
        order[field] = value

    with pytest.raises(KiteDataError, match="Kite order"):
        parse_order(order)


def test_readable_when_kite_error_names_action_reason_and_code() -> None:
    assert readable("place the order", "Insufficient funds.", "MarginException", 400) == (
        "Kite could not place the order: Insufficient funds (MarginException, HTTP 400)"
    )
    assert readable("fetch the orderbook", "", None, None) == (
        "Kite could not fetch the orderbook: no reason given"
    )


class FakeTime:
    def __init__(self, start: float) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


async def test_rate_limiter_when_second_budget_is_spent_waits_for_the_next_second() -> None:
    clock = FakeTime(1000.25)
    limiter = RateLimiter("orders", 3, now=clock, sleep=clock.sleep)

    for _ in range(7):
        await limiter.acquire()

    assert clock.slept == [0.75, 1.0]
    assert limiter.waits == 2


async def test_rate_limiter_when_minute_budget_is_spent_waits_for_the_oldest_to_age_out() -> None:
    clock = FakeTime(1000.0)
    limiter = RateLimiter("orders", 10, per_minute=4, now=clock, sleep=clock.sleep)

    for _ in range(5):
        await limiter.acquire()

    assert clock.slept == [60.0]


async def test_rate_limiter_when_server_said_429_holds_off_to_the_next_second() -> None:
    clock = FakeTime(1000.4)
    limiter = RateLimiter("orders", 10, now=clock, sleep=clock.sleep)
    await limiter.acquire()

    limiter.hold_off()
    await limiter.acquire()

    assert clock.slept == [0.6]
