"""What the execution-algo tests share: a desk on the simulated market with a test clock and room
in its risk limits for index futures, a market stepper that moves the throttle's queue as the
runtime's pump does, and the algos' children and fills as the book's journal holds them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.core.clock import IST, TestClock
from engine.domain.instruments import Instrument
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig
from engine.store.pnl_rebuild import read_book

MONDAY_0918 = datetime(2026, 11, 23, 9, 18, tzinfo=IST)
RISK = RiskSettings(
    defaults=RiskLimits(
        capital=Decimal(500_000_000),
        daily_loss_limit=Decimal(50_000_000),
        max_position_lots=5000,
        max_underlying_lots=20_000,
    )
)
NS = 1_000_000_000


def algo_desk(
    tmp_path: Path, *, at: datetime = MONDAY_0918, seed: int = 3, book: str | None = None
) -> Engine:
    engine = Engine.build(
        EngineConfig(
            db_url=book or f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=seed, strikes_each_side=6, ticks_per_second=80),
            portfolios_dir=tmp_path / "portfolios",
            var_interval_seconds=0,
            risk=RISK,
        ),
        clock=TestClock(at),
    )
    assert engine.market is not None
    for tick in engine.market.snapshot():
        engine.quotes.update(tick)
    engine.strategies.resume()  # what Engine.start does on the loop
    return engine


def future(engine: Engine, underlying: str) -> Instrument:
    [found] = [
        i
        for i in engine.registry
        if i.underlying == underlying and i.instrument_type.value == "FUT"
    ]
    return found


def step(engine: Engine, seconds: float = 0.25, ticks: list[Tick] | None = None) -> None:
    """One step of market time: the clock, the throttle's queue (as the runtime's pump moves it
    each second), then the market's ticks."""
    assert engine.market is not None and isinstance(engine.clock, TestClock)
    engine.clock.advance(seconds)
    engine.orders.release_queued()
    for tick in engine.market.step(seconds):
        if ticks is not None:
            ticks.append(tick)
        engine.on_tick(tick)


def run_while(engine: Engine, busy: Any, *, limit: float = 3600, dt: float = 0.5) -> float:
    waited = 0.0
    while busy():
        assert waited < limit, f"still running after {limit:g} simulated seconds"
        step(engine, dt)
        waited += dt
    return waited


def live(engine: Engine) -> list[str]:
    return [v.parent_id for v in engine.api.algos() if v.status.value in ("working", "paused")]


@dataclass
class ChildRow:
    order_id: str
    ts_ns: int
    quantity: int
    source: str
    tag: str
    filled: int = 0
    open: bool = True
    fills: list[tuple[int, int, int]] = field(default_factory=list)


@dataclass
class JournalAlgos:
    """Each parent's children and fills, read from the book alone."""

    children: dict[str, list[ChildRow]]
    by_order: dict[str, ChildRow]
    records: dict[str, list[dict[str, Any]]]
    """Each parent's strategy records in order (status, reason, state)."""

    def filled(self, parent: str) -> int:
        return sum(c.filled for c in self.children.get(parent, []))

    def per_second(self) -> Counter[int]:
        """Algo children sent in each calendar second."""
        return Counter(c.ts_ns // NS for rows in self.children.values() for c in rows)


def read_algos(book: str) -> JournalAlgos:
    children: dict[str, list[ChildRow]] = {}
    by_order: dict[str, ChildRow] = {}
    records: dict[str, list[dict[str, Any]]] = {}
    for row in read_book(book).entries:
        if row.kind == "order_submitted":
            request = row.payload["request"]
            parent = request.get("strategy") or ""
            if not parent.startswith("algo-"):
                continue
            child = ChildRow(
                str(row.order_id),
                row.ts_ns,
                int(request["quantity"]),
                str(request.get("source")),
                str(request.get("tag")),
            )
            children.setdefault(parent, []).append(child)
            by_order[child.order_id] = child
        elif row.kind == "order_filled" and row.order_id in by_order:
            child = by_order[row.order_id]
            quantity = int(row.payload["quantity"])
            child.filled += quantity
            child.fills.append((row.ts_ns, quantity, int(row.payload["price"])))
        elif row.kind == "order_status" and row.order_id in by_order:
            if row.payload["status"] in ("COMPLETE", "CANCELLED", "REJECTED", "DENIED"):
                by_order[row.order_id].open = False
        elif row.kind == "strategy" and str(row.payload.get("strategy", "")).startswith("algo-"):
            records.setdefault(row.payload["strategy"], []).append(
                {"ts_ns": row.ts_ns, "seq": row.seq, **row.payload}
            )
    return JournalAlgos(children, by_order, records)
