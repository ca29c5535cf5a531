"""Trailing stop-losses and conditional orders on scripted price paths, brackets through a
restart, and terms that make no sense refused in words, on the paper venue with a test clock
(``tests.advanced_orders_support``: the test writes every quote)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.domain.events import EngineMessage
from engine.domain.orders import OrderStatus, OrderType
from tests.advanced_orders_support import PaperDesk, paper_desk


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[PaperDesk]:
    made = paper_desk(tmp_path)
    try:
        yield made
    finally:
        made.close()


def _buy(desk: PaperDesk, quantity: int, side: str = "BUY") -> None:
    outcome = desk.engine.api.place_order(desk.token, side, quantity, "MARKET", product="MIS")
    assert outcome.ok, outcome.reason
    assert desk.net_of("") == quantity * (1 if side == "BUY" else -1)


def _exit_order(desk: PaperDesk, parent: str):  # type: ignore[no-untyped-def]
    [order_id] = desk.orders_of[parent][-1:]
    order = desk.engine.api.order(order_id)
    assert order is not None
    return order


def _said(desk: PaperDesk) -> list[str]:
    said: list[str] = []
    desk.engine.bus.subscribe(EngineMessage, lambda m: said.append(m.text))
    return said


# -- trailing stop-loss -------------------------------------------------------------------------------


def test_trailing_stop_in_points_follows_the_rise_never_loosens_and_exits_on_the_turn(
    desk: PaperDesk,
) -> None:
    api = desk.engine.api
    _buy(desk, 10)
    placed = api.place_trailing_stop(desk.token, 10, stop="398.00", trail_points="2.00")
    assert placed.ok, placed.reason
    stops = []
    for ltp in (40_000, 40_100, 40_050, 40_300, 40_200, 40_250):
        desk.tick(ltp)
        order = _exit_order(desk, placed.parent_id)
        assert order.order_type is OrderType.SL and order.status is OrderStatus.TRIGGER_PENDING
        stops.append(order.trigger_price)
    # 2.00 behind the best price seen, only ever up: 398 (start), 399, 399, 401, 401, 401.
    assert stops == [Decimal(s) for s in ("398", "399", "399", "401", "401", "401")]

    desk.tick(40_095)  # through 401.00: the stop triggers and sells at the bid
    assert desk.net_of(placed.parent_id) == -10 and desk.net_of("") == 10
    assert _exit_order(desk, placed.parent_id).status is OrderStatus.COMPLETE
    [view] = [v for v in api.advanced_orders() if v.parent_id == placed.parent_id]
    assert not view.working and "10 at the stop" in view.detail


def test_trailing_stop_short_by_percent_on_the_ask_follows_the_side_that_would_fill(
    desk: PaperDesk,
) -> None:
    api = desk.engine.api
    _buy(desk, 4, side="SELL")
    placed = api.place_trailing_stop(
        desk.token, 4, stop="404.00", trail_percent="0.5", use_touch=True
    )
    assert placed.ok, placed.reason
    # The last price stays at 400.00; the ask falls to 398.00: 0.5 % above it is 399.99, on the
    # tick grid away from the market 400.00, which is not above the market: held at 404.
    desk.tick(40_000, bid=39_995, ask=39_800)
    assert _exit_order(desk, placed.parent_id).trigger_price == Decimal("404")
    desk.tick(39_700, bid=39_695, ask=39_700)  # best ask 397.00: stop 397.00 × 1.005 = 398.99
    assert _exit_order(desk, placed.parent_id).trigger_price == Decimal("399")
    desk.tick(39_800, bid=39_795, ask=39_805)  # the ask rises: never loosened
    assert _exit_order(desk, placed.parent_id).trigger_price == Decimal("399")
    desk.tick(39_900, bid=39_895, ask=39_905)  # a buy stop at 399.00 triggers
    assert desk.net_of(placed.parent_id) == 4


def test_trailing_stop_pauses_at_the_modification_limit_and_says_so(desk: PaperDesk) -> None:
    api = desk.engine.api
    said = _said(desk)
    _buy(desk, 2)
    placed = api.place_trailing_stop(desk.token, 2, stop="399.00", trail_points="1.00")
    assert placed.ok, placed.reason
    for n in range(40):
        desk.tick(40_000 + 5 * (n + 1))  # a new high every tick: a tighter stop every tick
    order = _exit_order(desk, placed.parent_id)
    assert order.trigger_price == Decimal("400.00")  # 20 moves of 0.05 from 399.00, then paused
    assert any("trailing paused" in text and "20 modifications" in text for text in said)


# -- conditional orders -------------------------------------------------------------------------------


def test_conditional_order_on_a_price_cross_waits_for_the_cross_then_places_once(
    desk: PaperDesk,
) -> None:
    api = desk.engine.api
    condition = {"kind": "price", "token": desk.token, "direction": "above", "level": "401.00"}
    placed = api.place_conditional(condition, desk.token, "BUY", 5, order_type="MARKET")
    assert placed.ok, placed.reason
    for ltp in (40_000, 40_095, 40_050):
        desk.tick(ltp)
    assert desk.net_of(placed.parent_id) == 0
    desk.tick(40_100)
    assert desk.net_of(placed.parent_id) == 5
    desk.tick(39_900)
    desk.tick(40_200)  # crossed again: it was placed once and is done
    assert desk.net_of(placed.parent_id) == 5
    [view] = [v for v in api.advanced_orders() if v.parent_id == placed.parent_id]
    assert not view.working and "crossed above 401.00" in view.detail
    # Ended, it is off the strategies' catalogue: "Start" cannot send its order a second time.
    assert api.start_strategy(placed.parent_id) == f"no strategy named {placed.parent_id!r}"
    assert desk.net_of(placed.parent_id) == 5


def test_conditional_order_on_another_instruments_price_a_level_already_past_waits_for_it(
    desk: PaperDesk,
) -> None:
    api = desk.engine.api
    nifty = desk.engine.registry.spot_tokens()["NIFTY"]
    desk.tick(2_400_000, token=nifty)  # NIFTY at 24,000: already below 24,100
    condition = {"kind": "price", "token": nifty, "direction": "below", "level": "24100"}
    placed = api.place_conditional(
        condition, desk.token, "SELL", 3, order_type="LIMIT", price="399.00"
    )
    assert placed.ok, placed.reason
    desk.tick(2_405_000, token=nifty)
    assert desk.net_of(placed.parent_id) == 0  # below the level at the start: not a cross
    desk.tick(2_412_000, token=nifty)
    desk.tick(40_000)
    assert desk.net_of(placed.parent_id) == 0
    desk.tick(2_409_500, token=nifty)  # crosses below 24,100
    assert desk.net_of(placed.parent_id) == -3


def test_conditional_order_at_a_time_of_day_places_when_the_clock_reaches_it(
    desk: PaperDesk,
) -> None:
    api = desk.engine.api
    placed = api.place_conditional(
        {"kind": "time", "at": "10:05"}, desk.token, "BUY", 2, order_type="MARKET"
    )
    assert placed.ok, placed.reason
    desk.tick(40_000, seconds=240)  # 10:04
    assert desk.net_of(placed.parent_id) == 0
    desk.tick(40_000, seconds=60)  # 10:05
    assert desk.net_of(placed.parent_id) == 2


def test_conditional_order_on_an_indicator_of_candles_places_when_the_sma_crosses(
    desk: PaperDesk,
) -> None:
    api = desk.engine.api
    condition = {
        "kind": "indicator", "token": desk.token, "indicator": "sma", "period": 3,
        "timeframe": "1m", "direction": "above", "level": "401",
    }  # fmt: skip
    placed = api.place_conditional(condition, desk.token, "BUY", 1)
    assert placed.ok, placed.reason
    # One tick a minute: each closes the last minute's candle with that close.
    closes = [40_000, 40_000, 40_000, 40_000, 40_100, 40_200]
    for close in closes:
        desk.tick(close, seconds=60)
    # SMA(3) of closed candles: 400, 400, 400.33 (after 401 closes) ... not above 401 yet.
    assert desk.net_of(placed.parent_id) == 0
    desk.tick(40_300, seconds=60)  # closes 402: SMA(3) = (401 + 402 + ...)/3 = 401.00
    desk.tick(40_300, seconds=60)  # closes 403: SMA(3) = 402.00, above 401
    assert desk.net_of(placed.parent_id) == 1


# -- GTT on paper ------------------------------------------------------------------------------------


async def test_gtt_on_paper_expires_after_a_year_untriggered(desk: PaperDesk) -> None:
    api = desk.engine.api
    leg = {"side": "BUY", "quantity": 2, "price": "390.00", "product": "CNC"}
    placed = await api.place_gtt(desk.token, ["390.00"], [leg])
    assert placed.ok, placed.reason
    desk.tick(39_500, seconds=364 * 86_400)
    [gtt] = await api.gtts()
    assert gtt.status.value == "active"
    desk.tick(39_500, seconds=2 * 86_400)
    [gtt] = await api.gtts()
    assert gtt.status.value == "expired"
    desk.tick(38_000)  # through the trigger after it expired: nothing placed
    assert desk.net_of(placed.parent_id) == 0 and not desk.orders_of[placed.parent_id]


# -- restart ------------------------------------------------------------------------------------------


async def test_bracket_after_a_restart_resumes_with_its_exit_and_exits_at_the_target(
    tmp_path: Path,
) -> None:
    first = paper_desk(tmp_path)
    api = first.engine.api
    placed = api.place_bracket(
        first.token, "BUY", 6, entry_price="400.00", stop="398.00", target="403.00"
    )
    assert placed.ok, placed.reason
    first.tick(39_995, depth=6)
    exit_id = _exit_order(first, placed.parent_id).order_id
    await first.engine.stop()

    second = paper_desk(tmp_path, start=40_100)
    try:
        second.engine.strategies.resume()
        [view] = [v for v in second.engine.api.advanced_orders() if v.parent_id == placed.parent_id]
        assert view.working and exit_id in view.detail and "held 6" in view.detail
        second.tick(40_300)
        second.tick(40_305)  # the bid reaches the target
        [view] = [v for v in second.engine.api.advanced_orders() if v.parent_id == placed.parent_id]
        assert not view.working and "6 out at the target" in view.detail
        exit_order = second.engine.api.order(exit_id)
        assert exit_order is not None and exit_order.filled_quantity == 6
        assert second.engine.api.order(exit_id).strategy == placed.parent_id  # type: ignore[union-attr]
    finally:
        second.close()


# -- nonsense -----------------------------------------------------------------------------------------


def test_bracket_oco_trailing_conditional_nonsense_is_refused_in_words_and_nothing_placed(
    desk: PaperDesk,
) -> None:
    api = desk.engine.api
    t = desk.token
    refusals = [
        (api.place_bracket(t, "BUY", 10, stop="401.00", target="405.00", entry_price="400.00"),
         "stop-loss 401.00 is on the wrong side: a long position's stop must be below"),
        (api.place_bracket(t, "SELL", 10, stop="405.00", target="401.00", entry_price="400.00"),
         "target 401.00 is on the wrong side: a short position's target must be below"),
        (api.place_bracket(t, "BUY", 0, stop="398.00", target="405.00"),
         "quantity 0 must be positive"),
        (api.place_bracket(t, "BUY", 5, stop="abc", target="405.00"),
         "stop-loss must be a price in rupees"),
        (api.place_bracket(t, "BUY", 5, stop="398.03", target="405.00"), "not on the tick"),
        (api.place_bracket(999_999_999, "BUY", 5, stop="398.00", target="405.00"),
         "no instrument 999999999"),
        (api.place_oco(t, 5, stop="398.00", target="405.00"), "no ITC position in MIS"),
        (api.place_trailing_stop(t, 5, stop="398.00"), "needs trail points or a trail percentage"),
        (api.place_trailing_stop(t, 5, stop="398.00", trail_percent="75"), "below 50"),
        (api.place_conditional({"kind": "moon"}, t, "BUY", 1), "one of price, time, indicator"),
        (api.place_conditional({"kind": "time", "at": "25:99"}, t, "BUY", 1),
         "the time must be HH:MM"),
        (api.place_conditional({"kind": "price", "token": t, "direction": "sideways",
                                "level": "400"}, t, "BUY", 1), "'above' or 'below'"),
        (api.place_conditional({"kind": "indicator", "token": t, "indicator": "macd",
                                "direction": "above", "level": "1"}, t, "BUY", 1),
         "the indicator is one of sma, ema, rsi"),
        (api.place_conditional({"kind": "price", "token": t, "direction": "above",
                                "level": "NaN"}, t, "BUY", 1), "positive number"),
        (api.place_conditional({"kind": "price", "token": t, "direction": "above",
                                "level": "401"}, t, "BUY", 1, order_type="LIMIT"),
         "a LIMIT order needs a price"),
    ]  # fmt: skip
    for outcome, words in refusals:
        assert not outcome.ok and words in outcome.reason, (words, outcome.reason)
    _buy(desk, 5)
    too_many = api.place_oco(t, 6, stop="398.00", target="405.00")
    assert not too_many.ok and "more than the 5 of ITC held" in too_many.reason
    wrong_side = api.place_oco(t, 5, stop="401.00", target="405.00")
    assert "stop must be below the last price" in wrong_side.reason
    assert api.advanced_orders() == []
    assert [o.strategy for o in api.orders()] == [None]
