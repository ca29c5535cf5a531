"""What the multileg tests share: a desk on the simulated market driven by a test clock, a
recorder of what the bus carried in order (ticks, orders, fills), and the P&L of a strategy
rebuilt from the book file's journal alone."""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.brokers.base import BrokerSink, Capabilities
from engine.brokers.registry import BrokerContext, BrokerSpec, register
from engine.core.clock import IST, TestClock
from engine.domain.events import (
    EngineMessage,
    OrderDenied,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
)
from engine.domain.ids import BrokerOrderId, TradeId
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderStatus, OrderType, Side
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.store.pnl_rebuild import read_book, read_sqlite_book

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


def journal_cash(book: Path | str, strategy: str) -> int:
    """Paise: the cash of ``strategy``'s fills as the journal holds them (for a portfolio that
    holds nothing any more, its realised P&L before charges). ``book``: a SQLite file, or a
    book's URL."""
    rows = (read_book(book) if isinstance(book, str) else read_sqlite_book(book)).entries
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


@dataclass
class Held:
    order: Order
    changes: list[Modification] = field(default_factory=list)
    filled: int = 0
    acked: bool = False
    cancelled: bool = False
    cancel_asked: bool = False


class ScriptedBroker:
    """Holds every order until the test acts on it: ``ack``, ``fill`` (all or part), ``reject``,
    ``cancel_rest``. Modifications and cancels are recorded and acknowledged at once (a cancel
    of an order not acknowledged yet, as a live broker's adapter does, once it is)."""

    name = "scripted"
    capabilities = Capabilities(order_types=frozenset(OrderType))

    def __init__(self, context: BrokerContext) -> None:
        self._context = context
        self._sink: BrokerSink | None = None
        self.orders: list[Held] = []
        self._trades = 0
        self.cancels_at_once = True
        """False: a cancel is only noted, as when the exchange fills the order first."""

    def bind(self, sink: BrokerSink) -> None:
        self._sink = sink

    def _emit(self, event: object) -> None:
        assert self._sink is not None
        self._sink(event)

    def _now(self) -> int:
        return self._context.clock.time_ns()

    def submit(self, order: Order) -> None:
        self.orders.append(Held(order))

    def modify(self, order: Order, change: Modification) -> None:
        held = self.held(order.order_id)
        held.changes.append(change)
        self._emit(
            OrderStatusChanged(
                order.order_id,
                self._now(),
                OrderStatus.OPEN,
                "modified",
                quantity=change.quantity,
                price=change.price,
                trigger_price=change.trigger_price,
                order_type=change.order_type,
            )
        )

    def cancel(self, order: Order) -> None:
        held = self.held(order.order_id)
        held.cancel_asked = True
        if not self.cancels_at_once or not held.acked:
            return  # a live broker cancels an order it has not acknowledged once it has
        held.cancelled = True
        self._emit(
            OrderStatusChanged(order.order_id, self._now(), OrderStatus.CANCELLED, "cancelled")
        )

    def restore(self, open_orders: list[Order]) -> None:
        assert not open_orders

    # -- what the test does --------------------------------------------------------------------------

    def held(self, order_id: str) -> Held:
        return next(h for h in self.orders if h.order.order_id == order_id)

    def ack(self, held: Held) -> None:
        held.acked = True
        self._emit(
            OrderStatusChanged(
                held.order.order_id,
                self._now(),
                OrderStatus.OPEN,
                broker_order_id=BrokerOrderId(f"S{self.orders.index(held)}"),
            )
        )
        if held.cancel_asked and not held.cancelled:
            self.cancel(held.order)  # asked before the acknowledgement

    def fill(self, held: Held, quantity: int | None = None) -> None:
        if not held.acked:
            self.ack(held)
        quantity = held.order.quantity - held.filled if quantity is None else quantity
        held.filled += quantity
        self._trades += 1
        order = held.order
        price = (
            order.price if order.price is not None else self._context.quotes.get(order.token).ltp
        )
        self._emit(
            OrderFilled(
                order.order_id,
                self._now(),
                TradeId(f"ST{self._trades}"),
                order.token,
                order.side,
                order.product,
                quantity,
                price,
            )
        )

    def reject(self, held: Held, why: str = "RMS: margin exceeds") -> None:
        self._emit(OrderStatusChanged(held.order.order_id, self._now(), OrderStatus.REJECTED, why))

    def cancel_rest(self, held: Held) -> None:
        self._emit(
            OrderStatusChanged(held.order.order_id, self._now(), OrderStatus.CANCELLED, "IOC rest")
        )

    def unfilled(self) -> list[Held]:
        return [
            h
            for h in self.orders
            if not h.cancelled and h.filled < h.order.quantity and h.order.status.is_open
        ]


def scripted_desk(tmp_path: Path, **config: Any) -> Iterator[tuple[Engine, ScriptedBroker]]:
    """A desk trading through a ``ScriptedBroker`` on the simulated market's prices (for a
    pytest fixture: ``yield from scripted_desk(tmp_path)``), built with ``config`` besides."""
    made: list[ScriptedBroker] = []

    def make(context: BrokerContext) -> ScriptedBroker:
        made.append(ScriptedBroker(context))
        return made[-1]

    unregister = register(BrokerSpec("scripted", "Scripted", make))
    engine = build_desk(tmp_path, broker="scripted", feed="simulated", **config)
    try:
        run_market(engine, 2)
        yield engine, made[-1]
    finally:
        engine.close()
        unregister()


CRASH_SEED = int(os.environ.get("DALALDESK_CRASH_SEED") or random.SystemRandom().randrange(10**6))
"""The seed the crash tests draw their kill points from: fresh each run, printed, and set by
``DALALDESK_CRASH_SEED`` to replay a failing run's points."""
SEED_NOTE = f"DALALDESK_CRASH_SEED={CRASH_SEED}"


def kill_points(events: range, how_many: int, scenario: str) -> list[int]:
    """``how_many`` distinct event numbers from ``events``, drawn with ``CRASH_SEED`` (each
    scenario its own draw, so one can be replayed alone), sorted."""
    draw = random.Random(f"{CRASH_SEED}:{scenario}")
    points = sorted(draw.sample(events, min(how_many, len(events))))
    print(f"multileg {scenario} crash: kills after events {points} ({SEED_NOTE})")
    return points
