"""A busy XTS book is parsed in a worker thread, off the desk's loop; and which reports are
older than what the desk knows of an order (a read begun before the order last changed here,
or a broker update time before one already applied)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

import engine.brokers.xts.book as xts_book
from engine.brokers.live_reports import ReportFreshness
from engine.core.clock import IST
from engine.domain.ids import BrokerOrderId, InstrumentToken, OrderId
from engine.domain.orders import OrderStatus, OrderType, Side
from engine.domain.reports import OrderReport
from engine.domain.values import Paise


class _Rest:
    client_id = "DEALER"  # a dealer login: no balance read

    async def orders(self) -> list[dict[str, Any]]:
        return [{"AppOrderID": 1}]

    async def trades(self) -> list[dict[str, Any]]:
        return [{"ExecutionID": "E1"}]

    async def positions(self, _kind: str) -> list[dict[str, Any]]:
        return [{"TradingSymbol": "X"}]


async def test_read_xts_book_when_parsing_rows_does_it_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[int] = []

    def recording(what: str) -> Any:
        def parse(row: dict[str, Any], **_kw: Any) -> str:
            threads.append(threading.get_ident())
            return what

        return parse

    for name in ("parse_order", "parse_trade", "parse_position"):
        monkeypatch.setattr(xts_book, name, recording(name))
    book = await xts_book.read_xts_book(_Rest(), as_of=7)  # type: ignore[arg-type]
    assert (book.orders, book.trades, book.positions) == (
        ["parse_order"],
        ["parse_trade"],
        ["parse_position"],
    )
    assert len(threads) == 3
    assert threading.get_ident() not in threads


AT = datetime(2026, 12, 1, 10, 0, 0, tzinfo=IST)
REPORT = OrderReport(
    broker_order_id=BrokerOrderId("11"),
    broker_status="New",
    status=OrderStatus.OPEN,
    tag="D1",
    token=InstrumentToken(1),
    exchange="NSECM",
    tradingsymbol="ADANIPORTS",
    side=Side.BUY,
    order_type=OrderType.LIMIT,
    product="MIS",
    variety="regular",
    quantity=10,
    filled_quantity=0,
    pending_quantity=10,
    cancelled_quantity=0,
    price=Paise(39950),
    trigger_price=Paise(0),
    average_price=None,
    exchange_order_id=None,
    message="",
    order_timestamp=AT,
    exchange_update_timestamp=AT,
    updated_at=AT,
)
ORDER = OrderId("D1")


def test_report_from_a_read_begun_before_the_order_changed_is_stale() -> None:
    fresh = ReportFreshness()
    mark = fresh.mark()
    assert not fresh.is_stale(ORDER, replace(REPORT, as_of=mark))
    fresh.changed(ORDER)
    assert fresh.is_stale(ORDER, replace(REPORT, as_of=mark))
    assert not fresh.is_stale(ORDER, replace(REPORT, as_of=fresh.mark()))
    assert not fresh.is_stale(OrderId("D2"), replace(REPORT, as_of=mark))


def test_report_updated_before_one_already_applied_is_stale() -> None:
    fresh = ReportFreshness()
    fresh.applied(ORDER, replace(REPORT, updated_at=AT + timedelta(seconds=2)))
    assert fresh.is_stale(ORDER, replace(REPORT, updated_at=AT))
    assert not fresh.is_stale(ORDER, replace(REPORT, updated_at=AT + timedelta(seconds=2)))
    assert not fresh.is_stale(ORDER, replace(REPORT, updated_at=None))
