"""Health: each part trading depends on, in words, and the banner that says what holds orders."""

from __future__ import annotations

import asyncio
import time

from engine.api import ConnectionChanged, Level
from engine.runtime import Engine
from ui.context import PanelContext
from ui.main_window import MainWindow
from ui.panels.health import HealthPanel


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rows(engine: Engine) -> dict[str, tuple[Level, str, str]]:
    return {row.part: (row.level, row.value, row.detail) for row in engine.api.health()}


def test_health_prices_row_goes_from_no_tick_to_a_rate_then_stale(engine: Engine) -> None:
    health = engine.api.health_service
    clock = Clock()
    health.monotonic = clock
    assert rows(engine)["Prices"][:2] == (Level.WARN, "no tick yet")

    health.sample(ticks_seen=0, market_open=True)
    clock.now += 1
    health.sample(ticks_seen=250, market_open=True)
    assert rows(engine)["Prices"][:2] == (Level.OK, "250 ticks/s")

    clock.now += 6  # no tick for six seconds while the market is open
    health.sample(ticks_seen=250, market_open=True)
    level, value, detail = rows(engine)["Prices"]
    assert (level, value) == (Level.WARN, "0 ticks/s")
    assert detail == "last tick 6 s ago — prices are stale"
    clock.now += 30
    assert rows(engine)["Prices"][0] is Level.BAD

    health.sample(ticks_seen=250, market_open=False)
    assert rows(engine)["Prices"][0] is Level.OK  # a closed market sends nothing: not stale


def test_health_connection_rows_follow_what_the_broker_and_feed_report(engine: Engine) -> None:
    ns = engine.clock.time_ns()
    engine.bus.publish(ConnectionChanged(ns, "feed", "connected", "streaming 42 instruments"))
    engine.bus.publish(ConnectionChanged(ns, "broker", "login required", "the day's token expired"))

    found = rows(engine)
    assert found["Feed"][:2] == (Level.OK, "connected")
    assert found["Broker"][:2] == (Level.BAD, "login required")
    assert found["Broker"][2].startswith("the day's token expired (since ")


def test_health_paused_names_the_kill_switch_then_a_journal_that_cannot_write(
    engine: Engine,
) -> None:
    assert engine.api.trading_paused() is None
    assert rows(engine)["Risk gate"][:2] == (Level.OK, "ACTIVE")

    engine.api.kill_switch(reason="trader pressed it")
    paused = engine.api.trading_paused()
    assert (
        paused is not None
        and paused.startswith("trading halted: ")
        and "trader pressed it" in paused
    )
    assert rows(engine)["Risk gate"][0] is Level.BAD

    engine.api.rearm()
    assert engine.api.trading_paused() is None
    # A journal that cannot write: tests/integration/test_health_truth.py (read live, real disk).


def test_health_loop_lag_sees_a_loop_blocked_for_300_ms(engine: Engine) -> None:
    from engine.api.health import HealthService

    async def scenario(health: HealthService) -> None:
        stop = asyncio.Event()
        watching = asyncio.create_task(health.watch_loop(stop))
        await asyncio.sleep(0.6)
        time.sleep(0.3)  # the loop is blocked, as by a slow handler
        await asyncio.sleep(0.6)
        stop.set()
        await watching

    health = engine.api.health_service
    asyncio.run(scenario(health))
    lag = health.loop_lag()
    assert lag.samples >= 4
    # The probe was due somewhere inside the 300 ms block: it woke 50-300 ms late.
    assert 50 <= lag.max_ms < 350
    assert lag.p50_ms < 50
    assert rows(engine)["Event loop"][1] == f"p99 {lag.p99_ms:.0f} ms"


def test_health_panel_shows_every_part_and_the_banner(qtbot, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    from ui.bridge import EngineBridge
    from ui.theme import ThemeHolder

    bridge = EngineBridge(engine.api)
    panel = HealthPanel(PanelContext(api=engine.api, bridge=bridge, theme=ThemeHolder()))
    qtbot.addWidget(panel)
    parts = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    assert parts == ["Prices", "Event loop", "Order throttle", "Journal", "Risk gate"]
    assert panel.banner.text().startswith("Nothing holds new orders")

    engine.api.kill_switch(reason="drill")
    panel.refresh()
    assert panel.banner.text().startswith("Trading paused — trading halted: ")
    bridge.stop()


def test_health_window_banner_appears_only_while_orders_are_held(
    qtbot, engine: Engine, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from ui.layout_store import LayoutStore

    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    window.show()
    window._update_clock()
    assert not window.paused_action.isVisible()
    engine.api.kill_switch(reason="drill")
    window._update_clock()
    assert window.paused_action.isVisible()
    assert "trading halted" in window.paused_banner.text()
    window.stop()
