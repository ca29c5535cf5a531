"""The strategy kernel on the whole engine: strategies get their ticks, their own order events
and their timers, place orders as themselves through the gate, fail alone, and resume after a
crash with the state they saved; the trader's own strategy files load, or say why not."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine.core.clock import IST, TestClock
from engine.domain.events import EngineMessage, OrderDenied, OrderEvent, OrderFilled
from engine.domain.origin import OrderSource
from engine.domain.strategy_records import StrategyStatus
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.strategies.kernel import Strategy
from engine.strategies.loader import write_examples
from tests.support import atm_call

MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


class Buyer(Strategy):
    """Buys one lot of a NIFTY option on its third tick, once; keeps its events."""

    strategy_id = "buyer"

    def on_start(self, state: dict[str, Any]) -> None:
        self.ticks = 0
        self.bought = bool(state.get("bought", False))
        self.events: list[OrderEvent] = []
        options = self.ctx.instruments.search(underlying="NIFTY", limit=5000)
        self.options = {i.token: i for i in options if i.is_option}
        self.ctx.watch(self.options)

    def on_tick(self, tick: Tick) -> None:
        assert tick.token in self.options  # only what it watches
        self.ticks += 1
        if self.ticks == 3 and not self.bought:
            option = self.options[tick.token]
            outcome = self.ctx.place(option.token, "BUY", option.lot_size, "MARKET")
            assert outcome, outcome.reason
            self.bought = True
            self.ctx.save()

    def on_order(self, event: OrderEvent) -> None:
        self.events.append(event)

    def snapshot(self) -> dict[str, Any]:
        return {"bought": self.bought}


class Faulty(Strategy):
    strategy_id = "faulty"

    def on_start(self, state: dict[str, Any]) -> None:
        self.ctx.watch_all()

    def on_tick(self, tick: Tick) -> None:
        raise ZeroDivisionError("division by zero")


class Unsaveable(Strategy):
    strategy_id = "unsaveable"

    def snapshot(self) -> dict[str, Any]:
        return {"seen": {1, 2}}  # a set: the journal cannot hold it


def build(
    tmp_path: Path | str, strategies: list[type[Strategy]], folder: Path | None = None
) -> Engine:
    """An engine on ``tmp_path``'s book file, or on the book at a URL (``book_url``)."""
    engine = Engine.build(
        EngineConfig(
            db_url=tmp_path if isinstance(tmp_path, str) else f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3),
            strategies_dir=folder,
            var_interval_seconds=0,
        ),
        clock=TestClock(MONDAY_10AM),
    )
    for strategy in strategies:
        engine.strategies.add(strategy)
    return engine


def run_market(engine: Engine, seconds: float) -> None:
    assert engine.market is not None and isinstance(engine.clock, TestClock)
    for _ in range(int(seconds / 0.25)):
        engine.clock.advance(0.25)
        for tick in engine.market.step(0.25):
            engine.on_tick(tick)


def test_strategy_when_started_trades_as_itself_and_hears_only_its_own_orders(tmp_path) -> None:
    engine = build(tmp_path, [Buyer])
    try:
        run_market(engine, 1)
        manual = engine.api.place_order(atm_call(engine).token, "BUY", 65, "MARKET")
        assert manual, manual.reason
        assert engine.api.start_strategy("buyer") is None
        assert engine.api.start_strategy("buyer") == "buyer is already running"
        run_market(engine, 20)
        buyer = engine.strategies.instance("buyer")
        assert isinstance(buyer, Buyer) and buyer.bought
        [order] = [o for o in engine.api.orders() if o.strategy == "buyer"]
        assert order.source is OrderSource.STRATEGY and order.origin == "strategy buyer"
        assert {e.order_id for e in buyer.events} == {order.order_id}
        assert any(isinstance(e, OrderFilled) for e in buyer.events)
        [info] = [s for s in engine.api.strategies() if s.strategy_id == "buyer"]
        assert info.status is StrategyStatus.RUNNING and info.origin == "built in"
        assert engine.api.stop_strategy("buyer") is None
        assert engine.strategies.instance("buyer") is None
        assert engine.api.start_strategy("nobody") == "no strategy named 'nobody'"
    finally:
        engine.close()


class Refused(Strategy):
    """Asks on every option tick for an order the gate refuses (one unit, not a whole lot);
    keeps its denials."""

    strategy_id = "refused"

    def on_start(self, state: dict[str, Any]) -> None:
        self.denied: list[OrderEvent] = []
        self.asked = 0
        self.ctx.watch_all()

    def on_tick(self, tick: Tick) -> None:
        instrument = self.ctx.instruments.find(tick.token)
        if self.asked < 200 and instrument is not None and instrument.is_option:
            self.asked += 1
            assert not self.ctx.place(tick.token, "BUY", 1, "MARKET")

    def on_order(self, event: OrderEvent) -> None:
        self.denied.append(event)


def test_strategy_when_its_orders_are_refused_hears_each_and_the_kernel_keeps_none(
    tmp_path,
) -> None:
    """A strategy refused all day must not grow the kernel's map of order owners: a denied
    order has no later events to route."""
    engine = build(tmp_path, [Refused])
    try:
        assert engine.api.start_strategy("refused") is None
        run_market(engine, 5)
        refused = engine.strategies.instance("refused")
        assert isinstance(refused, Refused) and refused.asked == 200
        assert len(refused.denied) == 200
        assert all(isinstance(e, OrderDenied) for e in refused.denied)
        assert len(engine.strategies._order_owner) == 0
    finally:
        engine.close()


def test_strategy_when_it_raises_is_stopped_alone_and_the_trader_is_told(tmp_path) -> None:
    engine = build(tmp_path, [Buyer, Faulty, Unsaveable])
    said: list[EngineMessage] = []
    engine.bus.subscribe(EngineMessage, said.append)
    try:
        run_market(engine, 1)
        assert engine.api.start_strategy("faulty") is None
        assert engine.api.start_strategy("buyer") is None
        run_market(engine, 5)
        status = {s.strategy_id: s for s in engine.api.strategies()}
        assert status["faulty"].status is StrategyStatus.FAILED
        assert status["faulty"].reason == "ZeroDivisionError in on_tick: division by zero"
        assert status["buyer"].status is StrategyStatus.RUNNING
        assert any(m.source == "faulty" and "stopped" in m.text for m in said)
        problem = engine.api.start_strategy("unsaveable")
        assert problem is not None and "cannot be journaled" in problem
        assert not engine.orders.halted_reason  # the journal took everything it was given
        assert engine.api.place_order(atm_call(engine).token, "BUY", 65, "MARKET")
    finally:
        engine.close()


def test_strategy_when_the_desk_crashes_resumes_with_its_saved_state(book_url: str) -> None:
    engine = build(book_url, [Buyer])
    run_market(engine, 1)
    assert engine.api.start_strategy("buyer") is None
    run_market(engine, 20)
    assert engine.strategies.instance("buyer").bought  # type: ignore[union-attr]
    engine.close()  # no stop: as if the process died

    async def restarted() -> Buyer:
        again = build(book_url, [Buyer])
        try:
            again.start()
            buyer = again.strategies.instance("buyer")
            assert isinstance(buyer, Buyer)
            run_market(again, 10)
            return buyer
        finally:
            await again.stop()

    buyer = asyncio.run(restarted())
    assert buyer.bought and buyer.ticks > 3  # resumed, and it did not buy a second time
    final = build(book_url, [Buyer])
    try:
        orders = [o for o in final.api.orders() if o.strategy == "buyer"]
        assert len(orders) == 1
        assert final.strategies.instance("buyer") is None  # a clean stop does not resume
        assert {s.strategy_id: s.status for s in final.api.strategies()}["buyer"] is (
            StrategyStatus.STOPPED
        )
    finally:
        final.close()


async def test_strategy_timers_when_set_fire_on_the_loop_until_it_stops(tmp_path) -> None:
    fired: list[str] = []

    class Ticker(Strategy):
        strategy_id = "ticker"

        def on_start(self, state: dict[str, Any]) -> None:
            self.ctx.every(0.02, "beat")

        def on_timer(self, name: str) -> None:
            fired.append(name)

    engine = build(tmp_path, [Ticker])
    try:
        assert engine.api.start_strategy("ticker") is None
        while len(fired) < 3:
            await asyncio.sleep(0.01)
        assert engine.api.stop_strategy("ticker") is None
        count = len(fired)
        await asyncio.sleep(0.1)
        assert len(fired) == count and set(fired) == {"beat"}
    finally:
        engine.close()


async def test_strategy_timers_on_the_live_loop_keep_one_handle_each_as_in_a_backtest(
    tmp_path,
) -> None:
    """A repeating timer that fires many times, and one-shot timers that fired, leave only the
    pending handles behind (the list once grew by one handle per fire, without limit)."""
    fired: list[str] = []

    class Busy(Strategy):
        strategy_id = "busy"

        def on_start(self, state: dict[str, Any]) -> None:
            self.ctx.every(0.0005, "beat")
            self.ctx.every(3600, "hourly")
            for _ in range(5):
                self.ctx.after(0.0005, "once")

        def on_timer(self, name: str) -> None:
            fired.append(name)

    engine = build(tmp_path, [Busy])
    try:
        assert engine.api.start_strategy("busy") is None
        while fired.count("beat") < 200:
            await asyncio.sleep(0.001)
        assert fired.count("once") == 5
        timers = engine.strategies._running["busy"].timers
        assert len(timers) == 2  # the next beat and the hourly one
        assert all(not handle.cancelled() for handle in timers)
        assert engine.api.stop_strategy("busy") is None
        count = len(fired)
        await asyncio.sleep(0.01)
        assert len(fired) == count
    finally:
        engine.close()


def test_strategy_files_when_loaded_run_and_broken_ones_are_named_with_their_line(
    tmp_path,
) -> None:
    folder = tmp_path / "strategies"
    written = write_examples(folder)
    assert {p.name for p in written} == {
        "_template.py",
        "example_timed_straddle.py",
        "example_price_alert.py",
    }
    (folder / "broken.py").write_text("from engine.strategies.kernel import Strategy\nx = (\n")
    (folder / "fails.py").write_text(
        "from engine.strategies.kernel import Strategy\n\nraise RuntimeError('no data file')\n"
    )
    (folder / "twin.py").write_text(
        "from engine.strategies.kernel import Strategy\n\n\n"
        "class Twin(Strategy):\n    strategy_id = 'example-price-alert'\n"
    )
    engine = build(tmp_path, [], folder)
    try:
        names = {s.strategy_id: s for s in engine.api.strategies()}
        assert {"demo", "example-timed-straddle", "example-price-alert"} <= set(names)
        assert names["example-price-alert"].origin.endswith("example_price_alert.py")
        problems = engine.api.strategy_problems()
        assert any(p.startswith("broken.py, line 2: syntax error") for p in problems), problems
        assert any(
            p == "fails.py, line 3: RuntimeError while loading: no data file" for p in problems
        ), problems
        assert any("twin.py" in p and "already defined" in p for p in problems), problems
        assert any("strategy not loaded" in m.text for m in engine.api.startup_messages)
        run_market(engine, 1)
        assert engine.api.start_strategy("example-price-alert") is None
        run_market(engine, 2)
        assert engine.api.stop_strategy("example-price-alert") is None
    finally:
        engine.close()


@pytest.mark.parametrize("bad", ["has space", "", "x" * 49])
def test_strategy_ids_when_not_names_are_refused_at_registration(tmp_path, bad: str) -> None:
    class Bad(Strategy):
        strategy_id = bad

    engine = build(tmp_path, [])
    try:
        with pytest.raises(ValueError, match="strategy_id"):
            engine.strategies.add(Bad)
    finally:
        engine.close()


def test_strategy_kernel_when_nothing_runs_adds_no_handler_to_ticks_or_orders(tmp_path) -> None:
    engine = build(tmp_path, [Buyer])
    try:
        handlers = engine.bus._handlers  # what every tick and order event is dispatched to

        def counts() -> tuple[int, int]:
            return len(handlers.get(Tick, [])), len(handlers.get(OrderFilled, []))

        idle = counts()
        assert engine.api.start_strategy("buyer") is None
        assert counts() == (idle[0] + 1, idle[1] + 1)
        assert engine.api.stop_strategy("buyer") is None
        assert counts() == idle
    finally:
        engine.close()


def test_postgres_strategy_running_on_another_open_desk_is_not_resumed_here(
    postgres_server,  # type: ignore[no-untyped-def]
) -> None:
    url = str(postgres_server.fresh_url())
    first = build(url, [Buyer])
    try:
        run_market(first, 1)
        assert first.api.start_strategy("buyer") is None
        second = build(url, [Buyer])  # a second desk on the shared book, the first still open
        try:
            second.strategies.resume()
            assert second.strategies.instance("buyer") is None
            said = [m.text for m in second.api.startup_messages if m.source == "buyer"]
            assert any("not resumed: it was running on this shared book" in t for t in said)
        finally:
            second.close()
    finally:
        first.close()
    alone = build(url, [Buyer])  # no other desk open: a strategy left running resumes
    try:
        alone.strategies.resume()
        assert alone.strategies.instance("buyer") is not None
    finally:
        alone.close()


class BrokenBuyer(Buyer):
    """The trader's buyer after an edit that broke its constructor."""

    def __init__(self, ctx: Any) -> None:
        raise RuntimeError("its settings file is missing")


def _crash_after_buying(folder: Path) -> None:
    engine = build(folder, [Buyer])
    run_market(engine, 1)
    assert engine.api.start_strategy("buyer") is None
    run_market(engine, 20)
    engine.close()  # no stop: as if the process died, with the buyer running and bought


async def _resume_with(folder: Path, strategies: list[type[Strategy]]) -> str:
    """The desk started again on ``folder``'s book with ``strategies``: the buyer it was
    running is FAILED (the desk itself starts), with the state it saved; why, in words."""
    again = build(folder, strategies)
    try:
        again.start()
        record = again.strategies.last_state("buyer")
        assert record is not None and record.status is StrategyStatus.FAILED
        assert record.state == {"bought": True}, "the state it saved is kept for its return"
        return record.reason
    finally:
        await again.stop()


@pytest.mark.parametrize("gone", [False, True], ids=["constructor raises", "file gone"])
def test_strategy_that_cannot_be_made_on_resume_fails_in_words_and_keeps_its_state(
    tmp_path: Path, gone: bool
) -> None:
    _crash_after_buying(tmp_path)

    reason = asyncio.run(_resume_with(tmp_path, [] if gone else [BrokenBuyer]))

    if gone:
        assert reason == "no strategy named 'buyer'"
    else:
        assert reason == "RuntimeError in its constructor: its settings file is missing"
    final = build(tmp_path, [Buyer])  # the trader mends the file and starts it again
    try:
        assert final.api.start_strategy("buyer") is None
        buyer = final.strategies.instance("buyer")
        assert isinstance(buyer, Buyer) and buyer.bought, "it goes on from what it saved"
    finally:
        final.close()


def test_strategy_whose_constructor_raises_at_start_is_refused_in_words(tmp_path: Path) -> None:
    engine = build(tmp_path, [BrokenBuyer])
    try:
        said = engine.api.start_strategy("buyer")
        assert said == "RuntimeError in its constructor: its settings file is missing"
        status = {s.strategy_id: s.status for s in engine.api.strategies()}
        assert status["buyer"] is StrategyStatus.FAILED
        assert engine.api.place_order(atm_call(engine).token, "BUY", 65, "MARKET")
    finally:
        engine.close()
