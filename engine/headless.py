"""`dalaldesk --headless`: the engine on the simulated market without Qt, with a summary at the end.

The P&L of the summary is worked out at the marks the engine journaled as it stopped
(``marks_seq`` names the row), so every figure it prints can be rebuilt from the book alone
(``engine.store.pnl_rebuild``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from engine.alerts.delivery import (
    DeliveryKeys,
    DeliverySettings,
    ReportMailer,
    attach_deliveries,
)
from engine.core.memory import freeze_startup_objects
from engine.domain.marks import SESSION_END, PnlMarks, book_pnl
from engine.domain.values import rupees_text
from engine.runtime import Engine, EngineConfig
from engine.strategies.demo import DemoStrategy

log = logging.getLogger(__name__)


async def run_session(
    config: EngineConfig,
    duration: float,
    *,
    demo: bool,
    deliveries: DeliverySettings | None = None,
    keys: DeliveryKeys | None = None,
) -> dict[str, object]:
    """``deliveries`` and ``keys`` (the profile's keyring): alerts also go by Telegram / e-mail."""
    engine = Engine.build(config)
    freeze_startup_objects()
    delivery = None if keys is None else attach_deliveries(engine.api, deliveries, keys)
    if keys is not None and engine.schedule is not None:
        email = (deliveries or DeliverySettings()).email
        engine.schedule.report_mailer = ReportMailer(email, keys)
    engine.start()  # strategies running when the desk last stopped resume here
    if demo and engine.strategies.instance("demo") is None:
        problem = engine.strategies.start("demo")
        if problem is not None:
            log.warning("the demo strategy did not start: %s", problem)
    strategy = engine.strategies.instance("demo")
    assert strategy is None or isinstance(strategy, DemoStrategy)
    try:
        await asyncio.sleep(duration)
    finally:
        await engine.stop()
        if delivery is not None:
            await delivery.close(flush=5.0)
    orders = engine.api.orders()
    # No positions, nothing marked: the P&L is zero and there is no row to name.
    marks = engine.closing_marks or PnlMarks(0, SESSION_END, engine.positions.today, ())
    book = book_pnl(engine.positions.all(), marks)
    return {
        "seconds": duration,
        "ticks": engine.ticks_seen,
        "orders": len(orders),
        "open_orders": sum(1 for o in orders if o.status.is_open),
        "fills": len(engine.api.trades()),
        "positions_open": sum(1 for p in book.positions if p.net_quantity),
        **book.totals(),
        "marks_seq": engine.closing_marks_seq,
        "positions": [p.to_json() for p in book.positions],
        "demo_orders_placed": strategy.orders_placed if strategy else 0,
        "demo_denied": strategy.denials if strategy else 0,
        "demo_denied_by_check": strategy.denial_reasons if strategy else {},
    }


def main(
    config: EngineConfig,
    duration: float,
    *,
    demo: bool,
    deliveries: DeliverySettings | None = None,
    keys: DeliveryKeys | None = None,
) -> int:
    summary = asyncio.run(
        run_session(config, duration, demo=demo, deliveries=deliveries, keys=keys)
    )
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if key == "positions" and isinstance(value, list):
            for line in value:
                print(f"{'position':<{width}}  {_position_line(line)}")
            continue
        print(f"{key:<{width}}  {value}")
    print(json.dumps(summary))
    return 0


def _position_line(p: dict[str, Any]) -> str:
    name = p["symbol"] or p["token"]
    at = "no price" if p["ltp"] is None else rupees_text(p["ltp"])
    return (
        f"{name} {p['product']} {p['net_quantity']:+} at {at}: realised {p['realised']}, "
        f"unrealised {p['unrealised']}, charges {p['charges']}, net {p['net_pnl']}"
    )
