"""Python strategies under the desk's control: a halt (the kill switch, a breaker) stops them and a
re-arm starts none; a Start after a Stop goes on from what the strategy saved; a stopped
strategy's context acts no more, and ``ctx.api`` acts only as the strategy; a handler that holds
the desk is named, and stopped when it keeps at it."""

from __future__ import annotations

import re
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from engine.core.clock import IST, TestClock
from engine.domain.events import EngineMessage, OrderEvent, Severity, TradingState
from engine.domain.ids import InstrumentToken
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side
from engine.domain.origin import OrderSource, StrategyId
from engine.domain.strategy_records import StrategyStatus
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.strategies.kernel import Strategy, StrategyContext, StrategyInfo
from engine.strategies.own_api import NOT_ITS_OWN, STOPPED
from tests.support import atm_call

MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def build(tmp_path: Path, *strategies: type[Strategy]) -> Engine:
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3),
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


def info(engine: Engine, strategy_id: str) -> StrategyInfo:
    [found] = [s for s in engine.api.strategies() if s.strategy_id == strategy_id]
    return found


def messages(engine: Engine) -> list[EngineMessage]:
    said: list[EngineMessage] = []
    engine.bus.subscribe(EngineMessage, said.append)
    return said


class Knocker(Strategy):
    """Tries an order of the ATM call on every tick; keeps what the gate said."""

    strategy_id = "knocker"
    answers: ClassVar[list[str]] = []

    def on_start(self, state: dict[str, Any]) -> None:
        self.option = atm_call_of(self.ctx)
        self.ctx.watch_all()

    def on_tick(self, tick: Tick) -> None:
        outcome = self.ctx.place(
            self.option.token, "BUY", self.option.lot_size, "LIMIT", price="0.05", product="MIS"
        )
        Knocker.answers.append(outcome.check or "ok")


def atm_call_of(ctx: StrategyContext) -> Any:
    options = [i for i in ctx.instruments.search(underlying="NIFTY", limit=5000) if i.is_option]
    return options[len(options) // 2]


def test_kill_switch_when_pressed_stops_python_strategies_and_a_rearm_starts_none(
    tmp_path: Path,
) -> None:
    Knocker.answers.clear()
    engine = build(tmp_path, Knocker)
    said = messages(engine)
    try:
        run_market(engine, 1)
        assert engine.api.start_strategy("knocker") is None
        run_market(engine, 1)
        assert Knocker.answers  # it trades while trading is active
        assert engine.api.kill_switch(reason="desk on fire").state is TradingState.HALTED
        why = "stopped by the kill switch (desk on fire); start it again after re-arming"
        stopped = info(engine, "knocker")
        assert (stopped.status, stopped.reason) == (StrategyStatus.STOPPED, why)
        assert engine.strategies.instance("knocker") is None
        assert any(m.source == "knocker" and m.text == f"strategy knocker {why}" for m in said)
        Knocker.answers.clear()
        run_market(engine, 2)
        assert Knocker.answers == []  # it does not knock on the closed gate all through the halt
        assert engine.api.start_strategy("knocker") == (
            "trading is HALTED (desk on fire): re-arm before starting knocker"
        )
        assert engine.api.rearm()
        run_market(engine, 2)
        assert Knocker.answers == [] and info(engine, "knocker").status is StrategyStatus.STOPPED
        assert engine.api.start_strategy("knocker") is None  # the trader starts it by hand
        run_market(engine, 1)
        assert Knocker.answers
    finally:
        engine.close()


def test_breaker_when_it_halts_stops_python_strategies_naming_it_and_reducing_stops_none(
    tmp_path: Path,
) -> None:
    Knocker.answers.clear()
    engine = build(tmp_path, Knocker)
    try:
        run_market(engine, 1)
        assert engine.api.start_strategy("knocker") is None
        assert engine.risk is not None
        engine.risk.trip("max_loss", "day loss over 5,000", TradingState.REDUCING, False)
        assert info(engine, "knocker").status is StrategyStatus.RUNNING
        engine.risk.trip("max_loss", "day loss over 9,000", TradingState.HALTED, False)
        why = (
            "stopped by the breaker max_loss (day loss over 9,000); start it again after re-arming"
        )
        assert info(engine, "knocker").status is StrategyStatus.STOPPED
        assert info(engine, "knocker").reason == why
    finally:
        engine.close()
    again = build(tmp_path, Knocker)  # journaled: the restarted desk says why, and resumes none
    try:
        record = again.strategies.last_state("knocker")
        assert record is not None and (record.status, record.reason) == (
            StrategyStatus.STOPPED,
            why,
        )
        assert not again.strategies.will_resume("knocker")
    finally:
        again.close()


class BuyOnce(Strategy):
    """The template's way: buys one lot once (on the first tick it hears), remembered in its
    snapshot."""

    strategy_id = "buy-once"
    started_with: ClassVar[list[dict[str, Any]]] = []

    def on_start(self, state: dict[str, Any]) -> None:
        BuyOnce.started_with.append(dict(state))
        self.bought = bool(state.get("bought", False))
        self.option = atm_call_of(self.ctx)
        self.ctx.watch_all()

    def on_tick(self, tick: Tick) -> None:
        if not self.bought:
            outcome = self.ctx.place(
                self.option.token, "BUY", self.option.lot_size, "MARKET", product="MIS"
            )
            assert outcome, outcome.reason
            self.bought = True
            self.ctx.save()

    def snapshot(self) -> dict[str, Any]:
        return {"bought": self.bought}


def buys(engine: Engine) -> int:
    return sum(1 for o in engine.api.orders() if o.strategy == "buy-once")


def test_strategy_when_stopped_and_started_again_goes_on_from_what_it_saved(
    tmp_path: Path,
) -> None:
    BuyOnce.started_with.clear()
    engine = build(tmp_path, BuyOnce)
    try:
        run_market(engine, 1)
        assert engine.api.start_strategy("buy-once") is None
        run_market(engine, 2)
        assert engine.api.stop_strategy("buy-once") is None
        run_market(engine, 5)  # past the duplicate window: a second buy would go through
        assert engine.api.start_strategy("buy-once") is None
        run_market(engine, 3)
        assert BuyOnce.started_with == [{}, {"bought": True}]
        assert buys(engine) == 1
        assert engine.api.stop_strategy("buy-once") is None
    finally:
        engine.close()
    again = build(tmp_path, BuyOnce)  # and after the desk restarted
    try:
        run_market(again, 1)
        assert again.api.start_strategy("buy-once") is None
        run_market(again, 3)
        assert BuyOnce.started_with[-1] == {"bought": True} and buys(again) == 1
        assert again.api.stop_strategy("buy-once") is None
        assert again.api.start_strategy("buy-once", fresh=True) is None  # only when asked
        run_market(again, 3)
        assert BuyOnce.started_with[-1] == {} and buys(again) == 2
    finally:
        again.close()


class Holder(Strategy):
    """Keeps its contexts where a thread or a callback of its own would."""

    strategy_id = "holder"
    contexts: ClassVar[list[StrategyContext]] = []
    events: ClassVar[list[OrderEvent]] = []

    def on_start(self, state: dict[str, Any]) -> None:
        Holder.contexts.append(self.ctx)

    def on_order(self, event: OrderEvent) -> None:
        Holder.events.append(event)


def test_stopped_strategy_context_when_used_refuses_in_words_and_tells_the_trader_once(
    tmp_path: Path,
) -> None:
    Holder.contexts.clear()
    engine = build(tmp_path, Holder)
    said = messages(engine)
    try:
        run_market(engine, 1)
        option = atm_call(engine)
        assert engine.api.start_strategy("holder") is None
        assert engine.api.stop_strategy("holder") is None
        [old] = Holder.contexts
        refused = old.place(option.token, "BUY", option.lot_size, "MARKET", product="MIS")
        why = (
            "strategy holder has stopped (stopped by the trader): a stopped strategy places no "
            "orders, sets no timers and watches nothing"
        )
        assert (refused.ok, refused.check, refused.reason) == (False, STOPPED, why)
        assert old.api.place_order(option.token, "BUY", option.lot_size, "MARKET").reason == why
        assert old.save() == why and old.watch([option.token]) == why and old.watch_all() == why
        assert old.every(1, "again") == why and old.after(1, "again") == why
        assert [o for o in engine.api.orders() if o.strategy == "holder"] == []
        told = [m for m in said if m.source == "holder" and m.severity is Severity.WARNING]
        assert [m.text for m in told] == [
            f"{why}; something it left running (a thread, a callback) still tries"
        ]
        assert engine.api.start_strategy("holder") is None
        old.finish("done")  # the old run's context cannot stop the new run
        assert info(engine, "holder").status is StrategyStatus.RUNNING
        assert old.place(option.token, "BUY", option.lot_size, "MARKET").check == STOPPED
    finally:
        engine.close()


def test_strategy_api_when_asked_for_another_source_or_strategy_or_order_refuses(
    tmp_path: Path,
) -> None:
    Holder.contexts.clear()
    engine = build(tmp_path, Holder)
    try:
        run_market(engine, 1)
        option = atm_call(engine)
        assert engine.api.start_strategy("holder") is None
        [ctx] = Holder.contexts
        token, lot = InstrumentToken(option.token), option.lot_size
        as_risk = OrderRequest(
            token,
            Side.SELL,
            lot,
            OrderType.MARKET,
            Product.MIS,
            source=OrderSource.RISK,
            square_off=True,
        )
        refused = ctx.api.place(as_risk)
        assert (refused.ok, refused.check) == (False, NOT_ITS_OWN)
        assert refused.reason == (
            "strategy holder places orders only as itself (strategy holder), not as risk"
        )
        other = OrderRequest(
            token,
            Side.BUY,
            lot,
            OrderType.MARKET,
            Product.MIS,
            source=OrderSource.STRATEGY,
            strategy=StrategyId("demo"),
        )
        assert ctx.api.place(other).reason.endswith("not as strategy demo")
        assert ctx.api.place_order(token, "BUY", lot, "MARKET", source="manual").check == (
            NOT_ITS_OWN
        )
        assert [o for o in engine.api.orders()] == []
        low = resting_price(engine, option.token)
        manual = engine.api.place_order(token, "BUY", lot, "LIMIT", price=low, product="MIS")
        assert manual and manual.order_id is not None
        for attempt in (
            ctx.api.cancel(manual.order_id),
            ctx.api.modify(manual.order_id, quantity=2 * lot),
        ):
            assert (attempt.ok, attempt.check) == (False, NOT_ITS_OWN)
            assert attempt.reason.startswith("strategy holder may ")
        own = ctx.api.place_order(token, "BUY", lot, "LIMIT", price=low - 1, product="MIS")
        assert own and own.order_id is not None
        mine = engine.api.order(own.order_id)
        assert mine is not None and (mine.source, mine.strategy) == (OrderSource.STRATEGY, "holder")
        assert ctx.api.modify(own.order_id, price=low - 2)
        assert engine.api.stop_strategy("holder") is None
        assert ctx.api.modify(own.order_id, price=low - 3).check == STOPPED
        assert ctx.api.cancel(own.order_id)  # taking its own risk off is still taken
        run_market(engine, 1)
        assert {o.order_id: o.status for o in engine.api.orders()} == {
            manual.order_id: OrderStatus.OPEN,
            own.order_id: OrderStatus.CANCELLED,
        }
    finally:
        engine.close()


def resting_price(engine: Engine, token: int) -> Decimal:
    """A buy price a little under the market (within the fat-finger band), on the tick size."""
    quote = engine.api.quote(token)
    assert quote is not None and quote.ltp
    return (quote.ltp * 18).to_integral_value() / 20


class Sleepy(Strategy):
    """Sleeps in ``on_tick`` for each of ``naps`` in turn (a blocking call, a long loop)."""

    strategy_id = "sleepy"
    naps: ClassVar[list[float]] = []

    def on_start(self, state: dict[str, Any]) -> None:
        self.ctx.watch_all()

    def on_tick(self, tick: Tick) -> None:
        if Sleepy.naps:
            time.sleep(Sleepy.naps.pop(0))


def test_slow_handler_when_it_holds_the_desk_is_named_once_a_burst(tmp_path: Path) -> None:
    engine = build(tmp_path, Sleepy)
    said = messages(engine)
    try:
        run_market(engine, 1)
        assert engine.api.start_strategy("sleepy") is None
        Sleepy.naps[:] = [0.15, 0.15]
        run_market(engine, 1)
        assert Sleepy.naps == []
        told = [m.text for m in said if m.source == "sleepy"]
        assert len(told) == 1, told
        assert re.fullmatch(
            r"strategy sleepy held the desk for 1\d\d ms in on_tick: ticks, orders and the kill "
            r"switch wait while a handler runs; move slow work out of it",
            told[0],
        )
        assert info(engine, "sleepy").status is StrategyStatus.RUNNING  # short of a stall
    finally:
        engine.close()


def test_slow_handler_when_it_keeps_holding_the_desk_is_stopped_with_why(tmp_path: Path) -> None:
    engine = build(tmp_path, Sleepy)
    said = messages(engine)
    engine.strategies.handler_times.stall_s = 0.12
    try:
        run_market(engine, 1)
        assert engine.api.start_strategy("sleepy") is None
        Sleepy.naps[:] = [0.15, 0.15, 0.15, 0.15]
        run_market(engine, 1)
        assert Sleepy.naps == [0.15]  # not called after the third
        stopped = info(engine, "sleepy")
        assert stopped.status is StrategyStatus.STOPPED
        assert re.fullmatch(
            r"stopped: it held the desk for over 120 ms 3 times within 1 min \(the last 1\d\d ms "
            r"in on_tick\)",
            stopped.reason,
        )
        errors = [m.text for m in said if m.source == "sleepy" and m.severity is Severity.ERROR]
        assert errors == [f"strategy sleepy {stopped.reason}"]
    finally:
        Sleepy.naps.clear()
        engine.close()


class OrderSleeper(Strategy):
    """Places one resting order, and sleeps when it hears of it."""

    strategy_id = "order-sleeper"

    def on_start(self, state: dict[str, Any]) -> None:
        option = atm_call_of(self.ctx)
        self.ctx.place(option.token, "BUY", option.lot_size, "LIMIT", price="0.05", product="MIS")
        self.napped = False

    def on_order(self, event: OrderEvent) -> None:
        if not self.napped:
            self.napped = True
            time.sleep(0.15)


def test_slow_order_handler_when_it_holds_the_desk_is_named(tmp_path: Path) -> None:
    engine = build(tmp_path, OrderSleeper)
    said = messages(engine)
    try:
        run_market(engine, 1)
        assert engine.api.start_strategy("order-sleeper") is None
        run_market(engine, 1)
        told = [m.text for m in said if m.source == "order-sleeper"]
        assert len(told) == 1 and " in on_order: " in told[0], told
    finally:
        engine.close()
