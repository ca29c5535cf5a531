"""Recorded market data on disk, and reading it back (``engine.marketdata.recorder`` writes it).

A recording is a folder with one folder per IST trading day::

    <root>/2026-11-23/instruments.parquet   every instrument of the day (token, symbol, expiry,
                                            strike, lot...): what a replay needs to list them
    <root>/2026-11-23/ticks-000001.parquet  ticks in arrival order, one part per flushed batch
    <root>/2026-11-23/bars-000001.parquet   1-minute bars built from those ticks

At a clean stop the parts of a day are folded into ``ticks.parquet`` and ``bars.parquet``, which
say in their metadata the last part they hold (``merged_through``). Part numbers go on from
there, so a desk started again the same day adds parts after the merged file, and its own clean
stop folds them in too. A reader takes the merged file and then the parts not yet in it, in the
order they were recorded; a part the merged file already holds (a desk killed between writing
the merged file and removing its parts) is passed over, never read twice. Every file is written
whole under a temporary name and renamed into place, so a desk that dies loses only its last
unflushed batch and every file present is readable. Option chains are recorded with their
underlying (spot and futures ticks are in the same files, in the order they came).

A folder named like a day that is not a date (``2026-02-30``, a hand-made copy) is skipped and
said by name (``Recording.skipped_folders``), never taken for a day.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core.files import replacing
from engine.domain.bars import Bar
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment
from engine.domain.ticks import Tick
from engine.domain.values import Paise

log = logging.getLogger(__name__)

TICKS, BARS, INSTRUMENTS = "ticks", "bars", "instruments"
_PART = re.compile(r"^(ticks|bars)-(\d{6})\.parquet$", re.ASCII)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
MERGED_THROUGH = b"dalaldesk.merged_through"
"""The metadata key of a merged file: the number of the last part folded into it."""
_WHOLE = frozenset({f"{TICKS}.parquet", f"{BARS}.parquet"})

TICK_SCHEMA = pa.schema(
    [
        ("token", pa.int64()),
        ("ts_ns", pa.int64()),
        ("ltp", pa.int64()),
        ("bid", pa.int64()),
        ("ask", pa.int64()),
        ("bid_qty", pa.int64()),
        ("ask_qty", pa.int64()),
        ("volume", pa.int64()),
        ("oi", pa.int64()),
        ("last_qty", pa.int64()),
        ("close", pa.int64()),
        # Depth as (price, quantity, orders) triples, best first, flattened; each price as its
        # step from the level before (the first level's from the best bid or ask).
        ("bids", pa.list_(pa.int64())),
        ("asks", pa.list_(pa.int64())),
    ]
)
BAR_SCHEMA = pa.schema(
    [
        ("token", pa.int64()),
        ("start_ns", pa.int64()),
        ("open", pa.int64()),
        ("high", pa.int64()),
        ("low", pa.int64()),
        ("close", pa.int64()),
        ("volume", pa.int64()),
        ("oi", pa.int64()),
        ("ticks", pa.int64()),
    ]
)
INSTRUMENT_SCHEMA = pa.schema(
    [
        ("token", pa.int64()),
        ("exchange", pa.string()),
        ("segment", pa.string()),
        ("tradingsymbol", pa.string()),
        ("name", pa.string()),
        ("instrument_type", pa.string()),
        ("underlying", pa.string()),
        ("tick_size", pa.int64()),
        ("lot_size", pa.int64()),
        ("expiry", pa.date32()),
        ("strike", pa.int64()),
        ("freeze_quantity", pa.int64()),
        ("exchange_token", pa.int64()),
    ]
)


class RecordingError(ValueError):
    """A recording that cannot be read: says which file and why."""


def instruments_table(instruments: list[Instrument]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in INSTRUMENT_SCHEMA.names}
    for i in instruments:
        for name in INSTRUMENT_SCHEMA.names:
            value = getattr(i, name)
            columns[name].append(value.value if hasattr(value, "value") else value)
    return pa.table(columns, schema=INSTRUMENT_SCHEMA)


def write_whole(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` all at once: a temporary file flushed to the disk and renamed
    into place (``replacing``), so a power cut never leaves a part or a merged day half written
    after the files it replaces are gone."""
    with replacing(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")


def merged_through(path: Path) -> int:
    """The last part number the merged file ``path`` holds (0: none, or no such file)."""
    if not path.exists():
        return 0
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException) as exc:
        raise RecordingError(f"{path} cannot be read: {exc}") from exc
    text = metadata.get(MERGED_THROUGH, b"0")
    return int(text) if text.isdigit() else 0


def numbered_parts(folder: Path, kind: str) -> list[tuple[int, Path]]:
    """The part files of ``kind`` in ``folder`` with their numbers, in number order."""
    found = ((m, p) for p in folder.iterdir() if (m := _PART.match(p.name)) and m[1] == kind)
    return sorted((int(m[2]), p) for m, p in found)


@dataclass(frozen=True, slots=True)
class RecordedDay:
    day: date
    folder: Path

    def files(self, kind: str) -> list[Path]:
        """The day's files of ``kind`` in recorded order: the merged file, then the parts not
        yet folded into it (those it holds already are passed over)."""
        whole = self.folder / f"{kind}.parquet"
        parts = numbered_parts(self.folder, kind)
        if not whole.exists():
            return [p for _number, p in parts]
        if not parts:
            return [whole]  # the usual day: its metadata need not be read
        through = merged_through(whole)
        return [whole, *(p for number, p in parts if number > through)]

    def instruments(self) -> list[Instrument]:
        table = _read(self.folder / f"{INSTRUMENTS}.parquet")
        out = []
        for row in table.to_pylist():
            out.append(
                Instrument(
                    token=InstrumentToken(row["token"]),
                    exchange=Exchange(row["exchange"]),
                    segment=Segment(row["segment"]),
                    tradingsymbol=row["tradingsymbol"],
                    name=row["name"],
                    instrument_type=InstrumentType(row["instrument_type"]),
                    underlying=row["underlying"],
                    tick_size=Paise(row["tick_size"]),
                    lot_size=row["lot_size"],
                    expiry=row["expiry"],
                    strike=None if row["strike"] is None else Paise(row["strike"]),
                    freeze_quantity=row["freeze_quantity"],
                    exchange_token=row["exchange_token"],
                )
            )
        return out

    def tick_tables(self, batch_rows: int = 50_000) -> Iterator[pa.Table]:
        """The day's ticks in recorded order, a batch of at most ``batch_rows`` at a time (a
        day does not fit in memory as Python objects)."""
        for path in self.files(TICKS):
            try:
                with pq.ParquetFile(path) as file:
                    for batch in file.iter_batches(batch_size=batch_rows):
                        yield pa.Table.from_batches([batch])
            except (OSError, pa.ArrowException) as exc:
                raise RecordingError(f"{path} cannot be read: {exc}") from exc

    def bars(self) -> list[Bar]:
        out: list[Bar] = []
        for path in self.files(BARS):
            # Column by column, in the schema's order, which is the bar's own (the token is its
            # key): a year of minutes reads in a fraction of the time rows as dicts take.
            table = _read(path)
            missing = [name for name in BAR_SCHEMA.names if name not in table.column_names]
            if missing:
                raise RecordingError(f"{path} is not a bar file: no {', '.join(missing)} column")
            table = table.select(BAR_SCHEMA.names)
            empty = [name for name in BAR_SCHEMA.names if table.column(name).null_count]
            if empty:
                raise RecordingError(
                    f"{path} has bars with no {', '.join(empty)}: record the day again, or move "
                    "its folder out of the recording"
                )
            columns = table.to_pydict()
            out.extend(map(Bar, *columns.values()))
        return out

    def tick_count(self) -> int:
        total = 0
        for path in self.files(TICKS):
            try:
                with pq.ParquetFile(path) as file:
                    total += file.metadata.num_rows
            except (OSError, pa.ArrowException) as exc:
                raise RecordingError(f"{path} cannot be read: {exc}") from exc
        return total


class Recording:
    """A recording folder (``<root>``): its days, their instruments, ticks and bars."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise RecordingError(f"no recording at {self.root}: the folder does not exist")
        self._said: set[str] = set()
        """Folders not dates, already logged (each once, however often the days are read)."""

    def days(self, start: date | None = None, end: date | None = None) -> list[RecordedDay]:
        """The recorded days within ``[start, end]`` (either open), oldest first: those with
        their instruments listed (``incomplete_days`` names the others)."""
        return [
            RecordedDay(day, folder)
            for day, folder in self._day_folders(start, end)
            if (folder / f"{INSTRUMENTS}.parquet").exists()
        ]

    def incomplete_days(self, start: date | None = None, end: date | None = None) -> list[Path]:
        """Day folders within ``[start, end]`` holding ticks or bars but no instruments file:
        they cannot be replayed (a recorder stopped before it listed the day's instruments, or
        the file was removed)."""
        return [
            folder
            for _day, folder in self._day_folders(start, end)
            if not (folder / f"{INSTRUMENTS}.parquet").exists()
            and any(_PART.match(p.name) or p.name in _WHOLE for p in folder.iterdir())
        ]

    def skipped_folders(self) -> list[str]:
        """In words, each folder named like a day that is not a date: no day of the recording."""
        return [
            self._not_a_date(folder)
            for folder in sorted(self.root.iterdir())
            if folder.is_dir() and _DAY.match(folder.name) and _day_of(folder.name) is None
        ]

    def _not_a_date(self, folder: Path) -> str:
        return f"folder {folder.name} in recording {self.root} is not a date: skipped"

    def _day_folders(self, start: date | None, end: date | None) -> list[tuple[date, Path]]:
        out = []
        for folder in sorted(self.root.iterdir()):
            if not (folder.is_dir() and _DAY.match(folder.name)):
                continue
            day = _day_of(folder.name)
            if day is None:
                if folder.name not in self._said:
                    self._said.add(folder.name)
                    log.warning("%s", self._not_a_date(folder))
                continue
            if (start is None or day >= start) and (end is None or day <= end):
                out.append((day, folder))
        return out

    def size_bytes(self) -> int:
        """The recorded days' files (not an import's days still being written beside them)."""
        return sum(
            p.stat().st_size
            for _day, folder in self._day_folders(None, None)
            for p in folder.rglob("*.parquet")
        )


def _day_of(name: str) -> date | None:
    """The date a day folder is named for; None when ``YYYY-MM-DD`` is not a real date."""
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def ticks_of(table: pa.Table) -> Iterator[Tick]:
    """The ticks of one recorded table, in recorded order."""
    columns = [table.column(name).to_pylist() for name in TICK_SCHEMA.names[:11]]
    bids = _absolute_depth(table.column("bids"), table.column("bid")).to_pylist()
    asks = _absolute_depth(table.column("asks"), table.column("ask")).to_pylist()
    for row, bid_levels, ask_levels in zip(zip(*columns, strict=True), bids, asks, strict=True):
        token, ts, ltp, bid, ask, bid_qty, ask_qty, volume, oi, last_qty, close = row
        yield Tick(  # type: ignore[call-arg]  # positional, in the tuple's field order
            token,
            ltp,
            bid,
            ask,
            bid_qty,
            ask_qty,
            volume,
            oi,
            ts,
            last_qty,
            _levels(bid_levels),
            _levels(ask_levels),
            close,
        )


def _absolute_depth(column: pa.ChunkedArray, best: pa.ChunkedArray) -> pa.ListArray:
    """Depth prices back from their recorded steps."""
    flat = column.combine_chunks()
    offsets = flat.offsets.to_numpy()
    values = flat.values.to_numpy().copy()
    counts = np.diff(offsets) // 3
    steps = values[0::3]
    starts = offsets[:-1][counts > 0] // 3
    steps[starts] += best.to_numpy()[counts > 0]
    running = np.cumsum(steps)
    before = np.concatenate([[0], running])[offsets[:-1] // 3]
    values[0::3] = running - np.repeat(before, counts)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def _levels(flat: list[int] | None) -> tuple[tuple[int, int, int], ...]:
    if not flat:
        return ()
    return tuple(zip(flat[0::3], flat[1::3], flat[2::3], strict=True))


def _read(path: Path) -> pa.Table:
    try:
        # The file alone, not the dataset API: a third of the time for a day's small files.
        with pq.ParquetFile(path) as file:
            return file.read()
    except (OSError, pa.ArrowException) as exc:
        raise RecordingError(f"{path} cannot be read: {exc}") from exc


def write_bar_recording(root: Path | str, instruments: list[Instrument], bars: list[Bar]) -> int:
    """Bars from elsewhere (a broker's historical candles, a generated series) kept as a
    recording a bar backtest replays: one folder per IST day. Returns the days written."""
    root = Path(root)
    by_day: dict[date, list[Bar]] = {}
    for bar in bars:
        by_day.setdefault(bar.start.date(), []).append(bar)
    listing = instruments_table(instruments)
    for day, day_bars in sorted(by_day.items()):
        folder = root / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        write_whole(listing, folder / f"{INSTRUMENTS}.parquet")
        columns = {n: [getattr(b, n) for b in day_bars] for n in BAR_SCHEMA.names[1:]}
        table = pa.table({"token": [int(b.key) for b in day_bars], **columns}, schema=BAR_SCHEMA)
        write_whole(table, folder / f"{BARS}.parquet")
    return len(by_day)


def listed_instruments(days: list[RecordedDay]) -> list[Instrument]:
    """Every day's listing: contracts listed later in the range (a new weekly expiry) trade too.

    A token must name one contract on every day: in a recording made before the simulated
    market's tokens were made from the contract, one moved to another contract once an expiry
    dropped out, and a replay would trade the wrong contract. Raises ``RecordingError``."""
    by_token: dict[int, tuple[Instrument, RecordedDay]] = {}
    for day in days:
        for instrument in day.instruments():
            first, seen_on = by_token.setdefault(instrument.token, (instrument, day))
            if first.tradingsymbol != instrument.tradingsymbol:
                raise RecordingError(
                    f"the recording names two contracts by one token ({instrument.token}): "
                    f"{first.tradingsymbol} on {seen_on.folder.name} and "
                    f"{instrument.tradingsymbol} on {day.folder.name}. Back test the days "
                    "before and after that expiry apart, or record them again"
                )
    return [instrument for instrument, _day in by_token.values()]
