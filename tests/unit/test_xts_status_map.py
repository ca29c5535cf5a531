"""XTS order, trade and position objects in engine terms, with every variant of
kite_xts_apis.md §C.6 and §C.13: the status table row by row, mixed-case enumerations, numbers as
strings with thousands separators, an empty average until filled, and every date form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from engine.brokers.xts.errors import XtsDataError
from engine.brokers.xts.status_map import (
    XTS_STATUSES,
    desk_token,
    order_status,
    order_type,
    paise,
    parse_order,
    parse_position,
    parse_trade,
    side,
    xts_instrument_of,
    xts_time,
)
from engine.core.clock import IST
from engine.domain.orders import OrderStatus, OrderType, Side

ADANIPORTS = 15083 << 8 | 1  # NSE:ADANIPORTS, the token Kite gives it too


def order(**changes: Any) -> dict[str, Any]:
    """An order object as captured from IIFL's XTS (shape of §C.6 / §C.13)."""
    data: dict[str, Any] = {
        "LoginID": "XTSUSER1",
        "ClientID": "XTSUSER1",
        "AppOrderID": 1100000123,
        "OrderReferenceID": "",
        "GeneratedBy": "TWSAPI",
        "ExchangeOrderID": "1200000000000456",
        "OrderCategoryType": "NORMAL",
        "ExchangeSegment": "NSECM",
        "ExchangeInstrumentID": 15083,
        "OrderSide": "Buy",
        "OrderType": "Limit",
        "ProductType": "MIS",
        "TimeInForce": "DAY",
        "OrderPrice": 399.5,
        "OrderQuantity": 10,
        "OrderStopPrice": 0,
        "OrderStatus": "New",
        "OrderAverageTradedPrice": "",
        "LeavesQuantity": 10,
        "CumulativeQuantity": 0,
        "OrderDisclosedQuantity": 0,
        "OrderGeneratedDateTime": "2020-12-30T13:50:53.7042412",
        "ExchangeTransactTime": "2020-12-30T13:50:53+05:30",
        "LastUpdateDateTime": "2020-12-30T13:50:53.7042412",
        "OrderExpiryDate": "1980-01-01T00:00:00",
        "CancelRejectReason": "",
        "OrderUniqueIdentifier": "O1A2B3",
        "OrderLegStatus": "SingleOrderLeg",
        "IsSpread": False,
        "MessageCode": 9004,
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("text", "kind", "status"),
    [
        ("PendingNew", OrderType.LIMIT, OrderStatus.OPEN_PENDING),
        ("New", OrderType.LIMIT, OrderStatus.OPEN),
        ("New", OrderType.MARKET, OrderStatus.OPEN),
        ("New", OrderType.SL, OrderStatus.TRIGGER_PENDING),
        ("New", OrderType.SL_M, OrderStatus.TRIGGER_PENDING),
        ("PartiallyFilled", OrderType.LIMIT, OrderStatus.OPEN),
        ("PartiallyFilled", OrderType.SL, OrderStatus.OPEN),
        ("Filled", OrderType.LIMIT, OrderStatus.COMPLETE),
        ("PendingReplace", OrderType.LIMIT, OrderStatus.MODIFY_PENDING),
        ("Replaced", OrderType.LIMIT, OrderStatus.OPEN),
        ("Replaced", OrderType.SL, OrderStatus.TRIGGER_PENDING),
        ("PendingCancel", OrderType.LIMIT, OrderStatus.CANCEL_PENDING),
        ("Cancelled", OrderType.LIMIT, OrderStatus.CANCELLED),
        ("Rejected", OrderType.LIMIT, OrderStatus.REJECTED),
        ("FILLED", OrderType.LIMIT, OrderStatus.COMPLETE),
        ("pendingnew", OrderType.LIMIT, OrderStatus.OPEN_PENDING),
        ("Partially Filled", OrderType.LIMIT, OrderStatus.OPEN),
        ("Canceled", OrderType.LIMIT, OrderStatus.CANCELLED),
        ("Expired", OrderType.LIMIT, None),
    ],
)
def test_xts_status_table_row_by_row_case_insensitive(
    text: str, kind: OrderType, status: OrderStatus | None
) -> None:
    assert order_status(text, kind) is status


def test_xts_status_table_covers_every_documented_xts_status() -> None:
    documented = {"pendingnew", "new", "partiallyfilled", "filled", "cancelled", "pendingcancel",
                  "replaced", "pendingreplace", "rejected"}  # fmt: skip
    assert documented <= set(XTS_STATUSES)
    assert {OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED} <= set(
        XTS_STATUSES.values()
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [("Market", OrderType.MARKET), ("LIMIT", OrderType.LIMIT), ("StopMarket", OrderType.SL_M),
     ("STOPLIMIT", OrderType.SL), ("stop_limit", OrderType.SL)],
)  # fmt: skip
def test_xts_order_types_in_any_case(text: str, kind: OrderType) -> None:
    assert order_type(text) is kind


def test_xts_sides_in_any_case_and_unknown_enumerations_refused_in_words() -> None:
    assert (side("Buy"), side("SELL")) == (Side.BUY, Side.SELL)
    with pytest.raises(XtsDataError, match="not Buy or Sell"):
        side("Short")
    with pytest.raises(XtsDataError, match="StopLimit"):
        order_type("Iceberg")


def test_xts_parse_order_when_new_limit_gives_an_exact_open_report() -> None:
    report = parse_order(order())

    assert report.broker_order_id == "1100000123"
    assert report.tag == "O1A2B3"
    assert (report.status, report.broker_status) == (OrderStatus.OPEN, "New")
    assert report.token == ADANIPORTS
    assert (report.side, report.order_type, report.product) == (Side.BUY, OrderType.LIMIT, "MIS")
    assert (report.quantity, report.filled_quantity, report.pending_quantity) == (10, 0, 10)
    assert (report.price, report.trigger_price, report.average_price) == (39950, 0, None)
    assert report.exchange_order_id == "1200000000000456"
    assert report.order_timestamp == datetime(2020, 12, 30, 13, 50, 53, 704241, tzinfo=IST)


def test_xts_parse_order_when_partly_filled_with_strings_and_upper_case() -> None:
    report = parse_order(
        order(
            OrderStatus="PartiallyFilled",
            OrderSide="SELL",
            OrderType="LIMIT",
            OrderQuantity="1,500",
            CumulativeQuantity="600",
            LeavesQuantity="900",
            OrderPrice="1,234.55",
            OrderAverageTradedPrice="1,234.55",
            ExchangeInstrumentID="15083",
        )
    )

    assert (report.status, report.side) == (OrderStatus.OPEN, Side.SELL)
    assert (report.quantity, report.filled_quantity, report.pending_quantity) == (1500, 600, 900)
    assert (report.price, report.average_price) == (123455, 123455)


def test_xts_parse_order_when_cancelled_after_a_partial_fill_counts_the_cancelled_rest() -> None:
    report = parse_order(
        order(OrderStatus="Cancelled", CumulativeQuantity=3, LeavesQuantity=0,
              OrderAverageTradedPrice="399.50")
    )  # fmt: skip
    assert (report.status, report.filled_quantity, report.cancelled_quantity) == (
        OrderStatus.CANCELLED,
        3,
        7,
    )
    assert report.open_quantity == 0


def test_xts_parse_order_when_rejected_carries_the_reason() -> None:
    report = parse_order(order(OrderStatus="Rejected", CancelRejectReason="RMS:Insufficient funds"))
    assert report.status is OrderStatus.REJECTED
    assert report.message == "RMS:Insufficient funds"


def test_xts_parse_order_when_stop_market_waits_for_its_trigger() -> None:
    report = parse_order(order(OrderType="StopMarket", OrderPrice=0, OrderStopPrice=401))
    assert (report.status, report.order_type) == (OrderStatus.TRIGGER_PENDING, OrderType.SL_M)
    assert report.trigger_price == 40100


def test_xts_parse_order_when_the_average_falls_between_paise_leaves_it_to_the_fills() -> None:
    report = parse_order(order(OrderStatus="Filled", OrderAverageTradedPrice="399.523333"))
    assert report.average_price is None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"OrderPrice": 399.503}, "whole paise"),
        ({"ExchangeSegment": "MCXFO"}, "not one the desk trades"),
        ({"OrderType": "Iceberg"}, "order type"),
        ({"OrderQuantity": "ten"}, "not a number"),
        ({"OrderGeneratedDateTime": "yesterday"}, "none of the forms"),
        ({"ExchangeInstrumentID": 0}, "instrument"),
    ],
)
def test_xts_parse_order_when_malformed_says_what_in_words(
    changes: dict[str, Any], words: str
) -> None:
    with pytest.raises(XtsDataError, match=words):
        parse_order(order(**changes))


def test_xts_parse_order_when_a_field_is_missing_is_refused() -> None:
    data = order()
    del data["OrderStatus"]
    with pytest.raises(XtsDataError, match="malformed XTS order 1100000123"):
        parse_order(data)


def test_xts_parse_trade_reads_one_execution_with_its_own_price() -> None:
    trade = parse_trade(
        order(
            OrderStatus="PartiallyFilled",
            CumulativeQuantity=4,
            LeavesQuantity=6,
            OrderAverageTradedPrice="399.50",
            LastTradedPrice=399.45,
            LastTradedQuantity=4,
            LastExecutionTransactTime="14-05-2021 11:17:29",
            ExecutionID="30000001",
        )
    )

    assert (trade.trade_id, trade.broker_order_id, trade.token) == (
        "30000001",
        "1100000123",
        ADANIPORTS,
    )
    assert (trade.side, trade.quantity, trade.price) == (Side.BUY, 4, 39945)
    assert trade.fill_timestamp == datetime(2021, 5, 14, 11, 17, 29, tzinfo=IST)


def test_xts_parse_trade_without_an_execution_id_is_refused() -> None:
    with pytest.raises(XtsDataError, match="ExecutionID"):
        parse_trade(order(LastTradedPrice=399.5, LastTradedQuantity=4))


def test_xts_parse_position_with_lowercase_d_strings_and_thousands_separators() -> None:
    row = {
        "ExchangeSegment": "NSEFO",
        "ExchangeInstrumentId": "35001",
        "ProductType": "NRML",
        "TradingSymbol": "NIFTY FUT",
        "Quantity": "-1,300",
        "BuyAmount": "6,202.50",
        "NetAmount": "-75",
    }
    position = parse_position(row)
    assert (position.token, position.product, position.quantity) == (35001 << 8 | 2, "NRML", -1300)
    assert position.name == "NIFTY FUT"


def test_xts_parse_position_with_the_java_sdk_spelling() -> None:
    row = {"ExchangeSegment": 1, "ExchangeInstrumentID": 15083, "ProductType": "cnc",
           "NetPosition": 7}  # fmt: skip
    position = parse_position(row)
    assert (position.token, position.product, position.quantity) == (ADANIPORTS, "CNC", 7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-12-30T13:50:53.7042412", datetime(2020, 12, 30, 13, 50, 53, 704241, tzinfo=IST)),
        ("2026-06-18T09:20:15+05:30", datetime(2026, 6, 18, 9, 20, 15, tzinfo=IST)),
        ("14-05-2021 11:17:29", datetime(2021, 5, 14, 11, 17, 29, tzinfo=IST)),
        ("Jun 18 2026 09:20:15", datetime(2026, 6, 18, 9, 20, 15, tzinfo=IST)),
        ("2026-06-18T03:50:15Z", datetime(2026, 6, 18, 3, 50, 15, tzinfo=UTC)),
        ("1980-01-01T00:00:00", None),
        ("01-01-1980 00:00:00", None),
        ("", None),
    ],
)
def test_xts_times_in_every_form_are_aware_and_1980_is_unset(
    text: str, expected: datetime | None
) -> None:
    parsed = xts_time(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() in (timedelta(hours=5, minutes=30), timedelta(0))


def test_xts_prices_are_exact_paise_from_numbers_and_strings() -> None:
    assert paise(399.95, "p") == 39995
    assert paise("1,23,456.05", "p") == 12345605
    assert paise("", "p") == 0
    assert paise(Decimal("0.05"), "p") == 5
    with pytest.raises(XtsDataError, match="whole paise"):
        paise("0.001", "p")
    with pytest.raises(XtsDataError, match="not a finite number"):
        paise("NaN", "p")


def test_xts_instrument_ids_and_desk_tokens_are_inverse() -> None:
    assert desk_token("NSECM", 15083) == ADANIPORTS
    assert desk_token(1, "15083") == ADANIPORTS
    assert xts_instrument_of(ADANIPORTS) == ("NSECM", 15083)
    assert xts_instrument_of(desk_token("NSEFO", 35001)) == ("NSEFO", 35001)
