"""Backtests for the UI and scripts: the recordings there are, the strategies a run can use, and
runs started off the desk's loop with progress and a cancel.

A run is the runtime's (``engine.runtime.backtests.run_backtest``, handed in as ``runner``): it
runs on its own engine and loop in a worker thread, so the desk's loop only hears progress,
relayed to it thread-safely, and the result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from engine.backtest.results import BacktestResult, max_drawdown
from engine.backtest.run import BARS, TICKS, BacktestError, BacktestRequest, Progress
from engine.marketdata.recording import Recording, RecordingError

__all__ = [
    "BARS",
    "TICKS",
    "BacktestError",
    "BacktestJob",
    "BacktestRequest",
    "BacktestResult",
    "BacktestService",
    "Progress",
    "RecordingInfo",
    "max_drawdown",
]

Runner = Callable[..., BacktestResult]
"""``runner(request, folder, progress=..., cancel=threading.Event)``."""


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    path: Path
    days: tuple[date, ...]
    size_mb: float

    @property
    def title(self) -> str:
        if not self.days:
            return self.path.name
        span = f"{self.days[0]}" if len(self.days) == 1 else f"{self.days[0]} – {self.days[-1]}"
        size = f"{self.size_mb:.1f} MB" if self.size_mb >= 0.1 else f"{self.size_mb * 1000:.0f} kB"
        return f"{self.path.name} ({span}, {len(self.days)} days, {size})"


class BacktestJob:
    """A run under way: ``cancel`` asks it to stop at its next look (it stops cleanly)."""

    def __init__(self) -> None:
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


class BacktestService:
    def __init__(
        self,
        *,
        runner: Runner,
        runs_dir: Path,
        recordings_dir: Path,
        strategies: Callable[[], list[str]],
        strategies_dir: Path | None = None,
    ) -> None:
        self._runner = runner
        self.runs_dir = runs_dir
        self.recordings_dir = recordings_dir
        self._strategies = strategies
        self.strategies_dir = strategies_dir
        """The trader's strategy files, for runs that do not name a folder of their own."""

    def strategy_ids(self) -> list[str]:
        return self._strategies()

    def recordings(self) -> list[RecordingInfo]:
        """The recordings folder itself (the desk's ``--record``) and each folder in it."""
        out: list[RecordingInfo] = []
        if not self.recordings_dir.is_dir():
            return out
        for folder in [self.recordings_dir, *sorted(self.recordings_dir.iterdir())]:
            if not folder.is_dir():
                continue
            try:
                recording = Recording(folder)
                days = tuple(d.day for d in recording.days())
            except (RecordingError, OSError):
                continue
            if days:
                out.append(RecordingInfo(folder, days, recording.size_bytes() / 1e6))
        return out

    async def run(
        self,
        request: BacktestRequest,
        job: BacktestJob,
        progress: Callable[[Progress], None] | None = None,
    ) -> BacktestResult:
        """Run ``request`` in a worker thread; ``progress`` is called on this loop."""
        loop = asyncio.get_running_loop()
        if request.strategies_dir is None and self.strategies_dir is not None:
            request = replace(request, strategies_dir=str(self.strategies_dir))

        def relay(step: Progress) -> None:
            if progress is not None:
                loop.call_soon_threadsafe(progress, step)

        return await asyncio.to_thread(
            self._runner,
            request,
            self.runs_dir / request.name,
            progress=relay,
            cancel=job._cancel,
        )
