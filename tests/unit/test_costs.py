"""Transaction charges: the worked examples of nse_market.md §3.4, to the paisa.

All published figures reproduce with the §3.3 formulas when every component is kept exact and only
the final sum is rounded to the paisa, half up. Per-row figures in the §3.4 table are those exact
components rounded the same way (e.g. stamp 0.195 → 0.20, SEBI 0.0143 → 0.01).
"""

from __future__ import annotations

from dataclasses import replace
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
from engine.domain.instruments import Segment, make_token
from engine.domain.orders import OrderRequest, OrderType, Product, Side
from engine.domain.values import Paise, round_paisa
from engine.domain.values import round_paisa as _paisa
from engine.oms.charging import DayChargeModel
from tests import support
from tests.support import RELIANCE, make_desk, quote

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
#
# §3.4's "Equity delivery, 100 sh, 1,000 → 1,010" (₹223.52 + DP ₹15.93) and "Equity intraday, same
# trade" (₹82.97, of which STT ₹25.25) are the figures; §3.3: "a CNC buy and sell of the same scrip
# on the same day is charged as intraday"; §3.1: DP ₹13.5 + 18 % GST = ₹15.93 per scrip per day sold.


_MONDAY, _TUESDAY = date(2026, 11, 23), date(2026, 11, 24)


def _cnc(order: str, side: Side, rupees: int, quantity: int, trade: str, token=None) -> OrderFilled:
    return OrderFilled(
        OrderId(order),
        0,
        TradeId(trade),
        token or RELIANCE.token,
        side,
        Product.CNC,
        quantity,
        rupees * 100,
    )


def _day(model: DayChargeModel, on: date, *fills: OrderFilled) -> list[Charges]:
    return [model(RELIANCE, fill, on, Decimal(0)) for fill in fills]


def test_dp_charge_when_computed_is_13_50_plus_gst_15_93() -> None:
    dp = costs.dp_charge()
    assert (dp.dp, dp.gst, dp.total) == (Decimal("13.5"), Decimal("2.43"), Decimal("15.93"))


def test_cnc_when_bought_and_sold_the_next_day_costs_223_52_plus_dp_15_93() -> None:
    model = DayChargeModel()
    (buy,) = _day(model, _MONDAY, _cnc("A", Side.BUY, 1000, 100, "T1"))
    (sell,) = _day(model, _TUESDAY, _cnc("B", Side.SELL, 1010, 100, "T2"))

    assert buy == charges("EQ_DELIVERY", "BUY", 1000, 100, _MONDAY)
    assert sell == charges("EQ_DELIVERY", "SELL", 1010, 100, _TUESDAY) + costs.dp_charge()
    assert (buy.dp, sell.dp) == (0, Decimal("13.5"))
    assert _paisa(buy.total + sell.total - costs.dp_charge().total) == Decimal("223.52")
    assert _paisa(buy.total + sell.total) == Decimal("239.45")  # ₹223.52 + DP ₹15.93
    assert buy.stt + sell.stt == Decimal("201.00")


def test_dp_charge_when_one_scrip_is_sold_twice_in_a_day_is_levied_once() -> None:
    model = DayChargeModel()
    first, second = _day(
        model,
        _TUESDAY,
        _cnc("A", Side.SELL, 1010, 40, "T1"),
        _cnc("B", Side.SELL, 1012, 60, "T2"),
    )
    assert (first.dp, second.dp) == (Decimal("13.5"), 0)
    assert second == charges("EQ_DELIVERY", "SELL", 1012, 60, _TUESDAY)


def test_dp_charge_when_sold_again_the_next_day_is_levied_again() -> None:
    model = DayChargeModel()
    _day(model, _TUESDAY, _cnc("A", Side.SELL, 1010, 40, "T1"))
    (next_day,) = _day(model, date(2026, 11, 25), _cnc("B", Side.SELL, 1015, 10, "T2"))
    assert next_day.dp == Decimal("13.5")


def test_dp_charge_when_two_scrips_are_sold_the_same_day_is_levied_for_each() -> None:
    model = DayChargeModel()
    other = make_token(1594, Segment.NSE)
    first = model(RELIANCE, _cnc("A", Side.SELL, 1010, 10, "T1"), _TUESDAY, Decimal(0))
    second = model(RELIANCE, _cnc("B", Side.SELL, 1500, 10, "T2", other), _TUESDAY, Decimal(0))
    assert (first.dp, second.dp) == (Decimal("13.5"), Decimal("13.5"))


def test_cnc_when_bought_and_sold_the_same_day_costs_the_intraday_82_97_without_dp() -> None:
    model = DayChargeModel()
    buy, sell = _day(
        model,
        _MONDAY,
        _cnc("A", Side.BUY, 1000, 100, "T1"),
        _cnc("B", Side.SELL, 1010, 100, "T2"),
    )
    intraday = charges("EQ_INTRADAY", "BUY", 1000, 100, _MONDAY) + charges(
        "EQ_INTRADAY", "SELL", 1010, 100, _MONDAY
    )

    assert buy == charges("EQ_DELIVERY", "BUY", 1000, 100, _MONDAY), "priced as delivery until sold"
    assert buy + sell == intraday  # component by component, exactly
    assert _paisa((buy + sell).total) == Decimal("82.97")
    assert (buy + sell).stt == Decimal("25.25")
    assert (buy + sell).brokerage == Decimal(40)  # ₹20 per executed order, both orders
    assert (buy + sell).stamp == Decimal("3.00")  # intraday 0.003 %, not delivery's 0.015 %
    assert sell.dp == 0, "nothing left the demat account: no DP charge"


def test_cnc_when_sold_from_holdings_and_bought_back_the_same_day_is_intraday_and_dp_is_given_back():
    model = DayChargeModel()
    sell, buy = _day(
        model,
        _MONDAY,
        _cnc("A", Side.SELL, 1010, 100, "T1"),
        _cnc("B", Side.BUY, 1000, 100, "T2"),
    )

    assert sell.dp == Decimal("13.5"), "a sell from holdings is delivery until bought back"
    assert (buy.dp, (sell + buy).dp) == (Decimal("-13.5"), 0)
    assert _paisa((sell + buy).total) == Decimal("82.97")
    assert (sell + buy).stt == Decimal("25.25")


def test_cnc_when_partly_bought_back_pays_intraday_brokerage_on_both_whole_orders():
    # Zerodha's support example: 100 held, 50 sold, 25 bought back the same day: "intraday
    # charges will be applicable for both orders, regardless of the quantity bought back".
    # STT and stamp follow the quantity: 25 intraday, 25 delivery (which pays DP).
    model = DayChargeModel()
    sell, buy = _day(
        model,
        _MONDAY,
        _cnc("A", Side.SELL, 1010, 50, "T1"),
        _cnc("B", Side.BUY, 1000, 25, "T2"),
    )
    day = sell + buy

    assert day.brokerage == Decimal("15.15") + Decimal("7.50")  # 0.03 % of ₹50,500 and ₹25,000
    assert day.stt == Decimal("25.25") + Decimal("6.3125")  # 0.1 % and 0.025 % of ₹25,250
    assert day.stamp == Decimal("0.75")  # 0.003 % of ₹25,000
    assert day.dp == Decimal("13.5")
    assert day == (
        charges("EQ_DELIVERY", "SELL", 1010, 25, _MONDAY)
        + charges("EQ_INTRADAY", "SELL", 1010, 25, _MONDAY)
        + charges("EQ_INTRADAY", "BUY", 1000, 25, _MONDAY)
        + Charges(brokerage=Decimal("22.65") - Decimal("7.575") - Decimal("7.50"))
        + Charges(gst=Decimal("0.18") * (Decimal("22.65") - Decimal("7.575") - Decimal("7.50")))
        + costs.dp_charge()
    )
    assert _paisa(day.total) == Decimal("77.79")


def test_cnc_brokerage_when_an_order_fills_in_parts_is_capped_once_per_order() -> None:
    model = DayChargeModel()
    fills = _day(
        model,
        _MONDAY,
        _cnc("A", Side.BUY, 1000, 60, "T1"),
        _cnc("A", Side.BUY, 1000, 40, "T2"),
        _cnc("B", Side.SELL, 1010, 30, "T3"),
        _cnc("B", Side.SELL, 1010, 70, "T4"),
    )
    assert sum(fills).brokerage == Decimal(40)  # ₹20 cap for each order, not for each fill
    assert sum(fills) == charges("EQ_INTRADAY", "BUY", 1000, 100, _MONDAY) + charges(
        "EQ_INTRADAY", "SELL", 1010, 100, _MONDAY
    )


def test_charge_model_when_not_cnc_equity_prices_each_fill_on_its_own() -> None:
    model = DayChargeModel()
    mis = OrderFilled(
        OrderId("M"), 0, TradeId("T1"), RELIANCE.token, Side.SELL, Product.MIS, 100, 101_000
    )
    assert model(RELIANCE, mis, _MONDAY, Decimal(0)) == charges(
        "EQ_INTRADAY", "SELL", 1010, 100, _MONDAY
    )


def _journaled(model: DayChargeModel, fill: OrderFilled, on: date) -> OrderFilled:
    return replace(fill, charges=model(RELIANCE, fill, on, Decimal(0)))


def test_charge_model_when_restarted_mid_day_learns_the_day_and_charges_as_if_never_stopped():
    live = DayChargeModel()
    journal = [
        _journaled(live, _cnc("A", Side.BUY, 1000, 100, "T1"), _MONDAY),
        _journaled(live, _cnc("B", Side.SELL, 1010, 50, "T2"), _MONDAY),  # A turns intraday
    ]
    restarted = DayChargeModel()
    for fill in journal:
        restarted.learn(RELIANCE, fill, _MONDAY)

    more = [_cnc("C", Side.SELL, 1010, 50, "T3"), _cnc("D", Side.SELL, 1013, 5, "T4")]
    assert _day(restarted, _MONDAY, *more) == _day(live, _MONDAY, *more)
    # A's ₹20 brokerage was charged before the restart and is not charged again.
    assert sum(f.charges for f in journal).brokerage == Decimal("20") + Decimal("15.15")


def test_charge_model_when_restarted_after_a_delivery_sell_does_not_charge_dp_again() -> None:
    live = DayChargeModel()
    sold = _journaled(live, _cnc("A", Side.SELL, 1010, 20, "T1"), _MONDAY)
    restarted = DayChargeModel()
    restarted.learn(RELIANCE, sold, _MONDAY)
    (again,) = _day(restarted, _MONDAY, _cnc("B", Side.SELL, 1013, 5, "T2"))
    assert again.dp == 0


def test_charge_model_when_a_journaled_sell_has_no_dp_charges_it_on_the_next_sell() -> None:
    # A row journaled before DP was modelled carries none: the ledger still owes the day's one.
    restarted = DayChargeModel()
    old = _cnc("A", Side.SELL, 1010, 20, "T1")
    restarted.learn(
        RELIANCE, replace(old, charges=charges("EQ_DELIVERY", "SELL", 1010, 20, _MONDAY)), _MONDAY
    )
    (again,) = _day(restarted, _MONDAY, _cnc("B", Side.SELL, 1013, 5, "T2"))
    assert again.dp == Decimal("13.5")


def test_order_manager_when_restarted_between_a_cnc_buy_and_sell_charges_the_day_as_intraday(
    tmp_path, monkeypatch
) -> None:
    # The real order path: paper venue, journal on disk, the order manager's restore.
    monkeypatch.setattr(support, "default_charge_model", DayChargeModel())
    desk = make_desk(tmp_path / "book.db")
    desk.tick(quote(RELIANCE, bid=99_990, ask=100_000))
    assert desk.oms.submit(
        OrderRequest(
            RELIANCE.token, Side.BUY, 100, OrderType.LIMIT, Product.CNC, price=Paise(100_000)
        )
    )
    monkeypatch.setattr(support, "default_charge_model", DayChargeModel())  # a fresh memory
    again = desk.reopen()
    try:
        again.tick(quote(RELIANCE, bid=101_000, ask=101_010))
        assert again.oms.submit(
            OrderRequest(
                RELIANCE.token, Side.SELL, 100, OrderType.LIMIT, Product.CNC, price=Paise(101_000)
            )
        )
        buy, sell = (f.charges for f in again.oms.fills)
        assert buy + sell == charges("EQ_INTRADAY", "BUY", 1000, 100, _MONDAY) + charges(
            "EQ_INTRADAY", "SELL", 1010, 100, _MONDAY
        )
        assert _paisa(again.positions.total_charges()) == Decimal("82.97")
    finally:
        again.database.close()
