"""Bars for bar backtests from a broker's history (the broker port's optional history
capability: Kite's historical candles, ``engine.brokers.kite.history``) or from a CSV file of
candles (``engine.backtest.csv_import``), kept as a bar recording
(``engine.marketdata.recording``) that any number of runs replay without asking again."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from engine.backtest.csv_import import CsvImportError, ImportReport, Source, read_candles
from engine.domain.bars import Bar, Timeframe
from engine.domain.instruments import Instrument
from engine.marketdata.history import HistorySource, check_range
from engine.marketdata.recording import write_bar_recording


async def record_history(
    source: HistorySource,
    instruments: Sequence[Instrument],
    start: datetime,
    end: datetime,
    root: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Fetch the 1-minute candles of ``instruments`` for ``[start, end)`` and keep them under
    ``root``; returns the bars kept. One instrument at a time (the broker limits the rate)."""
    check_range(start, end)  # ValueError in words for naive or reversed times
    if not instruments:
        raise ValueError("no instrument asked for: name at least one")
    bars: list[Bar] = []
    for number, instrument in enumerate(instruments, 1):
        bars += await source.candles(int(instrument.token), Timeframe.M1, start, end)
        if progress is not None:
            progress(number, len(instruments))
    if not bars:
        raise ValueError(f"the broker has no 1-minute candles from {start} to {end}")
    write_bar_recording(root, list(instruments), bars)
    return len(bars)


def record_csv_candles(
    source: Source, instrument: Instrument, root: Path
) -> tuple[ImportReport, int]:
    """The candles of a CSV file kept as a bar recording of ``instrument`` under ``root``, one
    folder per IST day; the report (which counts the rows and says which were skipped and why)
    and the days written.

    Raises ``CsvImportError`` when the file cannot be read or no row could be imported, and
    when ``root`` already records one of the file's days: a recorded day is never overwritten.
    """
    report = ImportReport()
    bars = list(read_candles(source, key=instrument.token, report=report))
    if not bars:
        raise CsvImportError(f"no candle could be imported: {report.summary()}")
    days = sorted({bar.start.date() for bar in bars})
    taken = [day.isoformat() for day in days if (root / day.isoformat()).exists()]
    if taken:
        raise CsvImportError(
            f"{root} already records {len(taken)} of the file's days (the first: {taken[0]}): "
            f"import into a new folder"
        )
    return report, write_bar_recording(root, [instrument], bars)
