"""The whole engine, built as the app builds it, driven through its facade on the simulated market."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.core.clock import IST, TestClock
from engine.domain.events import EngineMessage, OrderFilled, PositionChanged
from engine.domain.instruments import InstrumentType
from engine.domain.orders import OrderStatus, OrderType, Side
from engine.domain.origin import OrderSource
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.support import atm_call

ROOT = Path(__file__).resolve().parents[2]
MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
SATURDAY_NOON = datetime(2026, 11, 21, 12, 0, tzinfo=IST)


def build(tmp_path: Path | str, at: datetime, **market) -> tuple[Engine, TestClock]:
    """An engine on ``tmp_path``'s book file, or on the book at a URL (``book_url``)."""
    clock = TestClock(at)
    engine = Engine.build(
        EngineConfig(
            db_url=tmp_path if isinstance(tmp_path, str) else f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, **market),
        ),
        clock=clock,
    )
    return engine, clock


def run_market(engine: Engine, clock: TestClock, seconds: float) -> None:
    for _ in range(int(seconds / 0.25)):
        clock.advance(0.25)
        for tick in engine.market.step(0.25):
            engine.on_tick(tick)


@pytest.fixture
def engine(tmp_path):
    engine, clock = build(tmp_path, MONDAY_10AM)
    run_market(engine, clock, 2)
    yield engine, clock
    engine.close()


def test_engine_when_a_market_buy_is_placed_fills_and_position_follows_the_market(engine) -> None:
    engine, clock = engine
    fills = []
    engine.api.subscribe(OrderFilled, fills.append)
    option = atm_call(engine)
    outcome = engine.api.place_order(
        option.token, "BUY", 2 * option.lot_size, "MARKET", product="NRML"
    )
    assert outcome, outcome.reason
    order = engine.api.order(outcome.order_id)
    assert order.status is OrderStatus.COMPLETE
    assert sum(f.quantity for f in fills) == 130
    [position] = engine.api.positions()
    assert position.net_quantity == 130
    assert position.average_price == order.average_price
    pnl_before = position.pnl
    run_market(engine, clock, 30)
    [position] = engine.api.positions()
    assert position.ltp == Decimal(engine.api.tick(option.token).ltp) / 100
    assert position.pnl == (position.ltp - position.average_price) * 130
    assert position.pnl != pnl_before  # it moves with the market
    assert position.net_pnl == position.pnl - position.charges


def test_engine_when_resting_orders_exist_modify_cancel_and_cancel_all_work(engine) -> None:
    engine, clock = engine
    option = atm_call(engine)
    bid = engine.api.tick(option.token).bid
    low = Decimal(bid - 20 * option.tick_size) / 100
    first = engine.api.place_order(
        option.token, Side.BUY, option.lot_size, OrderType.LIMIT, price=low
    )
    clock.advance(2)  # the risk gate refuses the same order twice within 2 s as a duplicate
    second = engine.api.place_order(
        option.token, Side.BUY, option.lot_size, OrderType.LIMIT, price=low
    )
    assert engine.api.order(first.order_id).status is OrderStatus.OPEN
    assert engine.api.modify(
        first.order_id, price=low - Decimal("0.05"), quantity=2 * option.lot_size
    )
    modified = engine.api.order(first.order_id)
    assert (modified.price, modified.quantity) == (low - Decimal("0.05"), 130)
    assert engine.api.cancel(first.order_id)
    assert engine.api.order(first.order_id).status is OrderStatus.CANCELLED
    assert all(engine.api.cancel_all())
    assert engine.api.order(second.order_id).status is OrderStatus.CANCELLED
    history = engine.api.order_history(first.order_id)
    assert [type(e).__name__ for e in history] == [
        "OrderSubmitted",
        "OrderStatusChanged",
        "OrderStatusChanged",
        "OrderStatusChanged",
    ]


def test_engine_when_square_off_all_is_asked_closes_every_position(engine) -> None:
    engine, _ = engine
    changes = []
    engine.api.subscribe(PositionChanged, changes.append)
    option = atm_call(engine)
    future = next(
        i
        for i in engine.registry
        if i.instrument_type is InstrumentType.FUT and i.underlying == "NIFTY"
    )
    stock = engine.registry.by_symbol("NSE", "RELIANCE")
    engine.api.place_order(option.token, "SELL", option.lot_size, "MARKET", product="NRML")
    engine.api.place_order(future.token, "BUY", future.lot_size, "MARKET", product="MIS")
    engine.api.place_order(stock.token, "BUY", 10, "MARKET", product="CNC")
    assert len([p for p in engine.api.positions() if p.net_quantity]) == 3
    outcomes = engine.api.square_off_all()
    assert len(outcomes) == 3 and all(outcomes)
    assert all(p.net_quantity == 0 for p in engine.api.positions())
    assert changes[-1].net_quantity == 0


def test_engine_when_market_is_closed_rejects_orders_with_the_reason(tmp_path) -> None:
    engine, _ = build(tmp_path, SATURDAY_NOON)
    try:
        option = atm_call(engine)
        outcome = engine.api.place_order(option.token, "BUY", option.lot_size, "LIMIT", price="100")
        # The risk gate refuses it before the venue sees it (it used to be the venue's rejection).
        assert not outcome
        assert outcome.reason == "market is closed for NFO at 12:00:00 IST"
        assert engine.api.order(outcome.order_id) is None
        [denial] = [e for e in engine.journal.read() if e.kind == "order_denied"]
        assert denial.payload["check"] == "session"
    finally:
        engine.close()


def test_engine_when_journal_refuses_writes_pauses_order_entry_and_says_so(engine) -> None:
    engine, _ = engine
    messages = []
    engine.api.subscribe(EngineMessage, messages.append)
    engine.journal.close()
    option = atm_call(engine)
    outcome = engine.api.place_order(option.token, "BUY", option.lot_size, "MARKET")
    assert not outcome
    assert "journal" in outcome.reason
    assert any("journal cannot write" in m.text for m in messages)
    again = engine.api.place_order(option.token, "BUY", option.lot_size, "MARKET")
    assert not again and "order entry paused" in again.reason


def test_headless_session_when_run_with_demo_prints_a_summary(tmp_path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(tmp_path / "data"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.main",
            "--headless",
            "--duration",
            "3",
            "--demo",
            "--always-open",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["ticks"] > 100
    assert summary["demo_orders_placed"] >= 1
    assert summary["orders"] >= 1
    assert Decimal(summary["net_pnl"]) == Decimal(summary["pnl"]) - Decimal(summary["charges"])
    assert (tmp_path / "data" / "dalaldesk" / "dalaldesk.db").exists()


def test_quote_when_read_through_the_api_is_in_rupees_as_the_order_terms_are(engine) -> None:
    engine, _clock = engine
    option = atm_call(engine)
    tick = engine.api.tick(option.token)
    quote = engine.api.quote(option.token)
    assert tick is not None and quote is not None
    assert quote.ltp == Decimal(tick.ltp) / 100
    assert (quote.bid, quote.ask) == (Decimal(tick.bid) / 100, Decimal(tick.ask) / 100)
    # A price read from a quote goes back into an order as it is: one unit in and out.
    assert quote.bid is not None
    outcome = engine.api.place_order(
        option.token, Side.BUY, option.lot_size, OrderType.LIMIT, price=quote.bid
    )
    assert outcome, outcome.reason
    placed = engine.api.order(outcome.order_id)
    assert placed is not None and placed.price == quote.bid
    assert engine.api.quote(10**30) is None and engine.api.quote("NIFTY") is None


def test_strategy_pnl_when_rebuilt_from_the_journal_is_attributed_to_each_strategy(
    book_url: str,
) -> None:
    engine, clock = build(book_url, MONDAY_10AM)
    run_market(engine, clock, 2)
    option = atm_call(engine)
    lot = option.lot_size
    for strategy, side, lots in (
        ("straddle", Side.BUY, 3),
        ("straddle", Side.SELL, 1),
        ("hedge", Side.SELL, 2),
    ):
        outcome = engine.api.place_order(
            option.token, side, lots * lot, OrderType.MARKET, source="strategy", strategy=strategy
        )
        assert outcome, outcome.reason
    assert engine.api.place_order(option.token, Side.BUY, lot, OrderType.MARKET, source="manual")
    run_market(engine, clock, 1)
    live = {row.strategy: row for row in engine.api.strategy_pnl()}
    engine.close()

    again, _ = build(book_url, MONDAY_10AM)
    try:
        rebuilt = {row.strategy: row for row in again.api.strategy_pnl()}
        assert set(rebuilt) == {"straddle", "hedge", "manual"}
        for name, row in rebuilt.items():
            assert (row.realised, row.charges, row.fills) == (
                live[name].realised,
                live[name].charges,
                live[name].fills,
            )
        assert rebuilt["straddle"].open_positions == 1 and rebuilt["straddle"].fills == 2
        # The strategies' shares add up to the book: same fills, same charges.
        [position] = [p for p in again.api.positions() if p.instrument == option]
        assert sum(r.charges for r in rebuilt.values()) == position.charges
        assert position.net_quantity == (3 - 1 - 2 + 1) * lot
        orders = again.api.orders()
        assert {(o.source, o.strategy) for o in orders} == {
            (OrderSource.STRATEGY, "straddle"),
            (OrderSource.STRATEGY, "hedge"),
            (OrderSource.MANUAL, None),
        }
    finally:
        again.close()
