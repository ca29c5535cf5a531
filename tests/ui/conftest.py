"""Qt test fixtures: a real engine on the simulated market, a bridge and a panel context.

Market time is a test clock on a Monday morning; tests move the market with ``market(seconds)``
and let the bridge deliver with ``qtbot.waitUntil``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.core.clock import IST, TestClock
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig

MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
WEDNESDAY_10AM = MONDAY_10AM + timedelta(days=2)  # Tuesday 24 Nov 2026 is an NSE holiday


def book_engine(book: Path, at: datetime) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{book}",
            market=SimulatedMarketConfig(seed=5, strikes_each_side=2),
        ),
        clock=TestClock(at),
    )


def run_market(engine: Engine, seconds: float) -> None:
    clock = engine.clock
    assert isinstance(clock, TestClock)
    for _ in range(max(1, int(seconds / 0.25))):
        clock.advance(0.25)
        for tick in engine.market.step(0.25):
            engine.on_tick(tick)


def buy(engine: Engine, symbol: str, quantity: int) -> None:
    token = next(i.token for i in engine.registry if i.tradingsymbol == symbol)
    outcome = engine.api.place_order(token, "BUY", quantity, "MARKET", product="MIS")
    assert outcome.ok, outcome.reason
    run_market(engine, 3)  # past the gate's duplicate window


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    clock = TestClock(MONDAY_10AM)
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=5, strikes_each_side=10),
        ),
        clock=clock,
    )
    yield engine
    engine.close()


@pytest.fixture
def market(engine: Engine) -> Callable[[float], None]:
    """Advance the simulated market (and the test clock) by ``seconds``, feeding every tick."""
    clock = engine.clock
    assert isinstance(clock, TestClock)

    def advance(seconds: float) -> None:
        steps = max(1, int(seconds / 0.25))
        for _ in range(steps):
            clock.advance(0.25)
            for tick in engine.market.step(0.25):
                engine.on_tick(tick)

    return advance


@pytest.fixture
def context(qtbot, engine: Engine):  # type: ignore[no-untyped-def]
    from ui.bridge import EngineBridge
    from ui.context import PanelContext
    from ui.theme import ThemeHolder

    bridge = EngineBridge(engine.api, frame_ms=20)
    ctx = PanelContext(api=engine.api, bridge=bridge, theme=ThemeHolder("dark"))
    yield ctx
    bridge.stop()


@pytest.fixture
def qloop(qapp) -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:  # type: ignore[no-untyped-def]
    """Run a scenario on a qasync loop, as the app does (chart history loads on the loop)."""
    import qasync

    qapp.setQuitOnLastWindowClosed(False)  # a window closed in a test must not end the loop
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        yield loop.run_until_complete
    finally:
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def wednesday(tmp_path: Path) -> Iterator[Engine]:
    """A book with a fill on Monday (RELIANCE, 5) and the desk opened again on Wednesday."""
    book = tmp_path / "book.db"
    monday = book_engine(book, MONDAY_10AM)
    run_market(monday, 1)
    buy(monday, "RELIANCE", 5)
    monday.close()
    engine = book_engine(book, WEDNESDAY_10AM)
    run_market(engine, 1)
    yield engine
    engine.close()
