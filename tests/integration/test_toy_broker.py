"""A broker defined here, registered by name, trades through the normal engine and the headless
runner: nothing in the runtime, the app or the API knows it exists."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.brokers.base import BrokerSink, Capabilities
from engine.brokers.registry import BrokerContext, BrokerSpec, broker_names, register
from engine.domain.events import OrderFilled, OrderStatusChanged
from engine.domain.ids import BrokerOrderId, TradeId
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderStatus, OrderType, Side
from engine.domain.ticks import Tick
from engine.headless import main as headless_main
from engine.runtime import Engine, EngineConfig


class ToyBroker:
    """Fills every order in full at the touch the moment it arrives; nothing rests."""

    name = "toy"
    capabilities = Capabilities(
        order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}), modify=False
    )

    def __init__(self, context: BrokerContext) -> None:
        self._context = context
        self._sink: BrokerSink | None = None
        self.received: list[Order] = []
        self._trades = 0

    def bind(self, sink: BrokerSink) -> None:
        self._sink = sink

    def submit(self, order: Order) -> None:
        assert self._sink is not None
        self.received.append(order)
        now = self._context.clock.time_ns()
        tick = self._context.quotes.get(order.token)
        broker_id = BrokerOrderId(f"TOY{len(self.received)}")
        if tick is None or not (tick.ask if order.side is Side.BUY else tick.bid):
            self._sink(
                OrderStatusChanged(order.order_id, now, OrderStatus.REJECTED, "toy: no quote")
            )
            return
        self._sink(
            OrderStatusChanged(order.order_id, now, OrderStatus.OPEN, broker_order_id=broker_id)
        )
        self._trades += 1
        price = tick.ask if order.side is Side.BUY else tick.bid
        self._sink(
            OrderFilled(
                order.order_id,
                now,
                TradeId(f"TOYT{self._trades}"),
                order.token,
                order.side,
                order.product,
                order.quantity,
                price,
            )
        )

    def modify(self, order: Order, change: Modification) -> None:
        raise AssertionError("the toy broker's orders never rest")

    def cancel(self, order: Order) -> None:
        raise AssertionError("the toy broker's orders never rest")

    def restore(self, open_orders: list[Order]) -> None:
        assert not open_orders


built: list[ToyBroker] = []


def _make_toy(context: BrokerContext) -> ToyBroker:
    broker = ToyBroker(context)
    built.append(broker)
    return broker


@pytest.fixture
def toy_registered() -> Iterator[None]:
    built.clear()
    unregister = register(BrokerSpec("toy", "Toy", _make_toy))
    try:
        yield
    finally:
        unregister()
    assert "toy" not in broker_names()


async def test_toy_broker_when_registered_trades_through_the_engine_and_its_api(
    tmp_path: Path, toy_registered: None
) -> None:
    config = EngineConfig(broker="toy", db_url=f"sqlite:///{tmp_path / 'toy.db'}", always_open=True)
    engine = Engine.build(config)
    try:
        assert engine.broker is built[-1] and engine.market is not None
        for tick in engine.market.step(0.25):
            engine.on_tick(tick)
        future = next(
            i for i in engine.api.instruments.search("NIFTY", limit=500) if i.is_derivative
        )
        quote = engine.api.tick(future.token)
        assert isinstance(quote, Tick) and quote.ask > 0
        bought = engine.api.place_order(future.token, "BUY", future.lot_size * 2, "MARKET")
        sold = engine.api.place_order(future.token, "SELL", future.lot_size, "MARKET")
        assert bought and sold, (bought, sold)
        assert [o.status for o in engine.api.orders()] == [OrderStatus.COMPLETE] * 2
        [position] = [p for p in engine.api.positions() if p.instrument == future]
        assert position.net_quantity == future.lot_size
        realised = (Decimal(quote.bid) - Decimal(quote.ask)) / 100 * future.lot_size
        assert position.realised == realised
        assert engine.api.broker_name == "Toy"
        # Refused by the local gate: the toy broker never sees it.
        seen = len(built[-1].received)
        refused = engine.api.place_order(future.token, "BUY", 7, "MARKET")
        assert not refused and len(built[-1].received) == seen
    finally:
        await engine.stop()
    # The journal brings the day back on the same broker.
    again = Engine.build(config)
    try:
        [position] = [p for p in again.api.positions() if p.instrument == future]
        assert position.net_quantity == future.lot_size
        assert len(again.api.trades()) == 2
    finally:
        again.close()


def test_toy_broker_when_registered_runs_in_the_headless_runner(
    tmp_path: Path, toy_registered: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = EngineConfig(
        broker="toy",
        db_url=f"sqlite:///{tmp_path / 'toy-headless.db'}",
        always_open=True,
        var_interval_seconds=0,
    )
    assert headless_main(config, 3.0, demo=True) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["fills"] > 0 and summary["orders"] >= summary["fills"]
    assert summary["demo_orders_placed"] > 0
    assert built[-1].received and all(o.strategy == "demo" for o in built[-1].received)


class ReplayFeed:
    """Ticks recorded earlier, played back in order: the feed port's shape, nothing more."""

    def __init__(self, ticks: list[Tick]) -> None:
        self.ticks = ticks
        self.played = 0

    async def run(self, on_tick: Callable[[Tick], None], stop: asyncio.Event) -> None:
        for tick in self.ticks:
            if stop.is_set():
                return
            on_tick(tick)
            self.played += 1
            await asyncio.sleep(0)


async def test_replay_feed_when_handed_to_the_engine_drives_paper_fills(tmp_path: Path) -> None:
    recorder = Engine.build(
        EngineConfig(db_url=f"sqlite:///{tmp_path / 'recorded.db'}", always_open=True)
    )
    assert recorder.market is not None
    instruments = list(recorder.registry)
    tape = [tick for _ in range(8) for tick in recorder.market.step(0.25)]
    recorder.close()

    feed = ReplayFeed(tape)
    config = EngineConfig(db_url=f"sqlite:///{tmp_path / 'replayed.db'}", always_open=True)
    engine = Engine.build(config, feed=feed, instruments=instruments)
    assert engine.feed is feed and engine.market is None and engine.venue is not None
    future = next(i for i in engine.api.instruments.search("NIFTY", limit=500) if i.is_derivative)
    engine.start()
    try:
        while feed.played < len(tape) // 2:
            await asyncio.sleep(0.01)
        quote = engine.api.quote(future.token)
        assert quote is not None and quote.ask is not None
        bought = engine.api.place_order(future.token, "BUY", future.lot_size, "MARKET")
        assert bought, bought.reason
        while feed.played < len(tape):
            await asyncio.sleep(0.01)
    finally:
        await engine.stop()
    assert engine.ticks_seen == len(tape)
    [order] = engine.api.orders()
    assert order.status is OrderStatus.COMPLETE and order.filled_quantity == future.lot_size
