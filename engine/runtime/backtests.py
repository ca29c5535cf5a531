"""Backtests and recordings on the desk's own engine: the runtime builds it with a replay feed
and a simulated clock (``engine.backtest.run``), or runs the simulated market as fast as it
computes while the recorder keeps its ticks.

``run_backtest`` is a plain function of picklable values, so sweeps run it in worker processes
or on a Dask cluster (``engine.backtest.sweep``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from engine.backtest.results import BacktestResult
from engine.backtest.run import BacktestError, BacktestRequest, Desk, Progress
from engine.backtest.run import run_backtest as run_on
from engine.brokers.paper.config import PaperConfig
from engine.calendar import MarketCalendar
from engine.calendar.fail_closed import FailClosedCalendar
from engine.core.clock import SimulatedClock
from engine.domain.instruments import Instrument
from engine.marketdata.feed import Feed
from engine.marketdata.sim_fast import FastSimulatedFeed
from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig
from engine.risk.limits import RiskSettings
from engine.runtime.config import EngineConfig
from engine.runtime.engine import Engine
from engine.signals.alert_file import AlertFileError, read_alert_file
from engine.signals.desk import SignalMode, SignalRules
from engine.signals.tradingview import TradingViewAlert
from engine.store.urls import profile_folder, sqlite_url


def backtests_dir(profile: str) -> Path:
    """Where a profile keeps its runs: ``<user data dir>/<profile>/backtests``."""
    return profile_folder(profile, "backtests")


def recordings_dir(profile: str) -> Path:
    """Where a profile keeps its recordings: ``<user data dir>/<profile>/recordings``."""
    return profile_folder(profile, "recordings")


def backtest_config(book: Path, request: BacktestRequest) -> EngineConfig:
    """The engine of a run: the paper venue acting at once, no VaR, no schedule, no copies of
    its book, portfolios and the trader's strategies from the run's own folders."""
    return EngineConfig(
        db_url=str(sqlite_url(book)),
        broker="paper",
        always_open=request.always_open,
        paper=PaperConfig(latency_ms=0),
        var_interval_seconds=0,
        chart_series=False,
        close_backup=False,
        # A replay of alerts has no trader to approve each one: they go straight to the gate.
        signal_rules=SignalRules(default_mode=SignalMode.AUTO),
        portfolios_dir=book.parent / "portfolios",
        risk=RiskSettings() if request.risk is None else RiskSettings.from_mapping(request.risk),
        strategies_dir=None if request.strategies_dir is None else Path(request.strategies_dir),
    )


def build_backtest_desk(
    *,
    book: Path,
    clock: SimulatedClock,
    feed: Feed,
    instruments: Iterable[Instrument],
    request: BacktestRequest,
) -> Desk:
    alerts = [] if request.signals is None else _alerts(request.signals, clock)
    engine = Engine.build(
        backtest_config(book, request), clock=clock, feed=feed, instruments=instruments
    )
    for alert in alerts:
        delay = 0.0 if alert.fired is None else alert.fired.timestamp() - clock.time_ns() / 1e9

        def deliver(alert: TradingViewAlert = alert) -> None:
            engine.signals.receive(alert, origin="replay")

        clock.call_later(max(delay, 1e-9), deliver)
    return engine


def _alerts(path: str, clock: SimulatedClock) -> list[TradingViewAlert]:
    try:
        alerts = read_alert_file(path)
    except AlertFileError as problem:
        raise BacktestError(str(problem)) from None
    early = [a for a in alerts if a.fired is not None and a.fired < clock.now()]
    if early:
        start = f"{clock.now():%Y-%m-%d %H:%M} UTC"
        raise BacktestError(
            f"{len(early)} alert(s) fired before the recording starts ({start}), the first at "
            f"{early[0].fired}: choose a recording that covers them"
        )
    return alerts


def run_backtest(
    request: BacktestRequest,
    folder: str | Path,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> BacktestResult:
    """Run one backtest to its end (or a cancel) in this process, on a loop of its own."""
    return asyncio.run(
        run_on(
            request,
            Path(folder),
            build_backtest_desk,
            progress=progress,
            cancelled=None if cancel is None else cancel.is_set,
        )
    )


async def record_simulated_session(
    config: EngineConfig,
    start: datetime,
    seconds: float,
    recording: Path,
    *,
    step: float = 0.25,
    before_run: Callable[[Engine], None] | None = None,
) -> Engine:
    """Run the simulated market for ``seconds`` from ``start`` as fast as it computes, on a
    desk built from ``config`` with a recorder keeping every tick under ``recording``; returns
    the stopped engine. ``before_run`` is called once the desk started (start a portfolio)."""
    clock = SimulatedClock(start)
    market_config = config.market
    if config.always_open and not market_config.always_open:
        market_config = replace(market_config, always_open=True)
    market = SimulatedMarket(market_config, clock.now, FailClosedCalendar(MarketCalendar.load()))
    feed = FastSimulatedFeed(market, clock, seconds, step=step)
    config = replace(config, recordings_dir=recording)
    engine = Engine.build(config, clock=clock, feed=feed, instruments=market.instruments())
    try:
        engine.start()
        if before_run is not None:
            before_run(engine)
        await feed.finished.wait()
    finally:
        await engine.stop()
    return engine


def simulated_config(book: Path, **fields: object) -> EngineConfig:
    """A desk on the simulated market with its book at ``book`` (for recordings and demos)."""
    market = fields.pop("market", None) or SimulatedMarketConfig()
    return EngineConfig(
        db_url=str(sqlite_url(book)),
        market=market,  # type: ignore[arg-type]
        var_interval_seconds=0,
        **fields,  # type: ignore[arg-type]
    )
