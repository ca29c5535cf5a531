"""The risk layer's housekeeping off the order path: margin arrays refreshed, VaR recomputed in a
worker process, and the synthetic return history the paper desk's VaR uses."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING

import numpy as np

from engine.core.workers import worker_pool
from engine.domain.events import EngineMessage, OrderFilled, Severity, VarReport
from engine.marketdata.sim_spec import load_universe_spec
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.risk.var import compute_var, synthetic_returns

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)


async def risk_housekeeping(engine: Engine, stop: asyncio.Event) -> None:
    """Refresh margin risk arrays and recompute VaR, off the order path: VaR soon after
    start (positions may have been restored), every ``var_interval_seconds`` as prices move,
    and ``var_after_fill_seconds`` after a fill so the risk panel follows a new position."""
    assert engine.risk is not None
    loop = asyncio.get_running_loop()
    refresh = engine.config.margin.refresh_seconds
    var_every = engine.config.var_interval_seconds
    after_fill = engine.config.var_after_fill_seconds
    next_refresh = loop.time() + refresh
    derivatives = [i for i in engine.registry if i.is_derivative]
    next_var = loop.time() + after_fill
    last_var = -float("inf")
    filled = asyncio.Event()
    stop_watching = engine.bus.subscribe(OrderFilled, lambda _fill: filled.set())
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
                return
            except TimeoutError:
                pass
            now = loop.time()
            margin = engine.risk.margin
            if margin is not None:
                # A slice of the universe every second (a few ms), all of it every ~12 s.
                margin.refresh_some(derivatives, 250)
            if now >= next_refresh and margin is not None:
                next_refresh = now + refresh
                margin.refresh()
            soon = filled.is_set() and now - last_var >= after_fill
            if var_every and (now >= next_var or soon):
                filled.clear()
                next_var = now + var_every
                await update_var(engine)
                last_var = loop.time()
    finally:
        stop_watching()


def margin_beat(engine: Engine) -> Callable[[], None]:
    """The margin half of ``risk_housekeeping`` as a once-a-second call, for a desk on a
    simulated clock (a backtest): the arrays are refreshed at the same moments of market time
    however fast the replay runs, so a margin check decides the same way in every run. VaR is
    not recomputed there (a backtest's engine has it off)."""
    assert engine.risk is not None
    risk = engine.risk
    derivatives = [i for i in engine.registry if i.is_derivative]
    every_ns = int(engine.config.margin.refresh_seconds * 1e9)
    next_refresh = [engine.clock.time_ns() + every_ns]

    def beat() -> None:
        margin = risk.margin
        if margin is None:
            return
        if derivatives:
            margin.refresh_some(derivatives, 250)
        now = engine.clock.time_ns()
        if now >= next_refresh[0]:
            next_refresh[0] = now + every_ns
            margin.refresh()

    return beat


async def update_var(engine: Engine, executor: Executor | None = None) -> VarReport | None:
    """Recompute VaR of the current portfolio in a worker process and publish it."""
    if engine.risk is None:
        return None
    portfolio = engine.risk.var_portfolio(engine.returns, engine.config.market.rate)
    if portfolio is None:
        return engine.risk.publish_var(None, 0, "no open positions")
    if executor is None:
        if engine.var_executor is None:
            engine.var_executor = worker_pool(max_workers=1)
        executor = engine.var_executor
    loop = asyncio.get_running_loop()
    try:
        # The job is engine.risk.var's own function: the worker imports that module and numpy,
        # not the whole engine, so it starts in a fraction of the time and memory.
        job = functools.partial(compute_var, paths=engine.config.var_paths)
        result = await loop.run_in_executor(executor, job, portfolio)
    except Exception as exc:
        log.exception("VaR computation failed")
        engine.bus.publish(
            EngineMessage(engine.clock.time_ns(), Severity.WARNING, f"VaR failed: {exc}", "risk")
        )
        return None
    return engine.risk.publish_var(result, len(portfolio.quantity))


def paper_returns(market: SimulatedMarketConfig) -> dict[str, np.ndarray]:
    """A year of synthetic daily returns per simulated underlying, with the simulated market's
    own vols and correlation: the historical VaR's stand-in until real closes are stored."""
    spec = load_universe_spec(market.universe_path)
    names = [i.underlying for i in spec.indices] + [s.symbol for s in spec.stocks]
    vols = np.array([i.annual_vol for i in spec.indices] + [s.annual_vol for s in spec.stocks])
    loading = np.array(
        [i.market_loading for i in spec.indices] + [s.market_loading for s in spec.stocks]
    )
    history = synthetic_returns(vols, loading, days=250, seed=market.seed)
    return {name: history[:, n] for n, name in enumerate(names)}
