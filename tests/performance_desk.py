"""A paper desk that has traded for some days on the simulated market: two strategies (``trend``
on RELIANCE and ``meanrev`` on HDFCBANK, placing through the same gate with their StrategyId) and the trader's manual
orders, with the day's marks journaled at each close. For the performance tests and pictures."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from engine.core.clock import IST, TestClock
from engine.domain.instruments import Instrument
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig

FIRST_DAY = datetime(2026, 11, 23, 9, 30, tzinfo=IST)


def run_market(engine: Engine, clock: TestClock, seconds: float, step: float = 1.0) -> None:
    for _ in range(int(seconds / step)):
        clock.advance(step)
        for tick in engine.market.step(step):
            engine.on_tick(tick)


def stock(engine: Engine, symbol: str) -> Instrument:
    return next(i for i in engine.registry if i.tradingsymbol == symbol)


def traded_desk(
    book: Path,
    days: int = 6,
    seed: int = 11,
    step: float = 15.0,
    schedule_folder: Path | None = None,
) -> tuple[Engine, TestClock]:
    """A desk on ``book`` that has traded ``days`` weekdays; the caller stops or closes it.
    ``step``: seconds of market a step (larger is faster, coarser)."""
    clock = TestClock(FIRST_DAY)
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{book}",
            market=SimulatedMarketConfig(seed=seed),
            schedule_folder=schedule_folder,
        ),
        clock=clock,
    )
    # Stocks, bought and sold for delivery: the simulated futures expire with the first day.
    nifty = stock(engine, "RELIANCE")
    bank = stock(engine, "HDFCBANK")
    size = {"trend": 100, "meanrev": 60}
    held = {"trend": 0, "meanrev": 0}
    day = 0
    while day < days:
        if not engine.calendar.is_trading_day(clock.now().date()):  # weekends, holidays
            clock.advance(24 * 3600)
            continue
        run_market(engine, clock, 60, step=min(step, 5.0))
        last = {
            "trend": engine.api.tick(nifty.token).ltp,
            "meanrev": engine.api.tick(bank.token).ltp,
        }
        for _ in range(6):
            run_market(engine, clock, 300, step=step)
            for name, instrument in (("trend", nifty), ("meanrev", bank)):
                price = engine.api.tick(instrument.token).ltp
                rising = price > last[name]
                want = (1 if rising else -1) if name == "trend" else (-1 if rising else 1)
                last[name] = price
                if want != held[name]:
                    lots = abs(want - held[name])
                    side = "BUY" if want > held[name] else "SELL"
                    outcome = engine.api.place_order(
                        instrument.token,
                        side,
                        lots * size[name],
                        "MARKET",
                        product="CNC",
                        source="strategy",
                        strategy=name,
                    )
                    if outcome.ok:
                        held[name] = want
        # The trader scalps NIFTY by hand once a day.
        engine.api.place_order(nifty.token, "BUY", 50, "MARKET", product="CNC", source="manual")
        run_market(engine, clock, 600, step=2 * step)
        engine.api.place_order(nifty.token, "SELL", 50, "MARKET", product="CNC", source="manual")
        run_market(engine, clock, 30, step=min(step, 5.0))
        close = clock.now().replace(hour=17, minute=0, second=0, microsecond=0)
        clock.set(close)
        engine.mark_day_end(clock.now())
        day += 1
        if day < days:
            clock.set(close + timedelta(hours=16, minutes=30))  # next morning 09:30
    return engine, clock
