"""When Kite last changed an order, as its reports say (``updated_at``), and the read they came
from (``as_of``), from the official mocks: what ``ReportFreshness`` judges older reports by."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from engine.brokers.kite.status_map import parse_order
from engine.brokers.live_reports import ReportFreshness
from engine.core.clock import IST
from engine.domain.ids import OrderId
from tests.kite_fake.oms import FIXTURES


def mock(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def ist(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)


def test_parse_order_when_the_exchange_updated_it_last_takes_the_exchange_time() -> None:
    first = mock("orders.json")["data"][0]  # OMS 09:18:57, exchange update 09:18:58

    report = parse_order(first)

    assert report.updated_at == ist("2021-05-31 09:18:58")
    assert report.as_of is None  # not from a read the desk began


def test_parse_order_when_not_at_the_exchange_yet_takes_the_oms_time() -> None:
    rejected = next(o for o in mock("orders.json")["data"] if o["status"] == "REJECTED")
    assert rejected["exchange_update_timestamp"] is None

    assert parse_order(rejected).updated_at == ist("2022-05-24 12:26:52")


def test_parse_order_when_a_ticker_update_carries_both_times_takes_the_later() -> None:
    update = mock("postback.json")

    assert parse_order(update).updated_at == ist("2022-03-03 09:24:25")


def test_parse_order_when_the_exchange_clock_is_a_second_behind_keeps_the_oms_time() -> None:
    placed = {**mock("postback.json"), "status": "OPEN PENDING", "exchange_update_timestamp": None}
    opened = {**placed, "status": "OPEN", "exchange_update_timestamp": "2022-03-03 09:24:24"}
    fresh = ReportFreshness()
    order_id = OrderId("D1")
    fresh.applied(order_id, parse_order(placed))

    report = parse_order(opened)

    assert report.updated_at == ist("2022-03-03 09:24:25")
    assert not fresh.is_stale(order_id, report)  # the OPEN is not older than its OPEN PENDING


def test_parse_order_when_read_from_a_mark_carries_it() -> None:
    assert parse_order(mock("postback.json"), as_of=7).as_of == 7


def test_history_when_several_entries_share_a_second_none_is_older_and_the_last_price_stands() -> (
    None
):
    history = [parse_order(entry) for entry in mock("order_info.json")["data"]]
    fresh = ReportFreshness()
    order_id = OrderId("D1")
    stale = []
    for report in history:
        stale.append(fresh.is_stale(order_id, report))
        fresh.applied(order_id, report)

    assert stale == [False] * len(history)
    # MODIFIED (at 300) and the OPEN after it (at 300.10) are of the same second, 11:08:16.
    assert history[-2].updated_at == history[-1].updated_at == ist("2017-12-29 11:08:16")
    assert history[-1].price == 30010


def test_history_when_an_entry_of_an_earlier_second_comes_after_the_modify_it_is_older() -> None:
    history = [parse_order(entry) for entry in mock("order_info.json")["data"]]
    fresh = ReportFreshness()
    order_id = OrderId("D1")
    fresh.applied(order_id, history[-1])  # OPEN at 300.10, 11:08:16

    assert fresh.is_stale(order_id, history[3])  # OPEN at 300.00, 11:06:52
