"""Recordings of market data the desk did not receive itself, for backtests: bars from a
broker's history (the broker port's optional history capability: Kite's historical candles,
``engine.brokers.kite.history``) or from a CSV file of candles, and ticks from a CSV file of
trades (``engine.backtest.csv_import``), each kept as a recording
(``engine.marketdata.recording``) that any number of runs replay without asking again."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from engine.backtest.csv_import import (
    CsvImportError,
    ImportReport,
    Source,
    read_candles,
    read_ticks,
)
from engine.core.clock import ist_date_of, ist_day_number
from engine.domain.bars import Bar, Timeframe
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment, make_token
from engine.domain.ticks import Tick
from engine.domain.values import Paise
from engine.marketdata.history import HistorySource, check_range
from engine.marketdata.recorder import Recorder
from engine.marketdata.recording import write_bar_recording
from engine.store.book_lock import BookLock, book_holder, lock_path

log = logging.getLogger(__name__)
_Row = TypeVar("_Row")


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


IMPORT_REPORT_ROWS = 20_000
"""How often, in rows read, a CSV import reports and looks for a cancel."""


def record_csv_candles(
    source: Source,
    instrument: Instrument,
    root: Path,
    *,
    progress: Callable[[int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[ImportReport, int]:
    """The candles of a CSV file kept as a bar recording of ``instrument`` under ``root``, one
    folder per IST day; the report (which counts the rows and says which were skipped and why)
    and the days written. ``progress`` hears the rows read so far, now and then; ``cancelled``
    is asked as often and stops the import with nothing kept. The days are written in a folder
    of their own beside the recorded ones and move into ``root`` once all are written, as
    ``record_csv_ticks`` does: an import stopped at any point (cancelled, Ctrl+C, killed) leaves
    ``root`` as it was.

    Raises ``CsvImportError`` when the file cannot be read or no row could be imported, and
    when ``root`` already records one of the file's days: a recorded day is never overwritten.
    """
    report = ImportReport()
    candles = read_candles(source, key=instrument.token, report=report)
    bars = list(_watched(candles, report, progress, cancelled))
    if not bars:
        raise CsvImportError(f"no candle could be imported: {report.summary()}")
    _refuse_recorded_days(root, {bar.start.date().isoformat() for bar in bars})
    with _staged(root) as staging:
        write_bar_recording(staging, [instrument], bars)
        return report, _move_in(staging, root, _staged_days(staging))


def record_csv_ticks(
    source: Source,
    instrument: Instrument,
    root: Path,
    *,
    progress: Callable[[int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[ImportReport, int]:
    """The trades of a CSV file (``csv_import.read_ticks``: a ``token`` or ``symbol`` column
    naming ``instrument``) kept as a tick recording under ``root``, with the 1-minute bars built
    from them, as the desk's recorder keeps its feed; the report and the days written.

    Each trade is quoted for what it shows traded: at its bid and ask (at its price on both
    sides when the row has none) for its quantity, so a backtest fills no more than traded
    there. A row of another instrument is reported and skipped. The trades stream through the
    recorder into a folder of their own beside the days (memory stays flat however long the
    file), whose days move into ``root`` once all are written: a file that fails, is cancelled
    or would overwrite a recorded day leaves ``root`` as it was. Raises ``CsvImportError`` as
    ``record_csv_candles`` does, and when the recording cannot be written whole."""
    report = ImportReport()
    symbol = instrument.tradingsymbol.upper()
    trades = read_ticks(
        source,
        token_of=lambda name: int(instrument.token) if name.upper() == symbol else None,
        tokens={int(instrument.token)},
        report=report,
    )
    with _staged(root) as staging:
        # Small batches, few waiting: the file is read faster than it is written.
        recorder = Recorder(
            staging, lambda: [instrument], batch_ticks=20_000, max_batches_waiting=2, lossless=True
        )
        day = -1
        try:
            for trade in _watched(trades, report, progress, cancelled):
                if ist_day_number(trade.ts_ns) != day:  # a new day: refused at once if recorded
                    day = ist_day_number(trade.ts_ns)
                    _refuse_recorded_days(root, [ist_date_of(trade.ts_ns).date().isoformat()])
                recorder.on_tick(_quoted(trade))
            recorder.close()
            if recorder.problem is not None:
                raise CsvImportError(
                    f"the recording under {root} is incomplete: {recorder.problem}"
                )
        finally:
            recorder.close(merge=False)  # stopped already, unless the file failed first
        days = _staged_days(staging)
        if not days:
            raise CsvImportError(f"no trade could be imported: {report.summary()}")
        return report, _move_in(staging, root, days)


_STAGING = ".importing-"
"""The hidden folder an import writes its days in before they move into the recording."""
_STAGING_LOCK = "import"
_UNLOCKED_KEPT_S = 3600
"""A staging folder with no lock file yet is its import's first moment (or an older version's
folder): removed only once this old."""


@contextmanager
def _staged(root: Path) -> Iterator[Path]:
    """A hidden folder in ``root`` (created if need be) for an import to write its days in,
    under a lock while the import runs; removed on leaving, with ``root`` itself when it was
    new and nothing moved in. What a killed import leaves is removed by the next one."""
    new_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_imports(root)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING, dir=root))
    held: BookLock | None = None
    try:
        # Held while the import runs: a folder whose lock is free was left by a stopped process.
        held = BookLock.acquire(staging / _STAGING_LOCK)
        yield staging
    finally:
        if held is not None:
            held.release()
        shutil.rmtree(staging, ignore_errors=True)
        if staging.exists():
            log.warning("a folder of a CSV import could not be removed: %s", staging)
        if new_root and not any(root.iterdir()):
            root.rmdir()  # nothing was kept: no empty recording to list


def _staged_days(staging: Path) -> list[str]:
    return sorted(folder.name for folder in staging.iterdir() if folder.is_dir())


def _move_in(staging: Path, root: Path, days: list[str]) -> int:
    """Move the staged ``days`` into ``root``, all or none: refused when one is recorded
    meanwhile (by another import), and those moved go back when the move is interrupted."""
    _refuse_recorded_days(root, days)
    moved: list[str] = []
    try:
        for name in days:
            (staging / name).rename(root / name)
            moved.append(name)
    except BaseException:
        for name in reversed(moved):
            (root / name).rename(staging / name)
        raise
    return len(days)


def _remove_abandoned_imports(root: Path) -> None:
    """Remove the staging folders of imports whose process was killed (their lock is free): no
    day of theirs was acknowledged, and each may hold as much as the file it was importing."""
    for folder in root.glob(f"{_STAGING}*"):
        try:
            if lock_path(folder / _STAGING_LOCK).exists():
                if book_holder(folder / _STAGING_LOCK) is not None:
                    continue  # an import going on now
            elif time.time() - folder.stat().st_mtime < _UNLOCKED_KEPT_S:
                continue
        except OSError as problem:  # removed meanwhile, or not ours to read
            log.info("left %s as it is: %s", folder, problem)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if folder.exists():
            log.warning("a folder of a stopped CSV import could not be removed: %s", folder)
        else:
            log.info("removed %s, left by a CSV import that was stopped", folder)


def _watched(
    rows: Iterator[_Row],
    report: ImportReport,
    progress: Callable[[int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> Iterator[_Row]:
    """``rows`` as they are read, saying how many every ``IMPORT_REPORT_ROWS`` and stopping
    there when cancelled."""
    look_at = IMPORT_REPORT_ROWS
    for row in rows:
        yield row
        if report.rows >= look_at:
            look_at = report.rows + IMPORT_REPORT_ROWS
            if progress is not None:
                progress(report.rows)
            if cancelled is not None and cancelled():
                raise CsvImportError(
                    f"the import was cancelled after {report.rows:,} rows: nothing was kept"
                )


def _quoted(trade: Tick) -> Tick:
    quantity = trade.last_qty
    return trade._replace(
        bid=trade.bid or trade.ltp, ask=trade.ask or trade.ltp, bid_qty=quantity, ask_qty=quantity
    )


def _refuse_recorded_days(root: Path, days: Iterable[str]) -> None:
    """A recorded day (``YYYY-MM-DD``) is never overwritten."""
    taken = sorted(day for day in days if (root / day).exists())
    if len(taken) == 1:
        raise CsvImportError(
            f"{root} already records {taken[0]}, a day of the file: import into a new folder"
        )
    if taken:
        raise CsvImportError(
            f"{root} already records {len(taken)} of the file's days (the first: {taken[0]}): "
            f"import into a new folder"
        )
