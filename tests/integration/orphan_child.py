"""Child process of the worker-orphan test: a desk on a book with its VaR worker running.

`python orphan_child.py DB`: builds the engine on DB (taking over the book after a killed desk),
buys one share, runs VaR in its worker process, prints `READY`, then waits to be killed. The test
forks it from a server that has imported the engine (``tests/forked.py``) and calls ``main``.
"""

from __future__ import annotations

import asyncio
import sys

from engine.domain.instruments import InstrumentType
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig


async def desk(db: str) -> None:
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{db}",
            market=SimulatedMarketConfig(seed=5, always_open=True, strikes_each_side=5),
            always_open=True,
            var_paths=1000,
        )
    )
    stock = next(i for i in engine.registry if i.instrument_type is InstrumentType.EQ)
    outcome = engine.api.place_order(stock.token, "BUY", 1, "MARKET", product="CNC")
    if not outcome.ok:
        print(f"REFUSED {outcome.reason}", flush=True)
    report = await engine.update_var()
    print(f"READY {report is not None}", flush=True)
    await asyncio.sleep(3600)


def main(argv: list[str]) -> None:
    asyncio.run(desk(argv[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
