"""An execution algo still working on an option at its expiry close, on the paper market: the
venue settles what the algo bought in the algo's name (its own order, source BROKER), and the
algo does not count that settlement as one of its children or its fills."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from engine.core.clock import IST
from engine.domain.orders import OrderStatus
from tests.algo_support import algo_desk, step

WEEKLY = date(2026, 12, 1)


def test_algo_working_over_its_options_expiry_close_counts_no_settlement_as_its_own(
    tmp_path: Path,
) -> None:
    engine = algo_desk(tmp_path, at=datetime(2026, 12, 1, 15, 30, tzinfo=IST))
    try:
        spot = engine.api.underlying_price("NIFTY")
        assert spot is not None
        calls = [row[1] for row in engine.registry.chain("NIFTY", WEEKLY) if row[1] is not None]
        call = min(calls, key=lambda i: abs((i.strike or 0) - spot * 100))
        started = engine.api.start_algo(
            {
                "kind": "twap",
                "token": int(call.token),
                "side": "BUY",
                "quantity": 20 * call.lot_size,
                "duration_seconds": 1200,  # runs on past the 15:40 close
                "slices": 20,
            }
        )
        assert started, started.reason
        while engine.clock.now() < datetime(2026, 12, 1, 15, 42, tzinfo=IST):
            step(engine, 0.5)
            engine.housekeeping.beat()
        mine = [o for o in engine.api.orders() if o.strategy == started.parent_id]
        settlements = [o for o in mine if o.source.value == "broker"]
        assert len(settlements) == 1 and settlements[0].status is OrderStatus.COMPLETE
        children = [o for o in mine if o.source.value != "broker"]
        bought = sum(o.filled_quantity for o in children)
        assert bought > 0 and settlements[0].quantity == bought
        [view] = engine.api.algos()
        assert view.filled == bought, (view.filled, bought)
        assert view.children == len(children)
    finally:
        engine.close()
