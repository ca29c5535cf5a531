"""Transaction charges: the worked examples of nse_market.md §3.4, to the paisa.

All published figures reproduce with the §3.3 formulas when every component is kept exact and only
the final sum is rounded to the paisa, half up. Per-row figures in the §3.4 table are those exact
components rounded the same way (e.g. stamp 0.195 → 0.20, SEBI 0.0143 → 0.01).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from engine import costs
from engine.costs import (
    DEFAULT_TARIFF,
    Charges,
    ChargeSegment,
    OrderBrokerage,
    Tariff,
    charges,
)
from engine.domain.events import OrderFilled
from engine.domain.ids import OrderId, TradeId
from engine.domain.orders import Product, Side
from engine.domain.values import round_paisa
from engine.domain.values import round_paisa as _paisa
from engine.oms.charging import DayChargeModel
from tests.support import RELIANCE

AFTER_APRIL_2026 = date(2026, 4, 15)
MARCH_2026 = date(2026, 3, 16)
FEB_2026 = date(2026, 2, 16)
SEP_2024 = date(2024, 9, 16)


def round_trip(segment: str, buy: int, sell: int, quantity: int, on: date) -> Charges:
    return charges(segment, "BUY", buy, quantity, on) + charges(segment, "SELL", sell, quantity, on)


def paise(amount: Decimal) -> Decimal:
    return round_paisa(amount)


# --- §3.4 worked example: 1 lot NIFTY option (65), buy 100 → sell 120, after 1 Apr 2026 ---


def test_option_round_trip_when_after_april_2026_totals_65_11():
    trip = round_trip("OPT", 100, 120, 65, AFTER_APRIL_2026)

    assert paise(trip.total) == Decimal("65.11")
    assert trip.total == Decimal("65.1072062")


def test_option_round_trip_when_after_april_2026_matches_each_row_of_the_table():
    buy = charges("OPT", "BUY", 100, 65, AFTER_APRIL_2026)
    sell = charges("OPT", "SELL", 120, 65, AFTER_APRIL_2026)

    assert (buy.brokerage, sell.brokerage) == (Decimal(20), Decimal(20))
    assert (buy.stt, sell.stt) == (0, Decimal("11.70"))
    assert (paise(buy.exchange), paise(sell.exchange)) == (Decimal("2.31"), Decimal("2.77"))
    assert (buy.sebi, sell.sebi) == (Decimal("0.0065"), Decimal("0.0078"))
    assert (buy.stamp, sell.stamp) == (Decimal("0.195"), 0)

    rows = (buy + sell).rounded()
    assert rows.brokerage == Decimal("40.00")
    assert rows.stt == Decimal("11.70")
    assert rows.exchange == Decimal("5.08")
    assert rows.sebi == Decimal("0.01")
    assert rows.gst == Decimal("8.12")
    assert rows.stamp == Decimal("0.20")
    assert rows.total == Decimal("65.11")


def test_option_round_trip_when_stt_rounded_as_on_contract_note_totals_65_41():
    trip = round_trip("OPT", 100, 120, 65, AFTER_APRIL_2026).with_stt_rounded_to_rupee()

    assert trip.stt == Decimal(12)
    assert paise(trip.total) == Decimal("65.41")


def test_option_round_trip_when_net_of_charges_is_1234_89():
    trip = round_trip("OPT", 100, 120, 65, AFTER_APRIL_2026)

    assert Decimal(1_300) - paise(trip.total) == Decimal("1234.89")


@pytest.mark.parametrize("on", [MARCH_2026, FEB_2026], ids=["march-2026", "feb-2026"])
def test_option_round_trip_when_before_april_2026_totals_61_21(on):
    # 0.10% STT on the sale. The Oct 2024–Feb 2026 split (3,503 + 50 IPFT per crore) and the
    # March 2026 all-in 3,553 per crore are the same amount, so both periods give 61.21.
    trip = round_trip("OPT", 100, 120, 65, on)

    assert trip.stt == Decimal("7.80")
    assert paise(trip.total) == Decimal("61.21")


# --- §3.4: more round trips at the same (after 1 Apr 2026) rates ---


def test_delivery_round_trip_when_100_shares_1000_to_1010_totals_223_52():
    trip = round_trip("EQ_DELIVERY", 1000, 1010, 100, AFTER_APRIL_2026)

    assert trip.brokerage == 0
    assert trip.stt == Decimal("201.00")
    assert paise(trip.total) == Decimal("223.52")


def test_intraday_round_trip_when_100_shares_1000_to_1010_totals_82_97():
    trip = round_trip("EQ_INTRADAY", 1000, 1010, 100, AFTER_APRIL_2026)

    # 0.03% of ₹1 lakh is ₹30 per order, so the ₹20 cap applies on both legs.
    assert trip.brokerage == Decimal(40)
    assert trip.stt == Decimal("25.25")
    assert paise(trip.total) == Decimal("82.97")


def test_futures_round_trip_when_after_april_2026_totals_967_91():
    trip = round_trip("FUT", 25_000, 25_050, 65, AFTER_APRIL_2026)

    assert paise(trip.stt) == Decimal("814.13")
    assert paise(trip.total) == Decimal("967.91")


def test_futures_round_trip_when_stt_is_0_02_percent_totals_479_44():
    trip = round_trip("FUT", 25_000, 25_050, 65, MARCH_2026)

    assert trip.stt == Decimal("325.65")
    assert paise(trip.total) == Decimal("479.44")


# --- Date-aware rates ---


def test_option_sell_stt_when_before_october_2024_is_0_0625_percent():
    sell = charges("OPT", "SELL", 120, 65, SEP_2024)

    assert sell.stt == Decimal("7800") * Decimal("0.000625")
    assert sell.exchange == Decimal("7800") * Decimal("0.000495")


def test_futures_sell_stt_steps_up_on_each_rate_change():
    stt = {
        on: charges("FUT", "SELL", 100, 1, on).stt
        for on in (date(2024, 9, 30), date(2024, 10, 1), date(2026, 3, 31), date(2026, 4, 1))
    }

    assert list(stt.values()) == [
        Decimal("0.0125"),
        Decimal("0.02"),
        Decimal("0.02"),
        Decimal("0.05"),
    ]


def test_charges_when_trade_date_before_first_rate_period_are_refused():
    with pytest.raises(ValueError, match="no rates for trades before 2023-04-01"):
        charges("OPT", "SELL", 100, 65, date(2022, 6, 1))


def test_option_exercise_stt_when_after_april_2026_is_0_15_percent_of_intrinsic_value():
    assert DEFAULT_TARIFF.exercise_stt(Decimal(1_000), AFTER_APRIL_2026) == Decimal("1.5")
    assert DEFAULT_TARIFF.exercise_stt(Decimal(1_000), MARCH_2026) == Decimal("1.25")


# --- Brokerage is per executed order, not per fill ---


def test_option_order_when_filled_in_three_parts_pays_brokerage_once():
    paid = Decimal(0)
    fills = []
    for quantity in (65, 130, 65):
        fill = charges("OPT", "BUY", 100, quantity, AFTER_APRIL_2026, brokerage_paid=paid)
        paid += fill.brokerage
        fills.append(fill)

    assert [f.brokerage for f in fills] == [Decimal(20), 0, 0]
    whole = charges("OPT", "BUY", 100, 260, AFTER_APRIL_2026)
    assert sum(fills) == whole


def test_futures_order_when_partial_fills_cross_the_cap_pays_at_most_20():
    # 0.03% of 25,000 × 1 = ₹7.50 per unit: the third unit crosses ₹20.
    paid = Decimal(0)
    brokerages = []
    for _ in range(4):
        fill = charges("FUT", "BUY", 25_000, 1, AFTER_APRIL_2026, brokerage_paid=paid)
        paid += fill.brokerage
        brokerages.append(fill.brokerage)

    assert brokerages == [Decimal("7.5"), Decimal("7.5"), Decimal("5.0"), 0]
    assert paid == Decimal(20)


def test_intraday_order_when_small_pays_percentage_brokerage():
    fill = charges("EQ_INTRADAY", "BUY", 500, 10, AFTER_APRIL_2026)

    assert fill.brokerage == Decimal("1.5")


# --- Exchanges ---


def test_bse_equity_when_intraday_buy_charges_0_00375_percent():
    fill = charges("EQ_INTRADAY", "BUY", 1000, 100, AFTER_APRIL_2026, exchange="BSE")

    assert fill.exchange == Decimal("3.75")


def test_bse_futures_when_after_october_2024_have_no_transaction_charge():
    assert charges("FUT", "SELL", 80_000, 20, AFTER_APRIL_2026, exchange="BFO").exchange == 0


def test_bse_charges_when_before_flat_rates_are_refused():
    with pytest.raises(ValueError, match="no BSE transaction charges"):
        charges("EQ_DELIVERY", "BUY", 100, 1, SEP_2024, exchange="BSE")


def test_nfo_exchange_when_given_uses_nse_rates():
    assert charges("OPT", "BUY", 100, 65, AFTER_APRIL_2026, exchange="NFO") == charges(
        "OPT", "BUY", 100, 65, AFTER_APRIL_2026
    )


# --- Inputs ---


def test_charge_segment_enum_when_passed_equals_its_string():
    assert charges(ChargeSegment.OPT, "SELL", "120", 65, AFTER_APRIL_2026) == charges(
        "OPT", "SELL", Decimal(120), 65, AFTER_APRIL_2026
    )


def test_float_price_when_passed_is_read_as_its_shortest_decimal():
    assert charges("OPT", "BUY", 100.05, 65, AFTER_APRIL_2026) == charges(
        "OPT", "BUY", Decimal("100.05"), 65, AFTER_APRIL_2026
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("OPT", "BUY", 100, 0), "quantity must be positive"),
        (("OPT", "BUY", -5, 65), "price must be a positive"),
        (("OPT", "BUY", 0, 65), "price must be a positive"),
        (("OPT", "BUY", "abc", 65), "price 'abc' is not a number"),
        (("OPT", "BUY", "NaN", 65), "price must be a positive, finite"),
        (("SWAP", "BUY", 100, 65), "unknown charge segment 'SWAP'"),
        (("OPT", "HOLD", 100, 65), "unknown side 'HOLD'"),
        (("OPT", "buy", 100, 65), "unknown side 'buy'"),
    ],
)
def test_charges_when_input_is_bad_raise_a_readable_value_error(args, message):
    with pytest.raises(ValueError, match=message):
        charges(*args, AFTER_APRIL_2026)


def test_charges_when_exchange_unknown_raise_value_error():
    with pytest.raises(ValueError, match="unknown exchange 'MCX'"):
        charges("OPT", "BUY", 100, 65, AFTER_APRIL_2026, exchange="MCX")


def test_charges_when_brokerage_paid_negative_raise_value_error():
    with pytest.raises(ValueError, match="brokerage_paid"):
        charges("OPT", "BUY", 100, 65, AFTER_APRIL_2026, brokerage_paid=Decimal(-1))


def test_charges_when_trade_date_is_a_datetime_raise_type_error():
    with pytest.raises(TypeError, match="trade date"):
        charges("OPT", "BUY", 100, 65, datetime(2026, 4, 15, 10, 0))  # noqa: DTZ001


def test_charges_when_quantity_not_an_int_raise_type_error():
    with pytest.raises(TypeError, match="quantity must be an int"):
        charges("OPT", "BUY", 100, 65.0, AFTER_APRIL_2026)  # type: ignore[arg-type]


# --- Charges value and pluggable tariffs ---


def test_charges_total_when_summed_is_the_sum_of_components():
    a = charges("OPT", "BUY", 100, 65, AFTER_APRIL_2026)
    b = charges("FUT", "SELL", 25_000, 65, AFTER_APRIL_2026)
    both = a + b

    assert both.total == a.total + b.total
    assert both.total == (
        both.brokerage + both.stt + both.exchange + both.sebi + both.stamp + both.gst
    )


def test_charges_when_frozen_refuse_assignment():
    fill = charges("OPT", "BUY", 100, 65, AFTER_APRIL_2026)

    with pytest.raises(AttributeError):
        fill.total = Decimal(0)  # type: ignore[misc]


def test_other_tariff_when_plugged_in_changes_only_brokerage():
    flat_ten = Tariff(
        name="flat ₹10",
        brokerage={
            segment: OrderBrokerage(rate=None, cap=Decimal(10)) for segment in ChargeSegment
        },
        periods=DEFAULT_TARIFF.periods,
    )

    mine = flat_ten.charges("OPT", "BUY", 100, 65, AFTER_APRIL_2026)
    default = DEFAULT_TARIFF.charges("OPT", "BUY", 100, 65, AFTER_APRIL_2026)

    assert mine.brokerage == Decimal(10)
    assert (mine.stt, mine.exchange, mine.stamp) == (default.stt, default.exchange, default.stamp)


def test_tariff_when_brokerage_missing_for_a_segment_is_refused():
    with pytest.raises(ValueError, match="no brokerage for"):
        Tariff(name="broken", brokerage={}, periods=DEFAULT_TARIFF.periods)


# --- A day of CNC fills: same-day matches are intraday, delivery sells pay DP (§3.1, §3.3) ---


_MONDAY, _TUESDAY = date(2026, 11, 23), date(2026, 11, 24)


def _cnc(order: str, side: Side, rupees: int, quantity: int, trade: str) -> OrderFilled:
    return OrderFilled(
        OrderId(order), 0, TradeId(trade), RELIANCE.token, side, Product.CNC, quantity, rupees * 100
    )


def test_charges_dp_when_delivery_sold_next_day_is_the_reference_round_trip_plus_dp() -> None:
    model = DayChargeModel()
    buy = model(RELIANCE, _cnc("A", Side.BUY, 1000, 100, "T1"), _MONDAY, Decimal(0))
    sell = model(RELIANCE, _cnc("B", Side.SELL, 1010, 100, "T2"), _TUESDAY, Decimal(0))
    assert _paisa(buy.total + sell.total - sell.dp - Decimal("2.43")) == Decimal("223.52")
    assert sell.dp == Decimal("13.5") and _paisa(costs.dp_charge().total) == Decimal("15.93")
    assert _paisa(buy.total + sell.total) == Decimal("239.45")  # ₹223.52 + DP ₹15.93
    assert buy.dp == 0


def test_charges_dp_is_levied_once_per_scrip_per_day() -> None:
    model = DayChargeModel()
    first = model(RELIANCE, _cnc("A", Side.SELL, 1010, 40, "T1"), _TUESDAY, Decimal(0))
    second = model(RELIANCE, _cnc("B", Side.SELL, 1012, 60, "T2"), _TUESDAY, Decimal(0))
    assert first.dp == Decimal("13.5") and second.dp == 0
    next_day = model(RELIANCE, _cnc("C", Side.SELL, 1015, 10, "T3"), date(2026, 11, 25), 0)
    assert next_day.dp == Decimal("13.5")


def test_charges_same_day_cnc_buy_and_sell_is_charged_as_intraday() -> None:
    model = DayChargeModel()
    buy = model(RELIANCE, _cnc("A", Side.BUY, 1000, 100, "T1"), _MONDAY, Decimal(0))
    sell = model(RELIANCE, _cnc("B", Side.SELL, 1010, 100, "T2"), _MONDAY, Decimal(0))
    intraday = costs.charges("EQ_INTRADAY", "BUY", 1000, 100, _MONDAY) + costs.charges(
        "EQ_INTRADAY", "SELL", 1010, 100, _MONDAY
    )
    assert buy.total + sell.total == intraday.total  # exactly the intraday round trip
    assert _paisa(buy.total + sell.total) == Decimal("82.97")  # the reference's figure
    assert _paisa((buy + sell).stt) == Decimal("25.25")
    assert sell.dp == 0, "nothing left the demat account: no DP charge"


def test_charges_same_day_cnc_partly_matched_splits_intraday_and_delivery() -> None:
    model = DayChargeModel()
    buy = model(RELIANCE, _cnc("A", Side.BUY, 1000, 40, "T1"), _MONDAY, Decimal(0))
    sell = model(RELIANCE, _cnc("B", Side.SELL, 1010, 100, "T2"), _MONDAY, Decimal(0))
    expected = (
        costs.charges("EQ_INTRADAY", "BUY", 1000, 40, _MONDAY)
        + costs.charges("EQ_INTRADAY", "SELL", 1010, 40, _MONDAY)
        + costs.charges("EQ_DELIVERY", "SELL", 1010, 60, _MONDAY)
        + costs.dp_charge()
    )
    assert buy.total + sell.total == expected.total


def test_charges_sell_then_buy_back_the_same_day_gives_the_dp_charge_back() -> None:
    model = DayChargeModel()
    sell = model(RELIANCE, _cnc("A", Side.SELL, 1010, 100, "T1"), _MONDAY, Decimal(0))
    assert sell.dp == Decimal("13.5")
    buy = model(RELIANCE, _cnc("B", Side.BUY, 1000, 100, "T2"), _MONDAY, Decimal(0))
    assert (sell + buy).dp == 0
    intraday = costs.charges("EQ_INTRADAY", "SELL", 1010, 100, _MONDAY) + costs.charges(
        "EQ_INTRADAY", "BUY", 1000, 100, _MONDAY
    )
    assert sell.total + buy.total == intraday.total


def test_charges_day_state_after_a_restart_is_rebuilt_from_the_journaled_fills() -> None:
    before = DayChargeModel()
    fills = [
        _cnc("A", Side.BUY, 1000, 30, "T1"),
        _cnc("B", Side.SELL, 1010, 50, "T2"),  # 30 intraday, 20 from delivery: DP paid
    ]
    priced = [
        OrderFilled(
            f.order_id,
            0,
            f.trade_id,
            f.token,
            f.side,
            f.product,
            f.quantity,
            f.price,
            before(RELIANCE, f, _MONDAY, Decimal(0)),
        )
        for f in fills
    ]
    after = DayChargeModel()  # the desk restarted: it learns the day from the journal
    for fill in priced:
        after.learn(RELIANCE, fill, _MONDAY)
    again = _cnc("C", Side.SELL, 1012, 10, "T3")
    assert after(RELIANCE, again, _MONDAY, Decimal(0)) == before(
        RELIANCE, again, _MONDAY, Decimal(0)
    )
    assert after(RELIANCE, _cnc("D", Side.SELL, 1013, 5, "T4"), _MONDAY, Decimal(0)).dp == 0
