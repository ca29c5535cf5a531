"""The risk layer in the whole engine, built as the app builds it, on the simulated market."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.api import TradingState, VarReport
from engine.brokers.paper.config import PaperConfig
from engine.core.clock import IST, Clock, LiveClock, TestClock
from engine.domain.events import BreakerTripped
from engine.domain.orders import OrderType, Side
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig
from tests.support import atm_call

MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def build(tmp_path: Path | str, clock: Clock, limits: RiskLimits | None = None, **kw) -> Engine:
    """An engine on ``tmp_path``'s book file, or on the book at a URL (``book_url``)."""
    return Engine.build(
        EngineConfig(
            db_url=tmp_path if isinstance(tmp_path, str) else f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, always_open=True),
            always_open=True,
            risk=RiskSettings(limits or RiskLimits()),
            **kw,
        ),
        clock=clock,
    )


def run_market(engine: Engine, clock: TestClock, seconds: float) -> None:
    for _ in range(int(seconds / 0.25)):
        clock.advance(0.25)
        for tick in engine.market.step(0.25):
            engine.on_tick(tick)


def test_market_crash_when_the_daily_loss_limit_is_reached_stops_within_one_tick(
    tmp_path,
) -> None:
    clock = TestClock(MONDAY_10AM)
    limit = Decimal(20_000)
    engine = build(tmp_path, clock, RiskLimits(daily_loss_limit=limit))
    trips: list[BreakerTripped] = []
    engine.api.subscribe(BreakerTripped, trips.append)
    try:
        run_market(engine, clock, 2)
        option = atm_call(engine)
        lots = 20
        bought = engine.api.place_order(option.token, "BUY", lots * option.lot_size, "MARKET")
        assert bought, bought.reason
        # The crash: the index falls 0.2 % a tick and the call loses 2 % a tick.
        index = engine.api.tick(256265)
        call = engine.api.tick(option.token)
        worst_tick_move = Decimal(0)
        # (The underlying-move breaker trips first, to REDUCING; the loss limit then halts.)
        while (
            not any(t.breaker == "daily_loss" for t in trips) and call.ltp > 10 * option.tick_size
        ):
            clock.advance(0.5)
            previous = call.ltp
            price = call.ltp * 98 // 100 // option.tick_size * option.tick_size
            call = call._replace(
                ltp=price,
                bid=price - option.tick_size,
                ask=price,
                bids=((price - option.tick_size, 100_000, 10),),
                asks=((price, 100_000, 10),),
                ts_ns=clock.time_ns(),
            )
            index = index._replace(ltp=index.ltp * 998 // 1000 // 5 * 5, ts_ns=clock.time_ns())
            worst_tick_move = max(
                worst_tick_move, Decimal((previous - price) * lots * option.lot_size) / 100
            )
            engine.on_tick(index)
            engine.on_tick(call)
        [trip] = [t for t in trips if t.breaker == "daily_loss"]
        assert [t.breaker for t in trips] == ["underlying_move:NIFTY", "daily_loss"]
        overshoot = -trip.value - limit
        assert Decimal(0) <= overshoot <= worst_tick_move
        assert engine.api.trading_state().state is TradingState.HALTED
        assert all(p.net_quantity == 0 for p in engine.api.positions())  # squared off
        refused = engine.api.place_order(option.token, "BUY", option.lot_size, "MARKET")
        assert not refused and refused.check == "trading_state"
        kinds = [e.kind for e in engine.journal.read()]
        assert "breaker_tripped" in kinds and "risk_state" in kinds
    finally:
        engine.close()


async def test_kill_switch_from_the_api_leaves_no_open_order_within_a_second(tmp_path) -> None:
    engine = build(tmp_path, LiveClock(), paper=PaperConfig(latency_ms=20))
    try:
        for tick in engine.market.step(0.25):
            engine.on_tick(tick)
        option = atm_call(engine)
        bid = engine.api.tick(option.token).bid
        for n in range(6):
            price = Decimal(bid - (10 + n) * option.tick_size) / 100
            assert engine.api.place_order(option.token, Side.BUY, option.lot_size, price=price)
        engine.api.place_order(option.token, Side.BUY, option.lot_size, OrderType.MARKET)
        await asyncio.sleep(0.1)
        assert sum(o.status.is_open for o in engine.api.orders()) == 6
        started = time.perf_counter()
        report = engine.api.kill_switch(square_off=True, reason="from the API")
        while any(o.status.is_open for o in engine.api.orders()):
            await asyncio.sleep(0.005)
            assert time.perf_counter() - started < 1.0
        elapsed = time.perf_counter() - started
        assert elapsed < 1.0 and report.cancelled == 6
        assert engine.venue.resting_count == 0
        assert all(p.net_quantity == 0 for p in engine.api.positions())
        await asyncio.sleep(2.1)  # past the duplicate window: only the halt refuses it
        refused = engine.api.place_order(option.token, Side.BUY, option.lot_size, OrderType.MARKET)
        assert not refused and "HALTED (from the API)" in refused.reason
        assert engine.api.rearm()
        assert engine.api.place_order(option.token, Side.BUY, option.lot_size, OrderType.MARKET)
    finally:
        engine.close()


async def test_burst_through_the_runtime_when_throttled_sends_at_most_10_a_second(
    tmp_path,
) -> None:
    limits = RiskLimits(max_open_orders=200, capital=Decimal(10**8), max_position_lots=1000)
    engine = build(tmp_path, LiveClock(), limits)
    seconds: list[int] = []
    submit = engine.venue.submit

    def counting_submit(order) -> None:
        seconds.append(time.time_ns() // 1_000_000_000)
        submit(order)

    engine.venue.submit = counting_submit  # type: ignore[method-assign]
    engine.start()
    try:
        await asyncio.sleep(0.3)
        option = atm_call(engine)
        bid = engine.api.tick(option.token).bid
        outcomes = [
            engine.api.place_order(
                option.token,
                Side.BUY,
                option.lot_size,
                price=Decimal(bid - (20 + n) * option.tick_size) / 100,
            )
            for n in range(25)
        ]
        assert all(outcomes) and len(seconds) <= 10
        deadline = time.perf_counter() + 5
        while len(seconds) < 25 and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        assert len(seconds) == 25
        assert max(seconds.count(s) for s in set(seconds)) <= 10
    finally:
        await engine.stop()


async def test_var_when_the_engine_holds_options_is_computed_off_the_loop_and_published(
    tmp_path,
) -> None:
    clock = TestClock(MONDAY_10AM)
    engine = build(tmp_path, clock, var_paths=2_000)
    reports: list[VarReport] = []
    engine.api.subscribe(VarReport, reports.append)
    try:
        run_market(engine, clock, 1)
        option = atm_call(engine)
        assert engine.api.place_order(option.token, "SELL", option.lot_size, "MARKET")
        with ThreadPoolExecutor(1) as pool:
            report = await engine.update_var(pool)
        assert report is not None and reports == [report] and engine.api.var() == report
        assert report.positions == 1 and report.paths == 2_000 and report.scenarios == 250
        assert 0 < report.historical_var_95 <= report.historical_var_99
        assert 0 < report.mc_var_95 < report.mc_var_99 <= report.mc_es_99
        margin = engine.api.margin()
        assert margin.required > 0 and margin.by_underlying["NIFTY"] == margin.required
    finally:
        engine.close()


async def test_var_when_a_position_opens_follows_it_within_seconds_not_a_minute(tmp_path) -> None:
    engine = build(tmp_path, LiveClock(), var_paths=2_000, var_after_fill_seconds=0.5)
    reports: list[VarReport] = []
    engine.api.subscribe(VarReport, reports.append)
    engine.start()
    try:
        deadline = time.perf_counter() + 10
        while not reports and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        assert reports and reports[0].positions == 0  # the first figure, soon after start
        option = atm_call(engine)
        assert engine.api.place_order(option.token, "SELL", option.lot_size, "MARKET")
        filled_at = time.perf_counter()
        deadline = filled_at + 30  # the worker process may still be starting
        while not any(r.positions == 1 for r in reports) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        assert any(r.positions == 1 for r in reports)
        assert engine.config.var_interval_seconds == 60  # well before the regular recomputation
        assert time.perf_counter() - filled_at < 30
    finally:
        await engine.stop()


def test_engine_when_restarted_while_halted_stays_halted_until_rearmed(book_url: str) -> None:
    clock = TestClock(MONDAY_10AM)
    engine = build(book_url, clock)
    engine.api.kill_switch(reason="lunch")
    engine.close()
    again = build(book_url, clock)
    try:
        status = again.api.trading_state()
        assert (status.state, status.reason) == (TradingState.HALTED, "lunch")
        assert again.api.rearm()
        assert again.api.trading_state().state is TradingState.ACTIVE
    finally:
        again.close()


def test_limits_when_changed_through_the_api_are_validated_journaled_and_applied(
    tmp_path,
) -> None:
    clock = TestClock(MONDAY_10AM)
    engine = build(tmp_path, clock)
    try:
        run_market(engine, clock, 1)
        with pytest.raises(ValueError, match="unknown risk limit"):
            engine.api.set_risk_limits({"defaults": {"max_lot": 1}})
        engine.api.set_risk_limits(
            {"underlyings": {"NIFTY": {"max_order_quantity": 65}}}, reason="new trader"
        )
        option = atm_call(engine)
        refused = engine.api.place_order(option.token, "BUY", 130, "MARKET")
        assert not refused and refused.check == "max_order_quantity"
        [entry] = [e for e in engine.journal.read() if e.kind == "risk_limits"]
        assert entry.payload["reason"] == "new trader"
        assert replace(engine.api.risk_limits()).underlyings["NIFTY"] == {"max_order_quantity": 65}
        assert {name for name, *_ in engine.api.risk_limit_fields()} >= {"daily_loss_limit"}
    finally:
        engine.close()


def test_limits_when_set_before_a_restart_are_restored_and_enforced(book_url: str) -> None:
    clock = TestClock(MONDAY_10AM)
    engine = build(book_url, clock)
    engine.api.set_risk_limits(
        {
            "defaults": {"daily_loss_limit": "12000"},
            "underlyings": {"NIFTY": {"max_order_quantity": 65}},
        },
        reason="tighter today",
    )
    engine.close()
    again = build(book_url, clock)
    try:
        limits = again.api.risk_limits()
        assert limits.defaults.daily_loss_limit == Decimal(12000)
        assert limits.underlyings["NIFTY"] == {"max_order_quantity": 65}
        run_market(again, clock, 1)
        refused = again.api.place_order(atm_call(again).token, "BUY", 130, "MARKET")
        assert not refused and refused.check == "max_order_quantity"
        assert any("risk limits as saved" in m.text for m in again.api.startup_messages)
    finally:
        again.close()


def test_saved_limits_when_unreadable_leave_the_defaults_and_tell_the_trader(tmp_path) -> None:
    clock = TestClock(MONDAY_10AM)
    engine = build(tmp_path, clock)
    engine.journal.append(
        "risk_limits",
        {"settings": {"defaults": {"max_lot": 1}}, "reason": "from a later version"},
        order_id=None,
        ts_ns=clock.time_ns(),
    )
    engine.close()
    again = build(tmp_path, clock)
    try:
        assert again.api.risk_limits().defaults == RiskLimits()
        [message] = [m for m in again.api.startup_messages if "could not be restored" in m.text]
        assert message.severity.value == "ERROR" and "max_lot" in message.text
    finally:
        again.close()


def test_day_mtm_when_updated_tick_by_tick_equals_a_full_recount(tmp_path) -> None:
    """The breakers move the day's MTM by the ticking instrument alone; it must stay exact."""
    from datetime import datetime as _datetime

    from engine.core.clock import IST as _IST
    from engine.core.clock import TestClock as _TestClock
    from engine.domain.instruments import InstrumentType as _Type
    from engine.marketdata.simulated import SimulatedMarketConfig as _Market
    from engine.runtime import Engine as _Engine
    from engine.runtime import EngineConfig as _Config

    clock = _TestClock(_datetime(2026, 11, 23, 10, 0, tzinfo=_IST))
    engine = _Engine.build(
        _Config(
            db_url=f"sqlite:///{tmp_path / 'mtm.db'}", market=_Market(seed=9, strikes_each_side=6)
        ),
        clock=clock,
    )
    try:
        options = [i for i in engine.registry if i.instrument_type is _Type.CE][:6]
        for n, option in enumerate(options):
            side = "BUY" if n % 2 else "SELL"
            assert engine.api.place_order(option.token, side, option.lot_size, "MARKET")
        breakers = engine.risk.breakers
        for _ in range(40):
            clock.advance(0.25)
            for tick in engine.market.step(0.25):
                engine.on_tick(tick)
            assert breakers.mtm == breakers.day_mtm()
        assert breakers.mtm != 0
    finally:
        engine.close()
