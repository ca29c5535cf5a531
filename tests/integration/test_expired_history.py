"""A paper book's history of contracts that have since expired, after a restart: the orderbook
and the trades name each contract as its listing did (the simulated market's tokens say their
contract), not by a bare number, and an order on one is refused as expired, in words."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from engine.core.clock import IST
from engine.domain.orders import OrderStatus
from tests.integration.test_expired_contracts import NIFTY_WEEKLY, desk, near_the_money_call, run


def test_expired_history_after_a_restart_names_each_contract_and_refuses_orders_on_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    first = desk(db, datetime(2026, 11, 30, 11, 0, tzinfo=IST))
    try:
        run(first, 5)
        call = near_the_money_call(first, NIFTY_WEEKLY)
        bought = first.api.place_order(call.token, "BUY", call.lot_size, "MARKET")
        run(first, 3)
        sold = first.api.place_order(call.token, "SELL", call.lot_size, "MARKET")
        run(first, 3)
        for placed in (bought, sold):
            assert first.api.order(placed.order_id).status is OrderStatus.COMPLETE
    finally:
        first.close()

    engine = desk(db, datetime(2026, 12, 2, 10, 0, tzinfo=IST))  # after the 1 Dec expiry
    try:
        assert engine.registry.find(call.token) is None
        run(engine, 2)
        trades = engine.api.trades()
        assert [t.instrument.tradingsymbol for t in trades] == [call.tradingsymbol] * 2
        named = trades[0].instrument
        assert (named.expiry, named.strike, named.lot_size) == (
            call.expiry,
            call.strike,
            call.lot_size,
        )
        assert not named.listed and not named.tradable
        orders = {o.order_id: o for o in engine.api.orders()}
        assert orders[bought.order_id].instrument.tradingsymbol == call.tradingsymbol
        again = engine.api.place_order(call.token, "BUY", call.lot_size, "MARKET")
        assert not again.ok
        assert "expired" in again.reason, again.reason
    finally:
        engine.close()
