"""Backtests and recordings on the desk's own engine: the runtime builds it with a replay feed
and a simulated clock (``engine.backtest.run``), or runs the simulated market as fast as it
computes while the recorder keeps its ticks.

``run_backtest`` is a plain function of picklable values, so sweeps run it in worker processes
or on a Dask cluster (``engine.backtest.sweep``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from engine.backtest.results import BacktestResult
from engine.backtest.run import (
    BacktestError,
    BacktestRequest,
    Desk,
    Progress,
    read_settings_file,
)
from engine.backtest.run import run_backtest as run_on
from engine.brokers.paper.config import PaperConfig
from engine.calendar import MarketCalendar
from engine.calendar.fail_closed import FailClosedCalendar
from engine.core.clock import IST, SimulatedClock
from engine.domain.events import RiskLimitsChanged
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
from engine.store.pnl_rebuild import read_book
from engine.store.urls import (
    check_path_name,
    default_database_path,
    profile_folder,
    redact_url,
    sqlite_url,
)


def backtests_dir(profile: str) -> Path:
    """Where a profile keeps its runs: ``<user data dir>/<profile>/backtests``."""
    return profile_folder(profile, "backtests")


def recordings_dir(profile: str) -> Path:
    """Where a profile keeps its recordings: ``<user data dir>/<profile>/recordings``."""
    return profile_folder(profile, "recordings")


DEFAULT_LIMITS = "defaults"
"""The limits source that means a new book's limits."""


@dataclass(frozen=True, slots=True)
class RunLimits:
    """The risk limits a run's gate applies (``BacktestRequest.risk``; None: a new book's) and,
    in words, whose they are."""

    risk: dict[str, Any] | None
    said: str


def run_limits(source: str, profile: str, account: str = "paper", *, named: bool) -> RunLimits:
    """The risk limits a command-line run applies, from ``source``:

    - ``defaults``: a new book's;
    - a JSON file of risk settings (``*.json``, as ``RiskSettings.from_mapping`` reads them);
    - a book's file (``*.db``) or database URL (a PostgreSQL book), or the name of one of the
      profile's books (``paper``, ``kite``, ``paper-kite``): the limits last saved in it, which
      the desk trading that book restores. The book is only read, so a desk may have it open.

    The ``account``'s overrides are folded in, as the Backtest panel does for the desk's account.
    A profile's book that does not exist yet gives a new book's limits when the trader did not
    name it (``named`` False) and is refused when they did."""
    if source == DEFAULT_LIMITS:
        return RunLimits(None, "a new book's (--limits defaults)")
    if source.lower().endswith(".json"):
        try:
            settings = RiskSettings.from_mapping(read_settings_file(source, "risk limits"))
        except (TypeError, ValueError, AttributeError) as problem:
            raise BacktestError(f"the risk limits file {source}: {problem}") from None
        return _limits_of(settings, account, f"those of {source}")
    if "://" in source:
        url, where = source, f"the book at {redact_url(source)}"
    elif source.lower().endswith(".db"):
        path = Path(source)
        if not path.is_file():
            raise BacktestError(f"there is no book file {path}")
        url, where = str(sqlite_url(path)), f"the book {path}"
    else:
        path = default_database_path(profile, check_path_name("book", source))
        if not path.exists():
            if not named:
                return RunLimits(None, f"a new book's (profile {profile!r} has no {source} book)")
            raise BacktestError(
                f"profile {profile!r} has no {source} book ({path}): name a book it has, a JSON "
                f"file of limits or '{DEFAULT_LIMITS}'"
            )
        url, where = str(sqlite_url(path)), f"the {source} book"
    try:
        saved = read_book(url, kinds=(RiskLimitsChanged.kind,)).entries
    except (sqlite3.Error, SQLAlchemyError) as problem:
        first = str(problem).splitlines()[0]
        raise BacktestError(f"the risk limits of {where} cannot be read: {first}") from None
    if not saved:
        return RunLimits(None, f"a new book's (none were ever set in {where})")
    last = saved[-1]
    when = f"{datetime.fromtimestamp(last.ts_ns / 1e9, IST):%d %b %Y %H:%M}"
    try:
        settings = RiskSettings.from_mapping(last.payload.get("settings", {}))
    except (TypeError, ValueError, AttributeError) as problem:
        raise BacktestError(
            f"the risk limits saved in {where} on {when} cannot be read ({problem}): give "
            f"--limits {DEFAULT_LIMITS} or a JSON file of limits"
        ) from None
    return _limits_of(settings, account, f"those saved in {where} on {when}")


def _limits_of(settings: RiskSettings, account: str, whose: str) -> RunLimits:
    if settings.accounts.get(account):
        whose = f"{whose}, with the overrides of account {account!r}"
    return RunLimits(settings.as_account(account).to_mapping(), whose)


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
