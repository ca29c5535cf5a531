"""A stop-loss modification passes placement's checks on the paper venue: its limit may not sit
on the far side of its trigger, a stop modified into SL-M goes as SL with the protected limit
placement gives an SL-M, and a stop placed as SL-M whose trigger moves has its protected limit
moved with it (unless the trader gives a limit of their own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.domain.orders import Modification, OrderStatus, OrderType, Side
from engine.domain.values import Paise
from tests.support import make_desk, quote
from tests.unit.test_risk_gate import NIFTY_CE, RiskDesk, make_risk_desk, req


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[RiskDesk]:
    desk = make_risk_desk(tmp_path / "book.db")
    desk.market()  # NIFTY_CE at 100.00, tick 0.05, market protection 2 %
    yield desk
    desk.database.close()


def _buy_sl_m(desk: RiskDesk, trigger: int = 10100) -> str:
    outcome = desk.oms.submit(
        req(order_type=OrderType.SL_M, price=None, trigger_price=Paise(trigger))
    )
    assert outcome.ok, outcome.reason
    assert outcome.order_id is not None
    return outcome.order_id


def _sell_sl(desk: RiskDesk, price: int = 9850, trigger: int = 9900) -> str:
    assert desk.oms.submit(req(quantity=65, price=10000))  # the position the stop protects
    outcome = desk.oms.submit(
        req(side=Side.SELL, order_type=OrderType.SL, price=price, trigger_price=Paise(trigger))
    )
    assert outcome.ok, outcome.reason
    assert outcome.order_id is not None
    return outcome.order_id


def _terms(desk: RiskDesk, order_id: str) -> tuple[OrderType, int | None, int | None]:
    order = desk.oms.orders[order_id]
    return order.order_type, order.price, order.trigger_price


def test_stop_placed_as_sl_m_when_its_trigger_moves_gets_the_protected_limit_of_the_new_one(
    desk: RiskDesk,
) -> None:
    order_id = _buy_sl_m(desk)
    assert _terms(desk, order_id) == (OrderType.SL, 10300, 10100)  # 2 % above, on the tick

    assert desk.oms.modify(order_id, Modification(trigger_price=Paise(10400)))

    assert _terms(desk, order_id) == (OrderType.SL, 10605, 10400)
    assert desk.oms.orders[order_id].status is OrderStatus.TRIGGER_PENDING


def test_stop_placed_as_sl_m_when_the_ticket_sends_its_terms_back_with_a_new_trigger_moves_its_limit(
    desk: RiskDesk,
) -> None:
    order_id = _buy_sl_m(desk)
    ticket = Modification(65, Paise(10300), Paise(10400), OrderType.SL)  # its own type and limit

    assert desk.oms.modify(order_id, ticket)

    assert _terms(desk, order_id) == (OrderType.SL, 10605, 10400)


def test_stop_placed_as_sl_m_when_the_trader_sets_a_limit_keeps_that_limit(
    desk: RiskDesk,
) -> None:
    order_id = _buy_sl_m(desk)

    assert desk.oms.modify(order_id, Modification(price=Paise(10500), trigger_price=Paise(10400)))

    assert _terms(desk, order_id) == (OrderType.SL, 10500, 10400)


def test_stop_when_its_trigger_is_moved_past_its_limit_is_refused_as_at_placement(
    desk: RiskDesk,
) -> None:
    order_id = _sell_sl(desk)  # SELL stop: trigger 99.00, limit 98.50

    refused = desk.oms.modify(order_id, Modification(trigger_price=Paise(9800)))

    assert not refused and refused.check == "trigger"
    assert "limit price 98.50 is above the trigger 98.00: the order could never fill" in (
        refused.reason
    )
    assert desk.venue.modified == 0
    assert _terms(desk, order_id) == (OrderType.SL, 9850, 9900)
    [entry] = desk.journal("risk_denied")
    assert entry.payload["check"] == "trigger"


def test_stop_when_its_limit_is_moved_past_its_trigger_is_refused(desk: RiskDesk) -> None:
    order_id = _buy_sl_m(desk)  # BUY stop: trigger 101.00, limit 103.00

    refused = desk.oms.modify(order_id, Modification(price=Paise(10000)))

    assert not refused and refused.check == "trigger"
    assert "below the trigger 101.00" in refused.reason
    assert _terms(desk, order_id) == (OrderType.SL, 10300, 10100)


def test_stop_modified_into_sl_m_goes_as_sl_with_the_protected_limit(desk: RiskDesk) -> None:
    order_id = _sell_sl(desk)

    assert desk.oms.modify(order_id, Modification(order_type=OrderType.SL_M))

    assert _terms(desk, order_id) == (OrderType.SL, 9705, 9900)  # 2 % below, on the tick
    desk.tick(quote(NIFTY_CE, bid=9700, ask=9710, ltp=9700))  # triggered, beyond the limit
    assert desk.oms.orders[order_id].filled_quantity == 0  # protected: no fill at any price


def test_stop_modified_into_sl_m_with_a_new_trigger_is_protected_from_the_new_trigger(
    desk: RiskDesk,
) -> None:
    order_id = _sell_sl(desk)

    assert desk.oms.modify(
        order_id, Modification(order_type=OrderType.SL_M, trigger_price=Paise(9950))
    )

    assert _terms(desk, order_id) == (OrderType.SL, 9755, 9950)


def test_stop_on_a_desk_without_risk_limits_still_may_not_move_past_its_limit(
    tmp_path: Path,
) -> None:
    desk = make_desk(tmp_path / "plain.db")  # the gate checks validity only, as at placement
    try:
        desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
        outcome = desk.oms.submit(
            req(side=Side.SELL, order_type=OrderType.SL, price=9850, trigger_price=Paise(9900))
        )
        assert outcome.order_id is not None

        refused = desk.oms.modify(outcome.order_id, Modification(trigger_price=Paise(9800)))

        assert not refused and refused.check == "trigger"
        assert desk.oms.orders[outcome.order_id].trigger_price == 9900
    finally:
        desk.database.close()
