"""The recorder: the desk's feed (live or simulated) kept as Parquet, for replays and backtests.

On the loop a tick costs one ``list.append``: ticks gather in a buffer that is handed, whole, to
a writer thread when it holds ``batch_ticks`` ticks or every ``flush_seconds`` (a timer on the
loop), and at ``close``. The thread turns each batch into columns, builds the 1-minute bars and
writes one part file per day and kind (``engine.marketdata.recording`` has the layout), so no
disk I/O happens on the loop. The queue to the thread is bounded: a disk that cannot keep up
costs whole batches, counted and told (``dropped_ticks``, ``problem``), never a stalled loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from datetime import date
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core.clock import ist_date_of
from engine.core.files import leftover_temporaries, replacing
from engine.domain.bars import Bar
from engine.domain.instruments import Instrument
from engine.domain.ticks import Tick
from engine.marketdata.bars import BarSeries, Timeframe
from engine.marketdata.recording import (
    BAR_SCHEMA,
    BARS,
    INSTRUMENTS,
    MERGED_THROUGH,
    TICK_SCHEMA,
    TICKS,
    RecordedDay,
    Recording,
    instruments_table,
    merged_through,
    numbered_parts,
    write_whole,
)

log = logging.getLogger(__name__)

_IST_OFFSET_NS = 19_800 * 10**9
_DAY_NS = 86_400 * 10**9
_STOP = None


class Recorder:
    """Records every tick handed to ``on_tick`` under ``root`` (one folder per IST day)."""

    def __init__(
        self,
        root: Path | str,
        instruments: Callable[[], Iterable[Instrument]],
        *,
        batch_ticks: int = 100_000,
        flush_seconds: float = 30.0,
        max_batches_waiting: int = 8,
        warn: Callable[[str], None] | None = None,
        lossless: bool = False,
    ) -> None:
        if batch_ticks < 1 or flush_seconds <= 0 or max_batches_waiting < 1:
            raise ValueError("batch_ticks, flush_seconds and max_batches_waiting must be positive")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._instruments = instruments
        self._lossless = lossless
        """Wait for the writer rather than drop a batch (a desk on a simulated clock, which
        owes no one real time)."""
        self._batch_ticks = batch_ticks
        self.flush_seconds = flush_seconds
        self._warn = warn or (lambda text: log.warning("%s", text))
        self._buffer: list[Tick] = []
        self._queue: queue.Queue[list[Tick] | None] = queue.Queue(max_batches_waiting)
        self._bars: dict[int, BarSeries] = {}
        self._days: set[date] = set()
        self._parts: dict[tuple[date, str], int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.recorded_ticks = 0
        """Ticks written to disk so far."""
        self.dropped_ticks = 0
        """Ticks lost because the writer fell behind (whole batches)."""
        self.problem: str | None = None
        """The last write failure, in words; None while all is well."""
        self._thread = threading.Thread(target=self._write_loop, name="recorder", daemon=True)
        self._thread.start()
        self._closed = False

    # -- on the loop ---------------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> None:
        buffer = self._buffer
        buffer.append(tick)
        if len(buffer) >= self._batch_ticks:
            self.flush()

    def record(self, ticks: Iterable[Tick]) -> None:
        """Several ticks at once (the quotes the desk starts from)."""
        for tick in ticks:
            self.on_tick(tick)

    def start_timer(self) -> None:
        """Flush every ``flush_seconds`` on the running loop (a quiet market's ticks too)."""
        loop = asyncio.get_running_loop()

        def due() -> None:
            self.flush()
            self._timer = loop.call_later(self.flush_seconds, due)

        self._timer = loop.call_later(self.flush_seconds, due)

    def flush(self) -> None:
        """Hand the buffered ticks to the writer thread."""
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        if self._lossless:
            self._queue.put(batch)
            return
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self.dropped_ticks += len(batch)
            self._warn(
                f"the recorder fell behind writing to {self.root}: {len(batch)} ticks not "
                f"recorded ({self.dropped_ticks} so far)"
            )

    def close(self, *, merge: bool = True) -> None:
        """Write what is buffered, wait for the writer, and merge each day's parts."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self.flush()
        self._queue.put(_STOP)
        self._thread.join()
        if merge:
            for day in sorted(self._days):
                self._merge(day)

    # -- on the writer thread --------------------------------------------------------------------

    def _write_loop(self) -> None:
        while (batch := self._queue.get()) is not _STOP:
            try:
                self._write(batch)
            except Exception as exc:  # the thread must live on: each failure is told
                log.exception("recording a batch failed")
                self.problem = f"recording to {self.root} failed: {exc}"
                self.dropped_ticks += len(batch)
                self._warn(self.problem)
            else:
                if self.problem is not None:
                    self.problem = None
                    self._warn(
                        f"recording to {self.root} works again; {self.dropped_ticks:,} ticks "
                        "were not recorded meanwhile"
                    )
        closing = self._forming_bars()
        if closing:
            try:
                self._write_bars(closing)
            except (OSError, pa.ArrowException, ValueError) as exc:
                self._warn(f"recording the last bars to {self.root} failed: {exc}")

    def _write(self, batch: list[Tick]) -> None:
        table = ticks_table(batch)
        ts = table.column("ts_ns").to_numpy()
        days = (ts + _IST_OFFSET_NS) // _DAY_NS
        for day_number in np.unique(days):
            rows = np.flatnonzero(days == day_number)
            part = table if len(rows) == len(batch) else table.take(rows)
            day = ist_date_of(int(ts[rows[0]])).date()
            self._start_day(day)
            self._write_part(day, TICKS, part)
        closed = []
        for tick in batch:
            if tick.ltp <= 0:
                continue  # no trade yet: no bar
            series = self._bars.get(tick.token)
            if series is None:
                # Only the forming bar is needed here: closed ones are written at once.
                series = self._bars[tick.token] = BarSeries(tick.token, Timeframe.M1, 1)
            bar = series.add(tick.ts_ns, tick.ltp, tick.volume, tick.oi)
            if bar is not None:
                closed.append(bar)
        if closed:
            self._write_bars(closed)
        self.recorded_ticks += len(batch)

    def _forming_bars(self) -> list[Bar]:
        return [s.forming for s in self._bars.values() if s.forming is not None]

    def _write_bars(self, bars: list[Bar]) -> None:
        columns = {name: [getattr(b, name) for b in bars] for name in BAR_SCHEMA.names[1:]}
        table = pa.table({"token": [int(b.key) for b in bars], **columns}, schema=BAR_SCHEMA)
        starts = table.column("start_ns").to_numpy()
        days = (starts + _IST_OFFSET_NS) // _DAY_NS
        for day_number in np.unique(days):
            rows = np.flatnonzero(days == day_number)
            day = ist_date_of(int(starts[rows[0]])).date()
            self._start_day(day)
            self._write_part(day, BARS, table.take(rows))

    def _start_day(self, day: date) -> None:
        if day in self._days:
            return
        folder = self.root / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        listed = {i.token: i for i in self._instruments()}
        path = folder / f"{INSTRUMENTS}.parquet"
        if path.exists():
            # An earlier session of the day: its ticks name its listing, which may hold
            # contracts this one no longer does (an expiry closed in between). The tokens name
            # one contract for good, so the day keeps both listings.
            try:
                earlier = RecordedDay(day, folder).instruments()
            except (ValueError, KeyError) as exc:  # RecordingError is a ValueError
                self._warn(f"the {day} listing recorded earlier is replaced: {exc}")
            else:
                listed = {i.token: i for i in earlier} | listed
        write_whole(instruments_table(list(listed.values())), path)
        self._days.add(day)

    def _write_part(self, day: date, kind: str, table: pa.Table) -> None:
        folder = self.root / day.isoformat()
        number = self._parts.get((day, kind))
        if number is None:
            # After the parts already there and those a merged file holds (an earlier session
            # of the day): a reader tells the parts still to read by their numbers.
            existing = [n for n, _path in numbered_parts(folder, kind)]
            number = max([*existing, merged_through(folder / f"{kind}.parquet")])
        number += 1
        self._parts[(day, kind)] = number
        write_whole(table, folder / f"{kind}-{number:06d}.parquet")

    def _merge(self, day: date) -> None:
        """Fold the day's parts into one file per kind (after a clean stop): the merged file
        of an earlier session of the day, if any, then the parts after it, written beside it
        and renamed over it; the parts it then holds are removed. A desk killed at any point
        loses nothing and reads nothing twice (``RecordedDay.files``)."""
        [recorded] = Recording(self.root).days(day, day)
        for leftover in leftover_temporaries(recorded.folder):  # a merge killed before its rename
            try:
                leftover.unlink(missing_ok=True)
            except OSError as exc:
                self._warn(f"a leftover file of an earlier merge was not removed: {exc}")
        for kind in (TICKS, BARS):
            whole = recorded.folder / f"{kind}.parquet"
            try:
                files = recorded.files(kind)
                if files and files != [whole]:
                    last = max(n for n, _path in numbered_parts(recorded.folder, kind))
                    _concatenate(files, whole, last)
                through = merged_through(whole)
                for number, path in numbered_parts(recorded.folder, kind):
                    if number <= through:
                        path.unlink(missing_ok=True)
            except (OSError, pa.ArrowException, ValueError) as exc:
                self._warn(f"merging the {kind} of {day} failed (the parts are kept): {exc}")


def _concatenate(files: list[Path], path: Path, last_part: int) -> None:
    """The files, one after another, as one file written under a temporary name, flushed to
    the disk and renamed to ``path`` (one file in memory at a time), holding parts up to
    ``last_part``. The parts are removed only after this returns."""
    schema = pq.read_schema(files[0]).with_metadata({MERGED_THROUGH: str(last_part).encode()})
    with (
        replacing(path) as temporary,
        pq.ParquetWriter(temporary, schema, compression="zstd") as writer,
    ):
        for file in files:
            writer.write_table(pq.read_table(file).replace_schema_metadata(schema.metadata))


def ticks_table(batch: list[Tick]) -> pa.Table:
    """A batch of ticks as columns (depth levels flattened to price, quantity, orders)."""
    (token, ltp, bid, ask, bid_qty, ask_qty, volume, oi, ts, last_qty, bids, asks, close) = zip(
        *batch, strict=True
    )
    return pa.table(
        [
            pa.array(token, pa.int64()),
            pa.array(ts, pa.int64()),
            pa.array(ltp, pa.int64()),
            pa.array(bid, pa.int64()),
            pa.array(ask, pa.int64()),
            pa.array(bid_qty, pa.int64()),
            pa.array(ask_qty, pa.int64()),
            pa.array(volume, pa.int64()),
            pa.array(oi, pa.int64()),
            pa.array(last_qty, pa.int64()),
            pa.array(close, pa.int64()),
            _depth(bids, bid),
            _depth(asks, ask),
        ],
        schema=TICK_SCHEMA,
    )


def _depth(column: tuple[tuple[tuple[int, int, int], ...], ...], best: tuple[int, ...]) -> pa.Array:
    lengths = np.fromiter((3 * len(levels) for levels in column), np.int32, len(column))
    offsets = np.zeros(len(column) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.fromiter(chain.from_iterable(chain.from_iterable(column)), np.int64, offsets[-1])
    # Prices as steps from the level before (the first level's from the best bid or ask): a
    # few distinct small numbers, which compress far better than the prices themselves.
    prices = values[0::3]
    steps = prices - np.roll(prices, 1)
    starts = offsets[:-1][lengths > 0] // 3
    rows = np.flatnonzero(lengths > 0)
    steps[starts] = prices[starts] - np.asarray(best, np.int64)[rows]
    values[0::3] = steps
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
