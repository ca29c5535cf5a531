"""Recordings of market data the desk did not receive itself, for backtests: bars from a
broker's history (the broker port's optional history capability: Kite's historical candles,
``engine.brokers.kite.history``) or from a CSV file of candles, and ticks from a CSV file of
trades (``engine.backtest.csv_import``), each kept as a recording
(``engine.marketdata.recording``) that any number of runs replay without asking again."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

from engine.backtest.csv_import import (
    CsvImportError,
    ImportReport,
    Source,
    read_candles,
    read_ticks,
)
from engine.core.clock import ist_date_of
from engine.domain.bars import Bar, Timeframe
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment, make_token
from engine.domain.ticks import Tick
from engine.domain.values import Paise
from engine.marketdata.history import HistorySource, check_range
from engine.marketdata.recorder import Recorder
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


def csv_instrument(
    symbol: str,
    exchange: Exchange = Exchange.NSE,
    *,
    token: int = 0,
    lot: int = 1,
    tick: int = 5,
) -> Instrument:
    """The share or ETF a CSV file is of, when the desk does not list it: its token when known,
    else one of its own (the symbol's hash, in Kite's form: the segment code in the low byte),
    its lot and its tick size in paise."""
    symbol = symbol.strip().upper()
    if not symbol:
        raise ValueError("name the instrument the file is of")
    segment = Segment.NSE if exchange is Exchange.NSE else Segment.BSE
    token = token or make_token(zlib.crc32(f"{exchange}:{symbol}".encode()) >> 9, segment)
    return Instrument(
        token=InstrumentToken(token),
        exchange=exchange,
        segment=segment,
        tradingsymbol=symbol,
        name=symbol,
        instrument_type=InstrumentType.EQ,
        underlying=symbol,
        tick_size=Paise(tick),
        lot_size=lot,
    )


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
    _refuse_recorded_days(root, {bar.start.date() for bar in bars})
    return report, write_bar_recording(root, [instrument], bars)


def record_csv_ticks(
    source: Source, instrument: Instrument, root: Path
) -> tuple[ImportReport, int]:
    """The trades of a CSV file (``csv_import.read_ticks``: a ``token`` or ``symbol`` column
    naming ``instrument``) kept as a tick recording under ``root``, with the 1-minute bars built
    from them, as the desk's recorder keeps its feed; the report and the days written.

    Each trade is quoted for what it shows traded: at its bid and ask (at its price on both
    sides when the row has none) for its quantity, so a backtest fills no more than traded
    there. A row of another instrument is reported and skipped. Raises ``CsvImportError`` as
    ``record_csv_candles`` does, and when the recording cannot be written whole."""
    report = ImportReport()
    symbol = instrument.tradingsymbol.upper()
    ticks = [
        _quoted(tick)
        for tick in read_ticks(
            source,
            token_of=lambda name: int(instrument.token) if name.upper() == symbol else None,
            tokens={int(instrument.token)},
            report=report,
        )
    ]
    if not ticks:
        raise CsvImportError(f"no trade could be imported: {report.summary()}")
    days = {ist_date_of(tick.ts_ns).date() for tick in ticks}
    _refuse_recorded_days(root, days)
    recorder = Recorder(root, lambda: [instrument], lossless=True)
    recorder.record(ticks)
    recorder.close()
    if recorder.problem is not None:
        raise CsvImportError(f"the recording under {root} is incomplete: {recorder.problem}")
    return report, len(days)


def _quoted(trade: Tick) -> Tick:
    quantity = trade.last_qty
    return trade._replace(
        bid=trade.bid or trade.ltp, ask=trade.ask or trade.ltp, bid_qty=quantity, ask_qty=quantity
    )


def _refuse_recorded_days(root: Path, days: set[date]) -> None:
    """A recorded day is never overwritten."""
    taken = sorted(day.isoformat() for day in days if (root / day.isoformat()).exists())
    if taken:
        raise CsvImportError(
            f"{root} already records {len(taken)} of the file's days (the first: {taken[0]}): "
            f"import into a new folder"
        )
