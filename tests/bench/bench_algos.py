"""What 100 running execution algos cost the desk: CPU and event-loop lag with and without them.

One engine on its asyncio loop, as the desk runs it: the simulated market publishing about
10,000 ticks a second (in batches every 50 ms) through the feed entry point (quote cache -> bus
-> paper venue, risk, strategy kernel), the runtime's housekeeping and throttle pump, on a clock
that reads the real time moved to a Monday morning session (so the market, the venue and the
gate all see the market open). The same run measures two windows of equal length:

* without: the market alone;
* with: the market and 100 parents started through the facade (TWAP, VWAP, POV and iceberg,
  over the three index futures and 30 near-the-money NIFTY options), each sending and chasing its
  children through the gate under the desk's ten-orders-a-second budget, SEBI's order limits on.

Figures: the process's CPU share of one core in each window (``time.process_time`` over wall
time), the loop lag (a 10 ms sleeper's overshoot: p50, p99, max) and the ticks delivered. The
value is the CPU the algos add, in percent of the CPU without them (target <= 20 %); the
reference is the CPU share without them; the loop-lag p99 with them is reported against its
target of 50 ms.

Usage: python tests/bench/bench_algos.py [--quick]. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.core.clock import IST
from engine.domain.events import OrderSubmitted
from engine.domain.instruments import Instrument, InstrumentType
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig

SESSION = datetime(2026, 11, 25, 9, 20, tzinfo=IST)
MARKET = SimulatedMarketConfig(
    seed=29, ticks_per_second=10_000, strikes_each_side=50, weekly_expiries=4, batch_interval=0.05
)
ALGOS = 100
TARGET_CPU_PCT = 20.0
TARGET_LAG_MS = 50.0


class SessionClock:
    """The real time, moved so that it starts at ``SESSION`` (a session the market is open)."""

    def __init__(self, start: datetime) -> None:
        self._shift = int(start.timestamp() * 1e9) - time.time_ns()

    def time_ns(self) -> int:
        return time.time_ns() + self._shift

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time_ns() / 1e9, tz=IST)


def build(folder: Path) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{folder / 'book.db'}",
            market=MARKET,
            risk=RiskSettings(
                RiskLimits(
                    capital=Decimal(10**10),
                    max_open_orders=None,
                    max_position_lots=None,
                    max_underlying_lots=None,
                    max_concentration_pct=None,
                    daily_loss_limit=None,
                )
            ),
            var_interval_seconds=0,
        ),
        clock=SessionClock(SESSION),
    )


def instruments(engine: Engine) -> list[Instrument]:
    """The three index futures and the 30 NIFTY options nearest the money of the first expiry."""
    listed = list(engine.registry)
    futures = [i for i in listed if i.instrument_type is InstrumentType.FUT]
    nifty = engine.api.underlying_price("NIFTY")
    assert nifty is not None
    options = [i for i in listed if i.underlying == "NIFTY" and i.is_option]
    first = min(i.expiry for i in options if i.expiry is not None)
    near = sorted(
        (i for i in options if i.expiry == first),
        key=lambda i: abs(Decimal(i.strike or 0) / 100 - nifty),
    )[:30]
    return futures + near


def algo_settings(chosen: list[Instrument]) -> list[dict[str, Any]]:
    kinds = ["twap", "vwap", "pov", "iceberg"]
    out = []
    for n in range(ALGOS):
        instrument = chosen[n % len(chosen)]
        lot = instrument.lot_size
        kind = kinds[n % len(kinds)]
        settings: dict[str, Any] = {
            "kind": kind,
            "token": int(instrument.token),
            "side": "BUY" if n % 2 else "SELL",
            "quantity": 200 * lot,
            "duration_seconds": 900,
            "slices": 150,
            "chase_seconds": 3,
            "owner": f"bench-{n % 5}",
        }
        if kind == "pov":
            settings.update(participation_pct=2, min_interval_seconds=2)
        if kind == "iceberg":
            settings.update(visible_quantity=lot, limit_buffer_ticks=-2)
        out.append(settings)
    return out


async def window(engine: Engine, seconds: float) -> dict[str, float]:
    """CPU share, loop lag and ticks over ``seconds`` of the running desk."""
    lags: list[float] = []
    ticks_before = engine.ticks_seen
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    end = wall_before + seconds
    while (start := time.perf_counter()) < end:
        await asyncio.sleep(0.01)
        lags.append((time.perf_counter() - start - 0.01) * 1000)
    wall = time.perf_counter() - wall_before
    lags.sort()
    return {
        "cpu_share": (time.process_time() - cpu_before) / wall,
        "lag_p50_ms": statistics.median(lags),
        "lag_p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        "lag_max_ms": lags[-1],
        "ticks_per_s": (engine.ticks_seen - ticks_before) / wall,
    }


async def measure(seconds: float, warm_up: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        engine = build(Path(folder))
        sent: list[OrderSubmitted] = []
        engine.bus.subscribe(
            OrderSubmitted,
            lambda e: sent.append(e) if (e.request.strategy or "").startswith("algo-") else None,
        )
        engine.start()
        await asyncio.sleep(warm_up)  # the market's first batches, the caches warm
        without = await window(engine, seconds)
        for settings in algo_settings(instruments(engine)):
            started = engine.api.start_algo(settings)
            if not started:
                raise SystemExit(f"an algo did not start: {started.reason}")
        await asyncio.sleep(warm_up / 2)  # the first slices' burst
        with_algos = await window(engine, seconds)
        running = sum(1 for v in engine.api.algos() if v.status.value == "working")
        children = len(sent)
        await engine.stop()
    return {"without": without, "with": with_algos, "running": running, "children": children}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two 1.2-second windows")
    args = parser.parse_args()
    seconds, warm_up = (1.2, 0.6) if args.quick else (10.0, 3.0)
    result = asyncio.run(measure(seconds, warm_up))
    without, with_algos = result["without"], result["with"]
    ratio = with_algos["cpu_share"] / max(without["cpu_share"], 1e-6)
    overhead = (ratio - 1) * 100
    for name, figures in (("without algos", without), (f"with {ALGOS} algos", with_algos)):
        print(
            f"{name}: CPU {figures['cpu_share'] * 100:.1f} % of a core, loop lag p50 "
            f"{figures['lag_p50_ms']:.2f} ms p99 {figures['lag_p99_ms']:.2f} ms max "
            f"{figures['lag_max_ms']:.2f} ms, {figures['ticks_per_s']:,.0f} ticks/s"
        )
    print(
        f"{result['running']} algos working at the end, {result['children']} children sent; "
        f"CPU added {overhead:.1f} % (target <= {TARGET_CPU_PCT:g} %), loop lag p99 with "
        f"{with_algos['lag_p99_ms']:.2f} ms (target < {TARGET_LAG_MS:g} ms)"
    )
    print(
        json.dumps(
            {
                "bench": "bench_algos",
                "value": round(max(overhead, 0.01), 2),
                "unit": "% CPU added by 100 running algos",
                "reference": round(without["cpu_share"] * 100, 2),
                "reference_name": "CPU % of a core without algos (same run)",
                "ratio": round(ratio, 3),
                "cpu_pct_without": round(without["cpu_share"] * 100, 2),
                "cpu_pct_with": round(with_algos["cpu_share"] * 100, 2),
                "lag_p99_ms_without": round(without["lag_p99_ms"], 2),
                "lag_p99_ms_with": round(with_algos["lag_p99_ms"], 2),
                "lag_p50_ms_with": round(with_algos["lag_p50_ms"], 2),
                "ticks_per_s_without": round(without["ticks_per_s"]),
                "ticks_per_s_with": round(with_algos["ticks_per_s"]),
                "algos_working": result["running"],
                "children_sent": result["children"],
                "target_cpu_pct": TARGET_CPU_PCT,
                "target_lag_p99_ms": TARGET_LAG_MS,
            }
        )
    )


if __name__ == "__main__":
    main()
