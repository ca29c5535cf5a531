"""Child process of the multileg crash test: a desk running one iron condor on the simulated market.

``multileg_crash_child.py BOOK PORTFOLIOS AT [KILL_AFTER]``

Opens the desk on the book file ``BOOK`` and the portfolios folder ``PORTFOLIOS`` with a test clock
at ``AT`` (ISO time). A desk whose book holds the portfolio running resumes it (as a desk
restarted after a crash does); otherwise the portfolio is saved and started. The market is then
stepped a quarter second at a time until the portfolio has finished.

With ``KILL_AFTER`` the process kills itself with SIGKILL right after the bus has carried that
many events of the portfolio's orders (submitted, status changed, filled), counted in a bus
subscriber: the kill lands between two events, whatever the portfolio has or has not yet heard.

The market's random path starts at ``ORIGIN`` whatever ``AT`` is: a desk started later steps it
from there to ``AT`` without showing the ticks to anyone (the desk was down meanwhile), so the
restarted desk trades on the market the killed one would have seen.

Prints ``EVENT <n> <kind> <tag> <status> <order status>`` for each event counted (the
portfolio's status as the bus carries the event; the order's new status, for a status change)
and, once the portfolio has finished, one JSON line with its status, reason, MTM and legs.

``multileg_crash_child.py --serve`` imports the desk once and runs each job it reads on stdin in
a process forked for it (``serve``): a child costs a fork, not a second of imports, and is
killed, and its book reopened by another process, all the same.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from engine.calendar import MarketCalendar
from engine.calendar.fail_closed import FailClosedCalendar
from engine.core.clock import IST, TestClock
from engine.domain.events import OrderEvent, OrderFilled, OrderStatusChanged, OrderSubmitted
from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig
from engine.strategies.multileg.legrun import read_tag
from engine.strategies.multileg.portfolio import PortfolioStrategy, portfolio_strategy_id
from tests.multileg_support import template_spec

ORIGIN = datetime(2026, 11, 25, 9, 19, 58, tzinfo=IST)
"""A Wednesday: the current week's NIFTY options expire on Tuesday 1 December."""
STEP = 0.25
SEED = 11
NAME = "Crash condor"
STRATEGY = portfolio_strategy_id(NAME)
MULTIPLIER = 30
"""Two lots × 30 of NIFTY's 65 = 3,900 units a leg: three slices (1,755, 1,755, 390) at its
1,800 freeze quantity, so slices and their stops straddle the order-rate throttle's seconds."""
LIMIT_SECONDS = 15 * 60
MARKET = SimulatedMarketConfig(seed=SEED, strikes_each_side=12)
RISK = RiskSettings(
    defaults=RiskLimits(
        capital=Decimal(100_000_000),
        daily_loss_limit=Decimal(10_000_000),
    )
)


def portfolio(engine: Engine) -> dict[str, Any]:
    """The predefined iron condor (a strangle sold two strikes out, hedges five strikes out,
    bought first) at two lots a leg, each leg with a 40 % stop resting at the broker as an SL-L
    order, entered with limits at the touch (so orders rest and are chased), squared off a
    minute after entry. The sold call also takes a 3 % target, so one leg exits on its own while
    the others are still in."""
    data = template_spec(
        engine,
        "iron_condor",
        NAME,
        defaults={"multiplier": MULTIPLIER},
        execution={"start": "09:20:00", "square_off": "09:21:00", "limit_buffer_pct": "0"},
        at_broker={"leg_stops": True},
    )
    for leg in data["legs"]:
        leg.update(lots=2, stop={"measure": "percent", "value": "40"})
    sold_call = data["legs"][0]
    assert (sold_call["side"], sold_call["instrument"]) == ("SELL", "CE"), sold_call
    sold_call["target"] = {"measure": "percent", "value": "3"}
    return data


def open_desk(book: str, folder: Path, at: datetime) -> tuple[Engine, SimulatedMarket, TestClock]:
    clock = TestClock(ORIGIN)
    market = SimulatedMarket(MARKET, clock.now, FailClosedCalendar(MarketCalendar.load()))
    while clock.now() < at:
        clock.advance(STEP)
        market.step(STEP)  # the desk was down: nobody sees these ticks
    engine = Engine.build(
        EngineConfig(
            db_url=book if "://" in book else f"sqlite:///{book}",
            market=MARKET,
            portfolios_dir=folder,
            risk=RISK,
            var_interval_seconds=0,
        ),
        clock=clock,
        feed=market,
        instruments=market.instruments(),
    )
    for tick in market.snapshot():
        engine.quotes.update(tick)
    return engine, market, clock


def run(book: str, folder: Path, at: datetime, kill_after: int | None, out: TextIO) -> None:
    engine, market, clock = open_desk(book, folder, at)
    mine: dict[str, str] = {}
    seen = 0

    def running() -> PortfolioStrategy | None:
        strategy = engine.strategies.instance(STRATEGY)
        assert strategy is None or isinstance(strategy, PortfolioStrategy)
        return strategy

    def count(event: OrderEvent) -> None:
        nonlocal seen
        if isinstance(event, OrderSubmitted):
            if event.request.strategy != STRATEGY:
                return
            mine[event.order_id] = event.request.tag
        elif event.order_id not in mine:
            return
        seen += 1
        strategy = running()
        status = "-" if strategy is None else strategy.status.value
        order = event.status.name if isinstance(event, OrderStatusChanged) else "-"
        kind, tag = type(event).__name__, mine[event.order_id]
        out.write(f"EVENT {seen} {kind} {tag} {status} {order}\n")
        out.flush()
        if kill_after is not None and seen >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    for kind in (OrderSubmitted, OrderStatusChanged, OrderFilled):
        engine.bus.subscribe(kind, count)
    # What the desk does as it starts on its loop (Engine.start): resume what was running.
    engine.strategies.resume()
    if engine.api.portfolio(NAME) is None:  # a new book: nothing to resume
        problem = engine.api.save_portfolio(portfolio(engine)) or engine.api.start_portfolio(NAME)
        assert problem is None, problem
    deadline = clock.time_ns() + LIMIT_SECONDS * 1_000_000_000
    while running() is not None:
        assert clock.time_ns() < deadline, f"{NAME} still running after {LIMIT_SECONDS} s"
        clock.advance(STEP)
        # The throttle's queue moves as each second opens (Engine._throttle_pump on the loop).
        engine.orders.release_queued()
        for tick in market.step(STEP):
            engine.on_tick(tick)
    [view] = [v for v in engine.api.portfolios() if v.name == NAME]
    legs = [
        {"n": leg.n, "state": leg.state, "quantity": leg.quantity, "remark": leg.remark}
        for leg in engine.api.portfolio_legs(NAME)
    ]
    summary = {
        "status": view.status.value,
        "reason": view.reason,
        "mtm": str(view.mtm),
        "legs": legs,
        "events": seen,
        "tags": sorted({t for t in mine.values() if read_tag(t) is not None}),
    }
    out.write(json.dumps(summary) + "\n")
    out.flush()
    engine.close()


def serve() -> None:
    """Run each job read from stdin (a JSON list: book, portfolios, at, kill_after or null,
    output file) in a process forked from this one, which has imported the desk once; answer
    each with a JSON line: the process's exit code, or minus the signal that ended it. The
    forked process writes to the output file, and its errors to the output file + ``.err``."""
    for line in sys.stdin:
        book, folder, at, kill_after, output = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                with (
                    open(output, "w", encoding="utf-8") as out,
                    open(output + ".err", "w", encoding="utf-8") as err,
                ):
                    # Nothing strays into the replies, nor fills a pipe nobody reads yet.
                    os.dup2(out.fileno(), sys.stdout.fileno())
                    os.dup2(err.fileno(), sys.stderr.fileno())
                    try:
                        run(book, Path(folder), datetime.fromisoformat(at), kill_after, out)
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
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        book, folder, at = sys.argv[1], Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
        kill_after = int(sys.argv[4]) if len(sys.argv) > 4 else None
        run(book, folder, at, kill_after, sys.stdout)
