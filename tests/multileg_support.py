"""What the multileg tests share: a desk on the simulated market driven by a test clock, a
recorder of what the bus carried in order (ticks, orders, fills), and the P&L of a strategy
rebuilt from the book file's journal alone."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.core.clock import IST, TestClock
from engine.domain.events import EngineMessage, OrderDenied, OrderFilled, OrderSubmitted
from engine.domain.orders import Side
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.store.pnl_rebuild import read_sqlite_book

MONDAY_0918 = datetime(2026, 11, 23, 9, 18, tzinfo=IST)


def build_desk(
    tmp_path: Path, *, at: datetime = MONDAY_0918, seed: int = 3, **config: Any
) -> Engine:
    clock = TestClock(at)
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=seed),
            portfolios_dir=tmp_path / "portfolios",
            var_interval_seconds=0,
            **config,
        ),
        clock=clock,
    )
    return engine


def run_market(engine: Engine, seconds: float, step: float = 0.25) -> None:
    assert engine.market is not None and isinstance(engine.clock, TestClock)
    for _ in range(round(seconds / step)):
        engine.clock.advance(step)
        for tick in engine.market.step(step):
            engine.on_tick(tick)


def run_until(engine: Engine, done: Any, *, limit: float = 3600, step: float = 0.25) -> float:
    """Run the market until ``done()`` holds; the simulated seconds it took."""
    waited = 0.0
    while not done():
        assert waited < limit, f"not done after {limit:g} simulated seconds"
        run_market(engine, step, step)
        waited += step
    return waited


def template_spec(engine: Engine, key: str, name: str, **sections: Any) -> dict[str, Any]:
    """A template's portfolio as plain data, renamed, with ``sections`` merged over it."""
    [template] = [t for t in engine.api.portfolio_templates() if t.key == key]
    data = copy.deepcopy(template.spec.model_dump(mode="json"))
    data["defaults"]["name"] = name
    for section, values in sections.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    return data


@dataclass
class Recorder:
    """Everything the bus carried, in the order it carried it."""

    events: list[Any] = field(default_factory=list)
    said: list[str] = field(default_factory=list)

    def attach(self, engine: Engine) -> Recorder:
        for kind in (Tick, OrderSubmitted, OrderFilled, OrderDenied):
            engine.bus.subscribe(kind, self.events.append)
        engine.bus.subscribe(EngineMessage, lambda m: self.said.append(m.text))
        return self

    def submitted(self, strategy: str) -> list[OrderSubmitted]:
        return [
            e
            for e in self.events
            if isinstance(e, OrderSubmitted) and e.request.strategy == strategy
        ]


def journal_cash(book: Path, strategy: str) -> int:
    """Paise: the cash of ``strategy``'s fills as the journal holds them (for a portfolio that
    holds nothing any more, its realised P&L before charges)."""
    rows = read_sqlite_book(book).entries
    owned = {
        row.order_id
        for row in rows
        if row.kind == "order_submitted" and row.payload["request"].get("strategy") == strategy
    }
    cash = 0
    for row in rows:
        if row.kind == "order_filled" and row.order_id in owned:
            quantity, price = int(row.payload["quantity"]), int(row.payload["price"])
            cash += -quantity * price if row.payload["side"] == Side.BUY.value else quantity * price
    return cash
