"""The desk's recorder on its feed: every tick it receives kept as Parquet by day
(``EngineConfig.recordings_dir``), for backtests on what the desk saw.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.clock import SimulatedClock
from engine.domain.ticks import Tick

if TYPE_CHECKING:
    from engine.marketdata.recorder import Recorder
    from engine.runtime.engine import Engine


def start_recording(engine: Engine, folder: Path) -> Recorder:
    """A recorder of ``engine``'s ticks into ``folder``, started from the quotes the desk holds.
    Lossless on a simulated clock (a replay's every tick); pyarrow is imported only here."""
    from engine.marketdata.recorder import Recorder

    loop = asyncio.get_running_loop()

    def warn(text: str) -> None:
        # From the writer thread too: the bus is the loop's alone.
        loop.call_soon_threadsafe(engine.warn, text, "recorder")

    recorder = Recorder(
        folder,
        lambda: list(engine.registry),
        warn=warn,
        lossless=isinstance(engine.clock, SimulatedClock),
    )
    recorder.record(engine.quotes.ticks())  # the quotes the day starts from
    engine.bus.subscribe(Tick, recorder.on_tick)
    recorder.start_timer()
    return recorder
