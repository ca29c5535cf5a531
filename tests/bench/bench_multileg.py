"""What running multileg portfolios cost the tick path.

Two engines on the same simulated market (about 10,000 ticks/s over 3,000+ instruments), built
alike, in one process: one runs 200 multileg portfolios of 4 legs each, entered (Started, every
leg filled) and watching their legs' stops and targets and their combined exits on every tick;
the other runs none. The portfolios are spread over NIFTY (weeklies and monthlies), BANKNIFTY and
FINNIFTY (monthlies): iron condors, iron butterflies (straddles with wings), strangle and
straddle calendars, with leg stops (percent or points, some trailing) and combined targets and
stops (rupees or percent of the premium, some trailing or locking), all wide enough that none
fires while the figures are taken.

Both engines are then fed the same recorded tape through the feed entry point (quote cache ->
bus -> paper venue, risk breakers, strategy kernel), the test clock moving with the tape's
batches, in alternating rounds; the best round of each is its throughput. A last pass times every
tick: the strategies' share is the time between two bus handlers that stand either side of the
strategy kernel's (kernel dispatch, each portfolio's ``on_tick`` with its once-a-second clock
work, leg and combined checks). The same two handlers stand in the engine without portfolios,
where the time between them is the measurement's own floor.

Entering 200 portfolios sends about 800 orders in a few seconds, so the bench's own EngineConfig
opens the risk limits that would hold them back (no check is switched off): the order rate
(SEBI's 10/s and 200/min), open orders, position and underlying lots, concentration, a capital
large enough for the margin check, the duplicate-order window (portfolios on the same contract
send identical orders in the same second) and the daily loss limit (the entries' charges and
spreads alone come near it).

There is no event loop here, so each portfolio's once-a-second work runs on the first tick it
gets after its second is up (on the desk a timer does it between ticks): the per-tick figures
carry it.

With ``--conditions`` every other portfolio also uses the Range breakout and Extra conditions
pages while the figures are taken: a range still being measured (on the underlying, on each
leg's premium or on the net premium) with two legs in and two waiting for its breakout, and an
underlying level that would square it off, read on every tick or at a minute's close
(``conditions``), and their sold legs' stops set to act (a re-entry at cost, or a re-execute,
twice at most: ``_reentries``); the rest are as above.

Usage: python tests/bench/bench_multileg.py [--quick] [--conditions]. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.core.clock import IST, TestClock
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig
from engine.strategies.multileg.status import PortfolioStatus

WEDNESDAY_0918 = datetime(2026, 11, 25, 9, 18, tzinfo=IST)
"""A mid-week morning: NIFTY's next weekly expires in six days, nothing expires today."""
BATCH_SECONDS = 0.05
MARKET = SimulatedMarketConfig(
    seed=17,
    ticks_per_second=10_000,
    strikes_each_side=50,
    weekly_expiries=4,
    monthly_expiries=2,
    extra_expiries=2,
    batch_interval=BATCH_SECONDS,
)
PORTFOLIOS = 200
TARGET_P99_US = 100
TARGET_TICKS_PER_S = 200_000

# -- the desk ------------------------------------------------------------------------------------


def risk_settings() -> RiskSettings:
    return RiskSettings(
        RiskLimits(
            capital=Decimal(10**10),
            max_orders_per_second=None,
            max_orders_per_minute=None,
            max_open_orders=None,
            max_position_lots=None,
            max_underlying_lots=None,
            max_concentration_pct=None,
            duplicate_window_seconds=None,
            daily_loss_limit=None,
        )
    )


def build(db: Path) -> tuple[Engine, TestClock]:
    clock = TestClock(WEDNESDAY_0918)
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{db}",
            market=MARKET,
            risk=risk_settings(),
            var_interval_seconds=0,
        ),
        clock=clock,
    )
    return engine, clock


class Stopwatch:
    """Two bus handlers either side of the strategy kernel's: the time between them is what the
    strategies added to one tick. Subscribe ``before`` ahead of the first portfolio (the kernel
    subscribes when its first strategy watches a token) and ``after`` once they are running."""

    def __init__(self) -> None:
        self.armed = False
        self.started = 0
        self.samples: list[int] = []

    def before(self, tick: Tick) -> None:
        if self.armed:
            self.started = time.perf_counter_ns()

    def after(self, tick: Tick) -> None:
        if self.armed:
            self.samples.append(time.perf_counter_ns() - self.started)


# -- the portfolios ------------------------------------------------------------------------------

NIFTY_EXPIRIES = (("CW", "W1"), ("W1", "W2"), ("CW", "CM"), ("CM", "NM"))
MONTHLY_EXPIRIES = (("CM", "NM"),)
SPREAD = (
    ("NIFTY", 120, NIFTY_EXPIRIES),
    ("BANKNIFTY", 50, MONTHLY_EXPIRIES),
    ("FINNIFTY", 30, MONTHLY_EXPIRIES),
)
"""(underlying, portfolios, (near, far) expiry pairs) — the desk's weight on each index."""


def _leg(
    side: str, right: str, expiry: str, offset: int, lots: int, **extra: Any
) -> dict[str, Any]:
    leg = {
        "side": side,
        "instrument": right,
        "expiry": expiry,
        "strike": {"kind": "atm", "offset": offset},
        "lots": lots,
    }
    if side == "BUY":
        leg["hedge"] = True
    leg.update(extra)
    return leg


def _stop(rng: random.Random) -> dict[str, Any]:
    """A sold leg's stop: percent of its entry or points, sometimes trailing."""
    if rng.random() < 0.6:
        stop: dict[str, Any] = {"stop": {"measure": "percent", "value": rng.choice(["60", "80"])}}
    else:
        stop = {"stop": {"measure": "points", "value": rng.choice(["40", "60", "90"])}}
    if rng.random() < 0.3:
        stop["trail"] = {"every": "5", "by": "2"}
    return stop


def _legs(kind: str, near: str, far: str, rng: random.Random) -> list[dict[str, Any]]:
    lots = rng.choice((1, 1, 1, 2, 2, 3))
    if kind == "iron_condor":
        short = rng.randint(2, 6)
        wing = short + rng.randint(2, 6)
        return [
            _leg("SELL", "CE", near, short, lots, **_stop(rng)),
            _leg("SELL", "PE", near, -short, lots, **_stop(rng)),
            _leg("BUY", "CE", near, wing, lots),
            _leg("BUY", "PE", near, -wing, lots),
        ]
    if kind == "iron_butterfly":
        wing = rng.randint(3, 8)
        return [
            _leg("SELL", "CE", near, 0, lots, **_stop(rng)),
            _leg("SELL", "PE", near, 0, lots, **_stop(rng)),
            _leg("BUY", "CE", near, wing, lots),
            _leg("BUY", "PE", near, -wing, lots),
        ]
    offset = 0 if kind == "straddle_calendar" else rng.randint(1, 4)
    return [
        _leg("SELL", "CE", near, offset, lots, **_stop(rng)),
        _leg("SELL", "PE", near, -offset, lots, **_stop(rng)),
        _leg("BUY", "CE", far, offset, lots),
        _leg("BUY", "PE", far, -offset, lots),
    ]


def _combined(rng: random.Random) -> dict[str, Any]:
    """Combined target and stop far beyond what a few minutes move, some trailing or locking."""
    sections: dict[str, Any]
    if rng.random() < 0.5:
        sections = {
            "target": {"combined": {"value": "250000"}},
            "stop_loss": {"combined": {"value": "250000"}},
        }
    else:
        sections = {
            "target": {"combined": {"value": "400", "percent": True}},
            "stop_loss": {"combined": {"value": "400", "percent": True}},
        }
    if rng.random() < 0.3:
        sections["stop_loss"] |= {"trail_every": "50000", "trail_by": "10000"}
    if rng.random() < 0.2:
        sections["target"] |= {"lock_at": "100000", "lock": "20000"}
    return sections


def _conditions(n: int) -> dict[str, Any]:
    """Every other portfolio: a range breakout measuring all through the tape (two legs in, two
    waiting for it) and an underlying level far away, on each tick or a minute's close."""
    if n % 2:
        return {}
    on = ("underlying", "each leg's premium", "net premium")[(n // 2) % 3]
    at_cost = n % 4 == 2  # needs the leg's own stop: so no opposite-side stop
    return {
        "range_breakout": {
            "enabled": True,
            "range_start": "09:18:00",
            "range_end": "14:00:00",
            "on": on,
            "no_breakout": ["Leg 3", "Leg 4"],
            "opposite_sl": not at_cost,
        },
        "conditions": {
            "underlying_exit": {
                "at_or_above": "900000",
                "check": "tick" if n % 4 == 0 else "1m",
            }
        },
    }


def _reentries(legs: list[dict[str, Any]], n: int) -> None:
    """The conditions half's sold legs act on their stops: a re-entry at cost, or a re-execute
    at the strike's rule (twice at most), so the leg watches for its action."""
    action = {"action": "re_entry_at_cost"} if n % 4 == 2 else {"action": "re_execute"}
    for leg in legs:
        if leg["side"] == "SELL" and "stop" in leg:
            leg["on_stop"] = {**action, "count": 2}


def portfolio_specs(rng: random.Random, conditions: bool = False) -> list[dict[str, Any]]:
    kinds = ("iron_condor", "iron_butterfly", "strangle_calendar", "straddle_calendar")
    specs = []
    for underlying, count, expiries in SPREAD:
        for n in range(count):
            kind = kinds[n % len(kinds)]
            near, far = expiries[(n // len(kinds)) % len(expiries)]
            specs.append(
                {
                    "defaults": {"name": f"{underlying} {kind} {n}", "underlying": underlying},
                    "legs": _legs(kind, near, far, rng),
                    "execution": {"start": None},
                    **_combined(rng),
                    **(_conditions(n) if conditions else {}),
                }
            )
            if conditions and n % 2 == 0:
                _reentries(specs[-1]["legs"], n)
    assert len(specs) == PORTFOLIOS
    return specs


def run_market(engine: Engine, clock: TestClock, seconds: float) -> None:
    assert engine.market is not None
    for _ in range(round(seconds / BATCH_SECONDS)):
        clock.advance(BATCH_SECONDS)
        for tick in engine.market.step(BATCH_SECONDS):
            engine.on_tick(tick)


def enter_portfolios(engine: Engine, clock: TestClock, specs: list[dict[str, Any]]) -> float:
    """Start every portfolio and run the market until each is Started; the simulated seconds
    that took."""
    api = engine.api
    for spec in specs:
        problem = api.save_portfolio(spec) or api.start_portfolio(spec["defaults"]["name"])
        assert problem is None, problem
    waited = 0.0
    while True:
        views = api.portfolios()
        if all(v.status is PortfolioStatus.STARTED for v in views):
            return waited
        stuck = [v for v in views if not v.running]
        if stuck or waited > 120:
            wrong = stuck or [v for v in views if v.status is not PortfolioStatus.STARTED]
            raise SystemExit(
                f"{len(wrong)} portfolios not Started after {waited:g} s, e.g. "
                f"{wrong[0].name}: {wrong[0].status.value} ({wrong[0].reason})"
            )
        run_market(engine, clock, 0.5)
        waited += 0.5


def touched(engine: Engine) -> dict[int, int]:
    """Per instrument token: how many portfolios its ticks reach (its legs, its underlying)."""
    spots = engine.registry.spot_tokens()
    reach: dict[int, set[str]] = {}
    for view in engine.api.portfolios():
        tokens = {leg.token for leg in engine.api.portfolio_legs(view.name)}
        tokens.add(spots[view.underlying])
        for token in tokens:
            reach.setdefault(token, set()).add(view.name)
    return {token: len(names) for token, names in reach.items()}


# -- measuring -----------------------------------------------------------------------------------

Tape = list[list[Tick]]


def record_tape(engine: Engine, seconds: float) -> Tape:
    """The market's next ``seconds`` as batches of ticks, one per ``BATCH_SECONDS``."""
    assert engine.market is not None
    return [engine.market.step(BATCH_SECONDS) for _ in range(round(seconds / BATCH_SECONDS))]


def replay(engine: Engine, clock: TestClock, tape: Tape) -> float:
    """Ticks per second through the engine's feed entry point, the clock moving with the tape."""
    on_tick, advance = engine.on_tick, clock.advance
    ticks = 0
    start = time.perf_counter()
    for batch in tape:
        advance(BATCH_SECONDS)
        for tick in batch:
            on_tick(tick)
        ticks += len(batch)
    return ticks / (time.perf_counter() - start)


def timed_replay(
    engine: Engine, clock: TestClock, tape: Tape, watch: Stopwatch
) -> tuple[list[int], list[int]]:
    """Nanoseconds of each tick through the feed entry point, and of its strategies' share."""
    on_tick, advance, now = engine.on_tick, clock.advance, time.perf_counter_ns
    per_tick: list[int] = []
    watch.samples = []
    watch.armed = True
    for batch in tape:
        advance(BATCH_SECONDS)
        for tick in batch:
            start = now()
            on_tick(tick)
            per_tick.append(now() - start)
    watch.armed = False
    return per_tick, watch.samples


def least_per_tick(passes: list[list[int]]) -> list[int]:
    """Each tick's least time over passes of the same tape. The tape is a whole number of
    seconds, so every pass asks the same work of each tick; the least is the pass in which no
    other process took the core away."""
    return [min(times) for times in zip(*passes, strict=True)]


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * share) - 1))]


def summary(nanoseconds: list[int]) -> dict[str, float]:
    """p50, p99, p99.9 and max in microseconds."""
    ordered = sorted(n / 1000 for n in nanoseconds)
    return {
        "p50": statistics.median(ordered),
        "p99": percentile(ordered, 0.99),
        "p999": percentile(ordered, 0.999),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--conditions",
        action="store_true",
        help="half the portfolios use breakouts, conditions and re-entries",
    )
    args = parser.parse_args()
    tape_seconds = 2.5 if args.quick else 30.0
    rounds = 2 if args.quick else 5
    passes = 2 if args.quick else 3
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        desk, desk_clock = build(Path(tmp) / "with.db")
        bare, bare_clock = build(Path(tmp) / "without.db")
        watches: dict[str, Stopwatch] = {"with": Stopwatch(), "without": Stopwatch()}
        for engine, watch in ((desk, watches["with"]), (bare, watches["without"])):
            engine.bus.subscribe(Tick, watch.before)
        specs = portfolio_specs(rng, args.conditions)
        entry_seconds = enter_portfolios(desk, desk_clock, specs)
        for engine, watch in ((desk, watches["with"]), (bare, watches["without"])):
            engine.bus.subscribe(Tick, watch.after)
        orders = len(desk.api.orders())
        reach = touched(desk)
        legs = sum(len(desk.api.portfolio_legs(v.name)) for v in desk.api.portfolios())
        tape = record_tape(desk, tape_seconds)
        ticks = sum(len(batch) for batch in tape)
        touches = [reach.get(tick.token, 0) for batch in tape for tick in batch]
        setup_seconds = time.perf_counter() - started
        instruments = len(desk.registry)

        gc.collect()
        gc.freeze()
        rates: dict[str, list[float]] = {"with": [], "without": []}
        timed: dict[str, list[tuple[list[int], list[int]]]] = {"with": [], "without": []}
        for _ in range(rounds):
            for side, engine, clock in (("with", desk, desk_clock), ("without", bare, bare_clock)):
                rates[side].append(replay(engine, clock, tape))
        for _ in range(passes):
            for side, engine, clock in (("with", desk, desk_clock), ("without", bare, bare_clock)):
                timed[side].append(timed_replay(engine, clock, tape, watches[side]))
        still = sum(v.status is PortfolioStatus.STARTED for v in desk.api.portfolios())
        desk.close()
        bare.close()

    kernel_least = least_per_tick([kernel for _, kernel in timed["with"]])
    strategies = summary(kernel_least)
    reaching = summary([ns for ns, reached in zip(kernel_least, touches, strict=True) if reached])
    floor = summary(least_per_tick([kernel for _, kernel in timed["without"]]))
    engine_with = summary(least_per_tick([total for total, _ in timed["with"]]))
    engine_without = summary(least_per_tick([total for total, _ in timed["without"]]))
    one_pass = statistics.median(summary(kernel)["p99"] for _, kernel in timed["with"])
    rate_with, rate_without = max(rates["with"]), max(rates["without"])
    value = strategies["p99"]
    print(
        f"instruments {instruments}; tape {ticks:,} ticks over {tape_seconds:g} s of market "
        f"({ticks / tape_seconds:,.0f} ticks/s)"
    )
    print(
        f"portfolios {PORTFOLIOS} x 4 legs ({legs} legs, {len(reach)} instruments watched), "
        f"entered in {entry_seconds:g} simulated s with {orders} orders; set-up "
        f"{setup_seconds:.1f} s; Started after the measurement: {still}"
    )
    print(
        f"portfolios a tick reaches: mean {statistics.fmean(touches):.2f}, "
        f"{sum(1 for t in touches if t) / ticks:.1%} of ticks reach one or more, "
        f"most {max(touches)}"
    )
    print(
        f"strategies per tick: p50 {strategies['p50']:.2f} us, p99 {value:.2f} us, "
        f"p99.9 {strategies['p999']:.1f} us, max {strategies['max']:.0f} us, mean "
        f"{strategies['mean']:.2f} us (target p99 < {TARGET_P99_US} us), each tick its least "
        f"over {passes} passes; p99 of one pass {one_pass:.2f} us; measurement floor p50 "
        f"{floor['p50']:.2f} us"
    )
    print(
        f"strategies per tick that reaches a portfolio: p50 {reaching['p50']:.2f} us, p99 "
        f"{reaching['p99']:.2f} us"
    )
    print(
        f"engine per tick with / without: p50 {engine_with['p50']:.2f} / "
        f"{engine_without['p50']:.2f} us, p99 {engine_with['p99']:.2f} / "
        f"{engine_without['p99']:.2f} us"
    )
    print(
        f"throughput with / without: {rate_with:,.0f} / {rate_without:,.0f} ticks/s "
        f"(target with >= {TARGET_TICKS_PER_S:,})"
    )
    print(
        json.dumps(
            {
                "bench": "multileg",
                "value": round(value, 2),
                "unit": "us",
                "metric": "p99 per tick that 200 running 4-leg portfolios add",
                "p50": round(strategies["p50"], 2),
                "p99": round(value, 2),
                "p999": round(strategies["p999"], 2),
                "max": round(strategies["max"], 1),
                "mean": round(strategies["mean"], 3),
                "p99_one_pass": round(one_pass, 2),
                "p50_ticks_reaching": round(reaching["p50"], 2),
                "p99_ticks_reaching": round(reaching["p99"], 2),
                "floor_p50": round(floor["p50"], 3),
                "ticks_per_s_with": round(rate_with),
                "ticks_per_s_without": round(rate_without),
                "reference": round(rate_without),
                "reference_name": "engine without the portfolios, same tape, same run, ticks/s",
                "ratio": round(rate_with / rate_without, 4),
                "ratio_name": "ticks/s with the portfolios / without",
                "engine_p50_with_us": round(engine_with["p50"], 2),
                "engine_p99_with_us": round(engine_with["p99"], 2),
                "engine_p50_without_us": round(engine_without["p50"], 2),
                "engine_p99_without_us": round(engine_without["p99"], 2),
                "portfolios": PORTFOLIOS,
                "with_conditions": PORTFOLIOS // 2 if args.conditions else 0,
                "legs": legs,
                "started_after": still,
                "entry_orders": orders,
                "instruments": instruments,
                "feed_ticks_per_s": round(ticks / tape_seconds),
                "tape_ticks": ticks,
                "portfolios_per_tick": round(statistics.fmean(touches), 3),
                "ticks_reaching_a_portfolio": round(sum(1 for t in touches if t) / ticks, 4),
                "target_p99_us": TARGET_P99_US,
                "target_ticks_per_s": TARGET_TICKS_PER_S,
            }
        )
    )


if __name__ == "__main__":
    main()
