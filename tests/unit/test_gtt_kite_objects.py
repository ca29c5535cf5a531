"""Kite's GTT objects (the official mocks) read into engine terms, and a request written as the
official client's arguments."""

from __future__ import annotations

import json

import pytest

from engine.brokers.kite.gtt import KiteGttError, gtt_arguments, parse_gtt
from engine.domain.gtt import GttLeg, GttRequest, GttStatus, GttType, crossed
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment
from engine.domain.orders import OrderType, Product, Side
from engine.domain.values import Paise
from tests.support import KITE_FIXTURES


def _mock(name: str) -> object:
    return json.loads((KITE_FIXTURES / name).read_text())["data"]


def test_gtt_kite_mock_list_reads_single_active_and_two_leg_triggered_with_its_failure() -> None:
    single, two_leg = (parse_gtt(row) for row in _mock("gtt_get_orders.json"))  # type: ignore[union-attr]
    assert (single.gtt_id, single.status, single.request.kind) == (
        "112127", GttStatus.ACTIVE, GttType.SINGLE,
    )  # fmt: skip
    assert single.request.triggers == (70_200,) and single.request.last_price == 79_800
    assert single.request.legs == (
        GttLeg(Side.BUY, 1, Paise(70_250), OrderType.LIMIT, Product.CNC),
    )
    assert single.request.token == 408065 and single.triggered_leg is None
    assert two_leg.status is GttStatus.TRIGGERED and two_leg.request.triggers == (10_200, 10_370)
    assert two_leg.triggered_leg == 1 and two_leg.order_id == ""
    assert "lower circuit limit" in two_leg.rejection
    assert two_leg.created_at is not None and two_leg.created_at.utcoffset() is not None


def test_gtt_kite_object_missing_its_condition_is_refused_not_guessed() -> None:
    row = dict(_mock("gtt_get_order.json"))  # type: ignore[arg-type]
    del row["condition"]
    with pytest.raises(KiteGttError, match="unreadable GTT 123"):
        parse_gtt(row)


def test_gtt_request_as_kite_arguments_in_rupees() -> None:
    instrument = Instrument(
        InstrumentToken(408065), Exchange.NSE, Segment.NSE, "INFY", "INFOSYS",
        InstrumentType.EQ, "INFY", Paise(5), 1,
    )  # fmt: skip
    request = GttRequest(
        instrument.token, GttType.TWO_LEG, (Paise(70_200), Paise(90_000)),
        (GttLeg(Side.SELL, 2, Paise(70_150)), GttLeg(Side.SELL, 2, Paise(90_050))), Paise(79_800),
    )  # fmt: skip
    arguments = gtt_arguments(request, instrument)
    assert arguments["trigger_type"] == "two-leg" and arguments["trigger_values"] == [702.0, 900.0]
    assert arguments["last_price"] == 798.0
    assert arguments["orders"][1] == {
        "transaction_type": "SELL", "quantity": 2, "order_type": "LIMIT", "product": "CNC",
        "price": 900.5,
    }  # fmt: skip
    assert [crossed(request, p) for p in (70_200, 79_800, 90_000)] == [0, None, 1]
