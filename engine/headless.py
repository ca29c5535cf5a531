"""`dalaldesk --headless`: the engine on the simulated market without Qt, with a summary at the end."""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal

from engine.core.memory import freeze_startup_objects
from engine.domain.ticks import Tick
from engine.runtime import Engine, EngineConfig
from engine.strategies.demo import DemoStrategy

log = logging.getLogger(__name__)


async def run_session(config: EngineConfig, duration: float, *, demo: bool) -> dict[str, object]:
    engine = Engine.build(config)
    strategy = None
    if demo:
        strategy = DemoStrategy(engine.api)
        engine.bus.subscribe(Tick, strategy.on_tick)
    freeze_startup_objects()
    engine.start()
    try:
        await asyncio.sleep(duration)
    finally:
        await engine.stop()
    orders = engine.api.orders()
    positions = engine.api.positions()
    pnl = sum((p.pnl for p in positions), Decimal(0))
    charges = sum((p.charges for p in positions), Decimal(0))
    return {
        "seconds": duration,
        "ticks": engine.ticks_seen,
        "orders": len(orders),
        "open_orders": sum(1 for o in orders if o.status.is_open),
        "fills": len(engine.api.trades()),
        "positions_open": sum(1 for p in positions if p.net_quantity),
        "pnl": str(pnl.quantize(Decimal("0.01"))),
        "charges": str(charges.quantize(Decimal("0.01"))),
        "net_pnl": str((pnl - charges).quantize(Decimal("0.01"))),
        "demo_orders_placed": strategy.orders_placed if strategy else 0,
        "demo_denied": strategy.denials if strategy else 0,
        "demo_denied_by_check": strategy.denial_reasons if strategy else {},
    }


def main(config: EngineConfig, duration: float, *, demo: bool) -> int:
    summary = asyncio.run(run_session(config, duration, demo=demo))
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(summary))
    return 0
