"""Orders held by the order-rate throttle meet the risk limits in force when they would go out:
the trader tightens the limits while orders wait in the queue, and those the new limits refuse
are cancelled with the gate's reason, never sent; square-offs that still reduce go out."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from engine.domain.orders import OrderStatus, OrderType, Product, Side
from engine.domain.origin import OrderSource, StrategyId
from tests.support import NIFTY_CE, quote
from tests.unit.test_risk_controls import burst_limits, place_burst
from tests.unit.test_risk_gate import make_risk_desk, req

QUEUED_AND_REFUSED = (
    "not sent: it was queued by the order-rate throttle and no longer passes the risk limits: "
)


def tightened(desk, **changes: Any):
    settings = desk.risk.settings
    return replace(settings, defaults=replace(settings.defaults, **changes))


def sent_ids(desk) -> list[str]:
    return [order_id for _, order_id in desk.venue.submitted]


def assert_exposure_matches_the_book(desk) -> None:
    exposure = desk.gate.exposure
    open_orders = desk.oms.open_orders()
    assert exposure.open_orders == len(open_orders)
    for side, working in ((Side.BUY, exposure.buys), (Side.SELL, exposure.sells)):
        expected = sum(o.pending_quantity for o in open_orders if o.side is side)
        assert working.get((NIFTY_CE.token, Product.NRML), 0) == expected


@pytest.mark.parametrize(
    ("changes", "go_out", "words"),
    [
        ({"max_order_value": Decimal(1_000)}, 0, "order value"),
        ({"max_position_lots": 12}, 2, "the limit is 12 lots"),
        ({"max_open_orders": 11}, 1, "the limit is 11"),
    ],
    ids=["max_order_value", "max_position_lots", "max_open_orders"],
)
def test_throttle_queued_orders_when_the_limits_tighten_are_refused_oldest_kept_first(
    tmp_path, changes: dict[str, Any], go_out: int, words: str
) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    try:
        desk.market()
        outcomes = place_burst(desk, count=14, within=0.5)  # one lot each: ten sent, four wait
        waiting = [o.order_id for o in outcomes[10:]]
        assert desk.oms.queued == waiting
        desk.risk.configure(tightened(desk, **changes), "tightened by the trader")
        desk.clock.advance(1)
        desk.oms.release_queued()
        assert sent_ids(desk)[10:] == waiting[:go_out]  # the oldest that still fit go first
        for order_id in waiting[go_out:]:
            order = desk.oms.orders[order_id]
            assert order.status is OrderStatus.CANCELLED
            assert order.status_message.startswith(QUEUED_AND_REFUSED)
            assert words in order.status_message
        assert desk.oms.queued == []
        assert_exposure_matches_the_book(desk)
        denied = desk.journal("risk_denied")
        assert [e.order_id for e in denied] == waiting[go_out:]
        assert {e.payload["action"] for e in denied} <= {"send"}
    finally:
        desk.database.close()


def test_throttle_queued_order_when_the_gate_limits_change_is_checked_as_it_is_released(
    tmp_path,
) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    try:
        desk.market()
        outcomes = place_burst(desk, count=12, within=0.5)
        waiting = [o.order_id for o in outcomes[10:]]
        desk.gate.configure(tightened(desk, max_order_value=Decimal(1_000)))
        desk.clock.advance(1)
        assert desk.oms.release_queued() == 0
        assert len(desk.venue.submitted) == 10
        for order_id in waiting:
            order = desk.oms.orders[order_id]
            assert order.status is OrderStatus.CANCELLED
            assert "above the limit of ₹1,000" in order.status_message
        assert_exposure_matches_the_book(desk)
    finally:
        desk.database.close()


def test_throttle_queued_order_when_refused_is_not_a_duplicate_of_the_same_order_again(
    tmp_path,
) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    try:
        desk.market()
        place_burst(desk, count=10, within=0.1)
        queued = desk.oms.submit(req(quantity=65, price=8000))
        assert queued and queued.order_id in desk.oms.queued
        desk.risk.configure(tightened(desk, max_order_value=Decimal(1_000)))
        desk.risk.configure(tightened(desk, max_order_value=Decimal(50_000_000)))
        assert desk.oms.orders[queued.order_id].status is OrderStatus.CANCELLED
        desk.clock.advance(1)  # within the duplicate window: the refused one was never sent
        again = desk.oms.submit(req(quantity=65, price=8000))
        assert again, again.reason
        assert sent_ids(desk)[-1] == again.order_id
    finally:
        desk.database.close()


def test_throttle_queued_square_off_when_the_limits_tighten_still_goes_out(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    try:
        desk.market()
        assert desk.oms.submit(req(quantity=195, price=10000))  # long 3 lots, filled
        place_burst(desk, count=9, within=0.5)  # the rest of this second's ten
        entry = desk.oms.submit(req(quantity=65, price=8500))
        [exit_] = desk.oms.square_off(NIFTY_CE.token, Product.NRML)
        assert entry and exit_ and desk.oms.queued == [exit_.order_id, entry.order_id]
        desk.risk.configure(
            tightened(desk, max_order_value=Decimal(1_000), max_open_orders=1, max_position_lots=1)
        )
        desk.clock.advance(1)
        desk.oms.release_queued()
        assert sent_ids(desk)[-1] == exit_.order_id
        assert desk.oms.orders[exit_.order_id].status is OrderStatus.COMPLETE
        assert desk.positions.get(NIFTY_CE.token, Product.NRML).net_quantity == 0
        assert desk.oms.orders[entry.order_id].status is OrderStatus.CANCELLED
        assert_exposure_matches_the_book(desk)
    finally:
        desk.database.close()


def test_throttle_queued_square_off_when_it_no_longer_reduces_meets_the_limits(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    try:
        desk.market()
        assert desk.oms.submit(req(quantity=65, price=10000))  # long 1 lot, filled
        # A strategy's resting target (the square-off leaves a strategy's exits to it).
        target = desk.oms.submit(
            req(
                side=Side.SELL,
                quantity=65,
                price=10100,
                source=OrderSource.STRATEGY,
                strategy=StrategyId("tgt"),
            )
        )
        place_burst(desk, count=8, within=0.5)  # the rest of this second's ten
        [exit_] = desk.oms.square_off(NIFTY_CE.token, Product.NRML, source=OrderSource.RISK)
        assert exit_ and exit_.order_id in desk.oms.queued
        # The target fills while the square-off waits: sent now, it would open a short.
        desk.tick(quote(NIFTY_CE, bid=10100, ask=10105, ltp=10100, size=6500))
        assert desk.oms.orders[target.order_id].status is OrderStatus.COMPLETE
        desk.risk.configure(tightened(desk, max_order_value=Decimal(1_000)))
        desk.clock.advance(1)
        desk.oms.release_queued()
        assert exit_.order_id not in sent_ids(desk)
        order = desk.oms.orders[exit_.order_id]
        assert order.status is OrderStatus.CANCELLED and "order value" in order.status_message
        assert desk.positions.get(NIFTY_CE.token, Product.NRML).net_quantity == 0
        assert_exposure_matches_the_book(desk)
    finally:
        desk.database.close()


def test_throttle_queued_order_refused_when_the_engine_restarts_stays_cancelled_once(
    tmp_path,
) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    desk.market()
    outcomes = place_burst(desk, count=12, within=0.5)
    waiting = [o.order_id for o in outcomes[10:]]
    desk.risk.configure(tightened(desk, max_order_value=Decimal(1_000)))
    desk.database.close()
    again = make_risk_desk(
        tmp_path / "book.db", limits=burst_limits("queue"), clock=desk.clock, restore=True
    )
    try:
        again.market()
        assert again.gate.limits_for("NIFTY").max_order_value == Decimal(1_000)
        for order_id in waiting:
            order = again.oms.orders[order_id]
            assert order.status is OrderStatus.CANCELLED
            assert order.status_message.startswith(QUEUED_AND_REFUSED)
            cancels = [
                e
                for e in again.journal("order_status")
                if e.order_id == order_id and e.payload["status"] == "CANCELLED"
            ]
            assert len(cancels) == 1
        assert again.venue.submitted == [] and again.oms.queued == []
        assert again.gate.exposure.open_orders == len(again.oms.open_orders()) == 10
    finally:
        again.database.close()


def test_throttle_queued_market_order_when_limits_are_unchanged_goes_out_as_queued(
    tmp_path,
) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=burst_limits("queue"))
    try:
        desk.market()
        place_burst(desk, count=10, within=0.1)
        queued = desk.oms.submit(req(quantity=65, order_type=OrderType.MARKET, price=None))
        assert queued.order_id in desk.oms.queued
        desk.risk.configure(tightened(desk, max_order_value=Decimal(100_000)))  # still fits
        desk.clock.advance(1)
        assert desk.oms.release_queued() == 1
        assert sent_ids(desk)[-1] == queued.order_id
        assert desk.oms.orders[queued.order_id].status is OrderStatus.COMPLETE
        assert_exposure_matches_the_book(desk)
    finally:
        desk.database.close()
