"""The order-rate throttle, the kill switch and the circuit breakers, on the paper venue."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from engine.brokers.paper.config import PaperConfig
from engine.core.clock import TestClock
from engine.domain.events import (
    BreakerTripped,
    OrderDenied,
    OrderQueued,
    OrderStatusChanged,
    RiskStateChanged,
    TradingState,
)
from engine.domain.orders import Modification, OrderStatus, OrderType, Product, Side
from engine.domain.origin import OrderSource
from engine.risk.limits import RiskLimits
from engine.risk.throttle import OrderThrottle
from tests.support import MONDAY_MORNING, NIFTY_CE, NIFTY_FUT, NIFTY_INDEX, quote
from tests.unit.test_risk_gate import make_risk_desk, req

SECOND = 1_000_000_000


def burst_limits(mode: str) -> RiskLimits:
    # Room for 100 small resting orders: the throttle is the only limit the burst meets.
    return RiskLimits(
        throttle_mode=mode, max_open_orders=200, max_position_lots=500, capital=Decimal(10**7)
    )


def place_burst(desk, count: int = 100, within: float = 1.0) -> list:
    """``count`` distinct resting orders spread evenly over ``within`` seconds of test time."""
    outcomes = []
    step = within / count
    for n in range(count):
        outcomes.append(desk.oms.submit(req(quantity=65, price=9000 - 5 * (n % 200))))
        desk.clock.advance(step)
    return outcomes


def per_second(desk) -> dict[int, int]:
    counts: dict[int, int] = {}
    for second, _ in desk.venue.submitted:
        counts[second] = counts.get(second, 0) + 1
    return counts


# -- the throttle ----------------------------------------------------------------------------------


def test_throttle_when_a_new_calendar_second_starts_allows_ten_again() -> None:
    throttle = OrderThrottle(10)
    start = 5 * SECOND + SECOND - 1_000  # 1 µs before a second boundary
    assert all(throttle.try_acquire(start) for _ in range(10))
    assert not throttle.try_acquire(start)
    assert throttle.capacity(start) == 0
    assert throttle.next_window_ns(start) == 6 * SECOND
    assert all(throttle.try_acquire(6 * SECOND) for _ in range(10))
    assert not throttle.try_acquire(6 * SECOND + 999_999_999)


def test_throttle_when_the_minute_limit_is_reached_waits_for_the_next_minute() -> None:
    throttle = OrderThrottle(10, per_minute=25)
    acquired = sum(throttle.try_acquire(s * SECOND) for s in range(3) for _ in range(10))
    assert acquired == 25
    assert throttle.next_window_ns(2 * SECOND) == 60 * SECOND


def test_burst_of_100_orders_in_one_second_when_queueing_never_sends_more_than_10_a_second(
    tmp_path,
) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    queued = desk.events(OrderQueued)
    try:
        desk.market()
        outcomes = place_burst(desk)
        assert all(outcomes)
        assert len(desk.venue.submitted) == 10
        assert len(queued) == 90 and len(desk.oms.queued) == 90
        waiting = [desk.oms.orders[o.order_id].status for o in outcomes[10:]]
        assert set(waiting) == {OrderStatus.PENDING_SUBMIT}
        while desk.oms.queued:
            desk.clock.advance(0.25)
            desk.oms.release_queued()
        counts = per_second(desk)
        assert max(counts.values()) == 10
        assert sum(counts.values()) == 100  # none lost
        assert [o for _, o in desk.venue.submitted] == [o.order_id for o in outcomes]  # FIFO
        assert all(desk.oms.orders[o.order_id].status is OrderStatus.OPEN for o in outcomes)
        assert len(desk.journal("order_queued")) == 90
    finally:
        desk.database.close()


def test_burst_of_100_orders_in_one_second_when_denying_sends_10_and_refuses_90_with_reason(
    tmp_path,
) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("deny"))
    denials = desk.events(OrderDenied)
    try:
        desk.market()
        desk.clock.set(MONDAY_MORNING.replace(microsecond=0))
        outcomes = place_burst(desk, within=0.99)
        assert sum(bool(o) for o in outcomes) == 10
        assert max(per_second(desk).values()) == 10
        refused = [o for o in outcomes if not o]
        assert len(refused) == 90 == len(denials)
        assert {o.check for o in refused} == {"order_rate"}
        assert len(desk.journal("order_denied")) == 90
    finally:
        desk.database.close()


def test_order_refused_by_the_rate_when_retried_a_moment_later_is_not_a_duplicate(
    tmp_path,
) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("deny"))
    desk.market()
    place_burst(desk, count=10, within=0.1)  # this second's ten
    refused = desk.oms.submit(req(quantity=65, price=8000))
    assert not refused and refused.check == "order_rate"
    desk.clock.advance(1.0)  # the next second: the same order, asked again
    retried = desk.oms.submit(req(quantity=65, price=8000))
    assert retried, retried.reason


def test_market_order_when_repeated_after_the_price_moved_is_still_a_duplicate(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db")
    desk.market()
    first = desk.oms.submit(req(order_type=OrderType.MARKET, price=None))
    assert first, first.reason
    desk.tick(quote(NIFTY_CE, bid=10095, ask=10100, ltp=10100, size=6500)._replace(close=10000))
    desk.clock.advance(0.5)
    again = desk.oms.submit(req(order_type=OrderType.MARKET, price=None))
    assert not again and again.check == "duplicate"


def test_queued_exits_when_the_rate_is_the_limit_go_out_ahead_of_queued_entries(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    queued = desk.events(OrderQueued)
    try:
        desk.market()
        bought = desk.oms.submit(req(quantity=130, order_type=OrderType.MARKET, price=None))
        assert bought and desk.oms.orders[bought.order_id].status is OrderStatus.COMPLETE
        entries = place_burst(desk, count=14, within=0.5)  # nine go out, five wait
        exits = [
            desk.oms.submit(req(side=Side.SELL, quantity=65, price=9000 + 5 * n, square_off=True))
            for n in range(2)
        ]
        assert all(exits) and all(o.order_id in desk.oms.queued for o in exits)
        assert [q.position for q in queued[-2:]] == [1, 2]  # ahead of the waiting entries
        desk.clock.advance(1)
        desk.oms.release_queued()
        sent = [o for _, o in desk.venue.submitted]
        waiting = [o.order_id for o in entries[9:]]
        assert sent[-7:] == [o.order_id for o in exits] + waiting
    finally:
        desk.database.close()


def test_queued_order_when_cancelled_is_never_sent_and_says_why(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    try:
        desk.market()
        outcomes = place_burst(desk, count=12, within=0.5)
        last = outcomes[-1].order_id
        assert last in desk.oms.queued
        refused = desk.oms.modify(last, Modification(quantity=130))
        assert not refused and "queued by the order-rate throttle" in refused.reason
        assert desk.oms.cancel(last)
        order = desk.oms.orders[last]
        assert order.status is OrderStatus.CANCELLED and "queued" in order.status_message
        desk.clock.advance(1)
        desk.oms.release_queued()
        assert last not in [o for _, o in desk.venue.submitted]
        assert len(desk.venue.submitted) == 11
    finally:
        desk.database.close()


def test_queued_orders_when_the_engine_restarts_are_cancelled_not_sent(book_url: str) -> None:
    desk = make_risk_desk(book_url, limits=burst_limits("queue"))
    desk.market()
    outcomes = place_burst(desk, count=15, within=0.5)
    desk.database.close()
    again = make_risk_desk(book_url, limits=burst_limits("queue"), clock=desk.clock, restore=True)
    try:
        for outcome in outcomes[10:]:
            order = again.oms.orders[outcome.order_id]
            assert order.status is OrderStatus.CANCELLED
            assert "queued by the order-rate throttle" in order.status_message
        assert again.venue.submitted == []
        assert again.venue.resting_count == 10
    finally:
        again.database.close()


# -- the kill switch --------------------------------------------------------------------------------


def open_book(desk) -> None:
    desk.market()
    assert desk.oms.submit(req(quantity=195, price=10000))  # long 3 lots
    assert desk.oms.submit(req(NIFTY_FUT, side=Side.SELL, price=2599990))  # short 1 lot
    for n in range(5):
        assert desk.oms.submit(req(price=9500 - 5 * n))  # resting buys


def test_kill_switch_when_pressed_cancels_everything_squares_off_and_stays_halted(
    tmp_path,
) -> None:
    desk = make_risk_desk(tmp_path / "book.db")
    states = desk.events(RiskStateChanged)
    try:
        open_book(desk)
        started = time.perf_counter()
        report = desk.risk.kill_switch(square_off=True, reason="trader pressed it")
        elapsed = time.perf_counter() - started
        assert elapsed < 1.0
        assert report.state is TradingState.HALTED and report.cancelled == 5
        assert desk.oms.open_orders() == [] and desk.venue.resting_count == 0
        assert all(p.net_quantity == 0 for p in desk.positions.all())
        assert {o.source for o in desk.oms.orders.values()} >= {OrderSource.RISK}
        assert [s.state for s in states] == [TradingState.HALTED]
        [journaled] = desk.journal("risk_state")
        assert journaled.payload["reason"] == "trader pressed it"

        desk.clock.advance(60)
        refused = desk.oms.submit(req(price=9950))
        assert not refused and refused.check == "trading_state"

        assert desk.risk.rearm()
        assert desk.oms.submit(req(price=9950))
        assert [e.payload["state"] for e in desk.journal("risk_state")] == ["HALTED", "ACTIVE"]
    finally:
        desk.database.close()


def test_kill_switch_without_square_off_leaves_positions_and_refuses_increases(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db")
    try:
        open_book(desk)
        desk.risk.kill_switch()
        assert desk.oms.open_orders() == []
        assert desk.positions.get(NIFTY_CE.token, Product.NRML).net_quantity == 195
        assert not desk.oms.submit(req(price=9950))
        # The trader may still close by hand with a square-off.
        assert all(desk.oms.square_off(NIFTY_CE.token, Product.NRML))
        assert desk.positions.get(NIFTY_CE.token, Product.NRML).net_quantity == 0
    finally:
        desk.database.close()


async def test_kill_switch_when_the_venue_has_latency_leaves_no_open_order_within_a_second(
    tmp_path,
) -> None:
    desk = make_risk_desk(tmp_path / "book.db", config=PaperConfig(latency_ms=50))
    try:
        desk.market()
        for n in range(8):
            desk.oms.submit(req(price=9500 - 5 * n))
        await asyncio.sleep(0.1)
        assert len(desk.oms.open_orders()) == 8
        loop = asyncio.get_running_loop()
        started = loop.time()
        desk.risk.kill_switch(square_off=True)
        while desk.oms.open_orders() and loop.time() - started < 1.0:
            await asyncio.sleep(0.01)
        assert desk.oms.open_orders() == [] and desk.venue.resting_count == 0
        assert loop.time() - started < 1.0
    finally:
        desk.database.close()


def test_halt_when_the_engine_restarts_is_still_in_force(book_url: str) -> None:
    desk = make_risk_desk(book_url)
    desk.market()
    desk.risk.kill_switch(reason="end of day")
    desk.database.close()
    again = make_risk_desk(book_url, clock=desk.clock, restore=True)
    try:
        again.market()
        assert again.gate.state is TradingState.HALTED
        assert again.risk.status().reason == "end of day"
        assert not again.oms.submit(req(price=9950))
    finally:
        again.database.close()


# -- circuit breakers -----------------------------------------------------------------------------


def test_daily_loss_when_crossed_halts_squares_off_and_the_overshoot_is_one_tick(tmp_path) -> None:
    limit = Decimal(10_000)
    desk = make_risk_desk(tmp_path / "book.db", limits=RiskLimits(daily_loss_limit=limit))
    trips = desk.events(BreakerTripped)
    try:
        desk.market()
        assert desk.oms.submit(req(quantity=650, price=10000))  # long 10 lots at 100
        step = 100  # ₹1 a tick: ₹650 on the position
        ltp = 10000
        mtm_before_trip = None
        while not trips and ltp > 5000:
            mtm_before_trip = desk.risk.breakers.day_mtm()
            ltp -= step
            desk.clock.advance(0.5)
            desk.tick(quote(NIFTY_CE, bid=ltp - 5, ask=ltp, ltp=ltp, size=6500))
        [trip] = trips
        assert trip.breaker == "daily_loss" and trip.action is TradingState.HALTED
        assert "daily loss limit" in trip.reason
        assert mtm_before_trip > -limit  # the previous tick was inside the limit
        overshoot = -trip.value - limit
        assert Decimal(0) <= overshoot <= Decimal(step * 650) / 100  # at most one tick's move
        assert desk.gate.state is TradingState.HALTED
        assert desk.positions.get(NIFTY_CE.token, Product.NRML).net_quantity == 0
        assert desk.journal("breaker_tripped")[0].payload["breaker"] == "daily_loss"
        realised = desk.risk.breakers.day_mtm()
        desk.tick(quote(NIFTY_CE, bid=1000, ask=1005, ltp=1000))  # the crash goes on
        assert desk.risk.breakers.day_mtm() == realised  # flat: nothing more to lose
    finally:
        desk.database.close()


def test_daily_loss_when_set_to_reducing_without_square_off_keeps_positions(tmp_path) -> None:
    limits = RiskLimits(
        daily_loss_limit=Decimal(1000),
        daily_loss_action=TradingState.REDUCING,
        square_off_on_daily_loss=False,
    )
    desk = make_risk_desk(tmp_path / "book.db", limits=limits)
    try:
        desk.market()
        desk.oms.submit(req(quantity=130, price=10000))
        resting = desk.oms.submit(req(quantity=65, price=9000))
        desk.tick(quote(NIFTY_CE, bid=9000, ask=9005, ltp=9000, size=65))
        assert desk.gate.state is TradingState.REDUCING
        assert desk.oms.orders[resting.order_id].status in (
            OrderStatus.CANCELLED,
            OrderStatus.COMPLETE,
        )
        assert desk.positions.get(NIFTY_CE.token, Product.NRML).net_quantity > 0
        assert desk.oms.submit(req(side=Side.SELL, quantity=65, price=9000))
    finally:
        desk.database.close()


def test_profit_lock_when_profit_falls_back_to_the_locked_amount_trips(tmp_path) -> None:
    limits = RiskLimits(profit_lock_at=Decimal(3000), profit_lock_keep=Decimal(1000))
    desk = make_risk_desk(tmp_path / "book.db", limits=limits)
    trips = desk.events(BreakerTripped)
    try:
        desk.market()
        desk.oms.submit(req(quantity=650, price=10000))
        desk.tick(quote(NIFTY_CE, bid=10600, ask=10605, ltp=10600))  # +3,900 - charges
        assert not trips
        desk.tick(quote(NIFTY_CE, bid=10100, ask=10105, ltp=10100))  # +650 - charges
        [trip] = trips
        assert trip.breaker == "profit_lock" and trip.action is TradingState.REDUCING
        assert "profit lock" in trip.reason
    finally:
        desk.database.close()


def test_drawdown_when_mtm_falls_from_the_days_peak_trips(tmp_path) -> None:
    desk = make_risk_desk(
        tmp_path / "book.db", limits=RiskLimits(max_drawdown_from_peak=Decimal(2000))
    )
    trips = desk.events(BreakerTripped)
    try:
        desk.market()
        desk.oms.submit(req(quantity=650, price=10000))
        desk.tick(quote(NIFTY_CE, bid=10800, ask=10805, ltp=10800))
        desk.tick(quote(NIFTY_CE, bid=10500, ask=10505, ltp=10500))
        assert not trips
        desk.tick(quote(NIFTY_CE, bid=10450, ask=10455, ltp=10450))
        [trip] = trips
        assert trip.breaker == "drawdown" and trip.value >= Decimal(2000)
    finally:
        desk.database.close()


def test_underlying_move_when_held_underlying_moves_3_percent_in_5_minutes_trips(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db")
    trips = desk.events(BreakerTripped)
    try:
        desk.market()
        desk.oms.submit(req(quantity=65, price=10000))
        spot = 2590000
        for _ in range(8):  # a 0.4 % drop every 30 s
            desk.clock.advance(30)
            spot = spot * 996 // 1000 // 5 * 5
            desk.tick(quote(NIFTY_INDEX, bid=0, ask=0, ltp=spot))
        [trip] = trips
        assert trip.breaker == "underlying_move:NIFTY"
        assert "NIFTY moved" in trip.reason and "within 5 min" in trip.reason
        assert desk.gate.state is TradingState.REDUCING
    finally:
        desk.database.close()


def test_underlying_move_when_the_desk_holds_nothing_there_does_not_trip(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db")
    trips = desk.events(BreakerTripped)
    try:
        desk.market()
        for spot in (2590000, 2400000, 2300000):
            desk.clock.advance(10)
            desk.tick(quote(NIFTY_INDEX, bid=0, ask=0, ltp=spot))
        assert trips == []
    finally:
        desk.database.close()


def test_rejections_when_five_arrive_within_ten_seconds_trip(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=RiskLimits(max_rejections=5))
    trips = desk.events(BreakerTripped)
    try:
        desk.market()
        for n in range(5):
            outcome = desk.oms.submit(req(price=9000 - 5 * n))
            desk.oms.on_broker_event(
                OrderStatusChanged(
                    outcome.order_id, desk.clock.time_ns(), OrderStatus.REJECTED, "RMS: blocked"
                )
            )
            desk.clock.advance(1)
        [trip] = trips
        assert trip.breaker == "rejections" and "RMS: blocked" in trip.reason
    finally:
        desk.database.close()


def test_breaker_when_rearmed_can_trip_again_with_a_fresh_reason(tmp_path) -> None:
    desk = make_risk_desk(
        tmp_path / "book.db",
        limits=RiskLimits(daily_loss_limit=Decimal(1000), square_off_on_daily_loss=False),
    )
    trips = desk.events(BreakerTripped)
    try:
        desk.market()
        desk.oms.submit(req(quantity=130, price=10000))
        desk.tick(quote(NIFTY_CE, bid=9000, ask=9005, ltp=9000))
        assert desk.gate.state is TradingState.HALTED
        desk.risk.rearm()
        assert desk.gate.state is TradingState.ACTIVE
        desk.tick(quote(NIFTY_CE, bid=8995, ask=9000, ltp=8995))
        assert len(trips) == 2 and desk.gate.state is TradingState.HALTED
    finally:
        desk.database.close()


@pytest.mark.parametrize("state", [TradingState.REDUCING, TradingState.HALTED])
def test_trading_state_when_tightened_cannot_be_loosened_except_by_rearm(tmp_path, state) -> None:
    desk = make_risk_desk(tmp_path / "book.db", clock=TestClock(MONDAY_MORNING))
    try:
        assert desk.risk.set_state(state, "test")
        assert not desk.risk.set_state(TradingState.ACTIVE, "sneaky")
        assert desk.gate.state is state
        assert desk.risk.rearm("done")
        assert desk.gate.state is TradingState.ACTIVE
        assert desk.journal("risk_state")[-1].payload["source"] == "rearm"
    finally:
        desk.database.close()


def test_usage_when_positions_exist_reports_each_limit_with_its_use(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db")
    try:
        desk.market()
        desk.oms.submit(req(quantity=130, price=10000))
        desk.oms.submit(req(price=9000))
        usage = {u.name: u for u in desk.risk.usage()}
        assert usage["max_open_orders"].used == 1
        assert usage["max_position_lots"].used == 3
        assert usage["capital"].used > 0 and usage["daily_loss_limit"].limit == Decimal(50_000)
        assert 0 < usage["max_position_lots"].fraction < 1
    finally:
        desk.database.close()


async def test_kill_switch_when_a_cancel_loses_the_race_to_a_fill_squares_that_off_too(
    tmp_path,
) -> None:
    desk = make_risk_desk(tmp_path / "book.db", config=PaperConfig(latency_ms=30))
    try:
        desk.market()
        desk.oms.submit(req(quantity=130, order_type=OrderType.MARKET, price=None))
        report = desk.risk.kill_switch(square_off=True)  # the buy is still in flight
        assert report.square_off == []  # nothing filled yet
        await asyncio.sleep(0.2)
        position = desk.positions.get(NIFTY_CE.token, Product.NRML)
        assert position.buy_quantity == 130 and position.net_quantity == 0
        assert desk.oms.open_orders() == []
        assert {o.source for o in desk.oms.orders.values()} == {OrderSource.API, OrderSource.RISK}
    finally:
        desk.database.close()
