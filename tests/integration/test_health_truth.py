"""Health tells the truth: the banner never says every part works while one is BAD, stale prices
are flagged on the always-open paper market whatever NSE's clock says, and a journal that cannot
write holds orders from the moment it cannot, not from the next heartbeat. A real engine on the
simulated market, a real SQLite book in tmp_path, a test clock and the real Health panel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from engine.api import ConnectionChanged, Level, OrderType, Product, Side
from engine.core.clock import IST, TestClock
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.full_disk import FullDisk
from tests.support import tick_stock

SUNDAY_EVENING = datetime(2026, 11, 29, 18, 12, tzinfo=IST)
"""NSE is shut; the paper market kept open trades on."""


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def paper(tmp_path: Path) -> Iterator[Engine]:
    """The default desk: the paper broker on the simulated market kept open."""
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
            always_open=True,
            var_interval_seconds=0,
        ),
        clock=TestClock(SUNDAY_EVENING),
    )
    yield engine
    engine.close()


def prices_row(engine: Engine) -> tuple[Level, str]:
    row = next(r for r in engine.api.health() if r.part == "Prices")
    return row.level, row.detail


def test_health_prices_when_the_always_open_paper_market_goes_silent_after_nse_hours_turn_bad(
    paper: Engine,
) -> None:
    health = paper.api.health_service
    health.monotonic = monotonic = Monotonic()
    assert paper.sessions is not None and not paper.sessions.is_open(paper.clock.now())
    tick_stock(paper, "RELIANCE", 155_000)
    paper.housekeeping.beat()
    assert prices_row(paper)[0] is Level.OK

    monotonic.now += 35  # the simulated feed stopped: no tick for 35 s
    paper.housekeeping.beat()

    assert prices_row(paper) == (Level.BAD, "last tick 35 s ago — prices are stale")


def test_health_banner_when_prices_and_feed_are_bad_says_nothing_holds_orders_and_names_them(
    qtbot, paper: Engine
) -> None:  # type: ignore[no-untyped-def]
    from ui.bridge import EngineBridge
    from ui.context import PanelContext
    from ui.panels.health import HealthPanel
    from ui.theme import ThemeHolder

    health = paper.api.health_service
    health.monotonic = monotonic = Monotonic()
    now_ns = paper.clock.time_ns()
    tick_stock(paper, "RELIANCE", 155_000)
    paper.housekeeping.beat()
    paper.bus.publish(ConnectionChanged(now_ns, "feed", "gave up", "connection 0: stopped"))
    monotonic.now += 40  # and no tick since
    paper.housekeeping.beat()
    bridge = EngineBridge(paper.api)
    panel = HealthPanel(PanelContext(api=paper.api, bridge=bridge, theme=ThemeHolder()))
    qtbot.addWidget(panel)
    try:
        assert paper.api.trading_paused() is None  # nothing holds orders...
        assert panel.banner.text() == "Nothing holds new orders — but Prices, Feed are BAD."
        assert "working" not in panel.banner.text()  # ...but nothing says all is well

        paper.bus.publish(ConnectionChanged(now_ns, "feed", "open", "connection 0"))
        tick_stock(paper, "RELIANCE", 155_010)
        paper.housekeeping.beat()
        panel.refresh()
        assert panel.banner.text() == (
            "Nothing holds new orders: every part trading needs is working."
        )

        paper.api.kill_switch(reason="drill")
        panel.refresh()
        assert panel.banner.text().startswith("Trading paused — trading halted: ")
    finally:
        bridge.stop()


def test_health_journal_when_it_cannot_write_holds_orders_before_the_next_heartbeat(
    paper: Engine, tmp_path: Path
) -> None:
    token = tick_stock(paper, "RELIANCE", 155_000)
    paper.housekeeping.beat()
    disk = FullDisk(tmp_path, tmpfs=False)
    disk.fill(paper)

    refused = paper.api.place_order(token, Side.BUY, 5, OrderType.MARKET, product=Product.MIS)
    assert not refused.ok and refused.check == "journal"
    waiting = paper.orders.journal_waiting
    assert waiting > 0

    # No heartbeat since the disk filled: Health reads the journal as the metrics do, live.
    assert paper.api.trading_paused() == f"orders held: {waiting} journal writes wait for the disk"
    journal = next(r for r in paper.api.health() if r.part == "Journal")
    assert (journal.level, journal.value) == (Level.BAD, f"{waiting} waiting")

    disk.free()
    assert paper.orders.retry_journal()
    assert paper.api.trading_paused() is None
    journal = next(r for r in paper.api.health() if r.part == "Journal")
    assert journal.level is Level.OK
