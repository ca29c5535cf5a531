"""Child process of the algo crash test: a desk running five execution algos on the simulated market.

``algo_crash_child.py --serve`` imports the desk once and runs each job read on stdin (a JSON
list: book URL, ISO time, kill_after or null, output file) in a process forked for it; it answers
each job with the forked process's exit code (minus the signal that ended it).

A desk whose book holds the algos resumes them (as a desk restarted after a crash does), and
starts those the killed desk had not yet started; a new book starts them all: a TWAP on NIFTY, an iceberg and a slicer on BANKNIFTY (each set to
resume after a restart), a POV on NIFTY and a TWAP on FINNIFTY (each set to stop). The market is
stepped half a second at a time until none is working. With ``kill_after`` the process kills
itself with SIGKILL right after the bus has carried that many events of the algos' children
(submitted, status changed, filled).

The market's random path starts at ``ORIGIN`` whatever the time asked: a desk started later
steps it there without showing the ticks to anyone (the desk was down meanwhile).

Prints ``EVENT <n> <kind> <parent>`` for each event counted and, once no algo is working, one
JSON line: each parent's status, reason, target and filled.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from datetime import datetime
from typing import Any, TextIO

from engine.calendar import MarketCalendar
from engine.calendar.fail_closed import FailClosedCalendar
from engine.core.clock import IST, TestClock
from engine.domain.events import OrderEvent, OrderFilled, OrderStatusChanged, OrderSubmitted
from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.algo_support import RISK, future

ORIGIN = datetime(2026, 11, 23, 9, 18, tzinfo=IST)
STEP = 0.5
MARKET = SimulatedMarketConfig(seed=13, strikes_each_side=4, ticks_per_second=60)
LIMIT_SECONDS = 600


def algos(engine: Engine) -> list[dict[str, Any]]:
    nifty = int(future(engine, "NIFTY").token)
    bank = int(future(engine, "BANKNIFTY").token)
    fin = int(future(engine, "FINNIFTY").token)
    return [
        {
            "kind": "twap",
            "token": nifty,
            "side": "BUY",
            "quantity": 40 * 65,
            "duration_seconds": 40,
            "slices": 8,
            "randomise_size_pct": 20,
        },
        {
            "kind": "iceberg",
            "token": bank,
            "side": "SELL",
            "quantity": 60 * 30,
            "visible_quantity": 10 * 30,
            "limit_buffer_ticks": -1,
            "chase_seconds": 2,
        },
        {
            "kind": "pov",
            "token": nifty,
            "side": "BUY",
            "quantity": 300 * 65,
            "participation_pct": 10,
            "duration_seconds": 40,
            "on_restart": "stop",
        },
        {"kind": "slicer", "token": bank, "side": "BUY", "quantity": 9000},
        {
            "kind": "twap",
            "token": fin,
            "side": "SELL",
            "quantity": 20 * 60,
            "duration_seconds": 40,
            "slices": 5,
            "on_restart": "stop",
        },
    ]


def open_desk(book: str, at: datetime) -> tuple[Engine, SimulatedMarket, TestClock]:
    clock = TestClock(ORIGIN)
    market = SimulatedMarket(MARKET, clock.now, FailClosedCalendar(MarketCalendar.load()))
    while clock.now() < at:
        clock.advance(STEP)
        market.step(STEP)
    engine = Engine.build(
        EngineConfig(db_url=book, market=MARKET, risk=RISK, var_interval_seconds=0),
        clock=clock,
        feed=market,
        instruments=market.instruments(),
    )
    for tick in market.snapshot():
        engine.quotes.update(tick)
    return engine, market, clock


def run(book: str, at: datetime, kill_after: int | None, out: TextIO) -> None:
    engine, market, clock = open_desk(book, at)
    seen = 0
    parents: dict[str, str] = {}

    def count(event: OrderEvent) -> None:
        nonlocal seen
        if isinstance(event, OrderSubmitted):
            strategy = event.request.strategy or ""
            if not strategy.startswith("algo-"):
                return
            parents[event.order_id] = strategy
        elif event.order_id not in parents:
            return
        seen += 1
        out.write(f"EVENT {seen} {type(event).__name__} {parents[event.order_id]}\n")
        out.flush()
        if kill_after is not None and seen >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    for kind in (OrderSubmitted, OrderStatusChanged, OrderFilled):
        engine.bus.subscribe(kind, count)
    engine.strategies.resume()  # what Engine.start does: resume what was running
    # A new book starts them all; a desk killed while it started them starts the rest.
    for settings in algos(engine)[len(engine.api.algos()) :]:
        started = engine.api.start_algo(settings)
        assert started, started.reason
    deadline = clock.time_ns() + LIMIT_SECONDS * 1_000_000_000

    def working() -> bool:
        return any(v.status.value in ("working", "paused") for v in engine.api.algos())

    while working():
        assert clock.time_ns() < deadline, f"algos still working after {LIMIT_SECONDS} s"
        clock.advance(STEP)
        engine.orders.release_queued()
        for tick in market.step(STEP):
            engine.on_tick(tick)
    summary = {
        v.parent_id: {
            "status": v.status.value,
            "reason": v.reason,
            "target": v.target,
            "filled": v.filled,
            "open": sum(
                1 for o in engine.api.orders() if o.strategy == v.parent_id and o.status.is_open
            ),
        }
        for v in engine.api.algos()
    }
    out.write(json.dumps({"parents": summary, "events": seen}) + "\n")
    out.flush()
    engine.close()


def serve() -> None:
    for line in sys.stdin:
        book, at, kill_after, output = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                with (
                    open(output, "w", encoding="utf-8") as out,
                    open(output + ".err", "w", encoding="utf-8") as err,
                ):
                    os.dup2(out.fileno(), sys.stdout.fileno())
                    os.dup2(err.fileno(), sys.stderr.fileno())
                    try:
                        run(book, datetime.fromisoformat(at), kill_after, out)
                        code = 0
                    except BaseException:
                        traceback.print_exc()
                        sys.stderr.flush()
            finally:
                os._exit(code)
        _pid, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps(os.waitstatus_to_exitcode(status)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
