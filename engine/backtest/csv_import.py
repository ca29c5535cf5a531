"""Candles and ticks from CSV files, streamed row by row: each malformed row is reported with its
row number and the reason, and skipped; every good row around it is imported.

**Candles** — a header row, then one candle a row::

    timestamp,open,high,low,close,volume[,oi]
    2026-11-23 09:15:00,24310.50,24335.00,24302.10,24330.05,125400,9800

**Ticks** — a header row, then one trade a row; ``token`` (the instrument token) or ``symbol``
(resolved by the caller's lookup)::

    timestamp,token,ltp,qty[,bid,ask]           timestamp,symbol,ltp,qty[,bid,ask]
    2026-11-23 09:15:00.250,256265,24310.50,75  2026-11-23T09:15:00.25+05:30,NIFTY26NOVFUT,...

Rules:

- Columns are separated by commas; a header split by semicolons or tabs alone is refused,
  saying so.
- Column names are matched without regard to case or surrounding spaces (``DateTime``/``ts``
  also name the timestamp; ``vol`` the volume, ``ltq``/``quantity`` the qty, ``ltp`` also
  ``price``/``last``); columns the format does not know are ignored and listed in the report.
- **Separate date and time columns** (as many vendors export them) are joined into the
  timestamp, the date first: ``Date,Time,...`` with ``2026-11-23,09:15:00`` reads as
  ``2026-11-23 09:15:00`` (any date form below; a time may drop its leading zero, ``9:15``).
  A ``Date`` or a ``Time`` column alone is the timestamp. A header that names a column twice
  (``Price`` and ``LTP``; a timestamp and a date or time column) is refused, naming both.
- **Timestamps**: ISO 8601 (``2026-11-23 09:15:00``, ``2026-11-23T09:15:00.250+05:30``, ``...Z``),
  day first with ``-`` or ``/`` (``23-11-2026 09:15``, ``23/11/2026 09:15:00``), compact
  (``20261123 091500``, ``20261123 09:15:00``), a date alone (a day candle, 00:00), or epoch
  seconds / milliseconds / microseconds / nanoseconds (told apart by size). **A time with no zone
  is IST** (Asia/Kolkata); one with an offset or ``Z`` keeps it.
- **Prices** in rupees, exact to the paisa (``24310.50``; a finer price is refused, never rounded).
  Volume, qty and oi are whole numbers >= 0. A candle's high is >= its open, close and low, its
  low <= open and close; prices are > 0. A tick's bid and ask, when present, are >= 0 (0: none).
- Rows must go forward in time (candles: strictly, ticks: per instrument, equal times allowed); a
  row that goes back is reported and skipped. Blank lines are passed over.
- Text is UTF-8 (a BOM is fine); bytes that are not UTF-8 make their row malformed, not the file.

Output: domain ``Bar`` / ``Tick`` values (prices in paise) as an iterator, or a pandas
``DataFrame`` (prices in rupees as floats, timestamps tz-aware IST) with ``*_frame``. The
``ImportReport`` counts rows read, imported and skipped, and keeps the first ``MAX_PROBLEMS``
problems (each row number and reason) — the count goes on beyond that.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from engine.backtest.csv_time import RowError, parse_timestamp
from engine.backtest.csv_values import optional_price, price, whole
from engine.domain.bars import Bar, SeriesKey
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import EMPTY_DEPTH, Tick

if TYPE_CHECKING:
    import pandas as pd

MAX_PROBLEMS = 10_000
"""Problems kept with their row number and reason; more are counted."""

CANDLE_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
TICK_COLUMNS = ("timestamp", "ltp", "qty")

_ALIASES = {
    "datetime": "timestamp",
    "date_time": "timestamp",
    "ts": "timestamp",
    "vol": "volume",
    "open_interest": "oi",
    "ltq": "qty",
    "quantity": "qty",
    "last_qty": "qty",
    "price": "ltp",
    "last": "ltp",
    "last_price": "ltp",
    "instrument_token": "token",
    "tradingsymbol": "symbol",
}

DATE, TIME = "date", "time"
"""A date column and a time column, joined into the timestamp (either alone is the timestamp)."""
_SEPARATORS = {";": "semicolons (;)", "\t": "tabs"}
_UTF16_BOM = "\ufffd\ufffd"
"""A UTF-16 byte order mark (FF FE or FE FF) as the UTF-8 reading sees it."""
HEADER_MAX = 100_000
"""The longest header row read, in characters: a file with no line break is refused unread."""
SHOWN_MAX = 200
"""The most of a header an error echoes, in characters: a file with no line break is one header
row megabytes long, and the message is shown whole."""

Source = str | Path | TextIO


class CsvImportError(ValueError):
    """The file as a whole cannot be read (no such file, no header, a missing column)."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int
    """The row's line number in the file, the header being row 1."""
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    """Data rows read (blank lines not counted)."""
    imported: int = 0
    skipped: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def problem(self, row: int, reason: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(RowProblem(row, reason))

    def summary(self) -> str:
        text = f"{self.imported} of {self.rows} rows imported"
        if self.skipped:
            text += f", {self.skipped} skipped (first: {self.problems[0]})"
        return text


# -- reading ---------------------------------------------------------------------------------------


@contextmanager
def _opened(source: Source) -> Iterator[TextIO]:
    if isinstance(source, str | Path):
        try:
            handle = open(source, encoding="utf-8-sig", errors="replace", newline="")  # noqa: SIM115
        except OSError as problem:
            raise CsvImportError(
                f"{source} cannot be read: {problem.strerror or problem}"
            ) from None
        with handle:
            yield handle
    else:
        yield source


def _names(header: list[str]) -> list[str]:
    """Each column's name as the format knows it (aliases resolved)."""
    return [_ALIASES.get(n, n) for n in (h.strip().lower().lstrip("\ufeff") for h in header)]


def _columns(header: list[str], required: tuple[str, ...], known: set[str]) -> dict[str, int]:
    """Where each column the format knows is: ``timestamp``, or ``date`` and ``time`` to join.
    Refused in words: a required column missing, a column named twice."""
    names = _names(header)

    def written(wanted: set[str]) -> str:
        return _shown(
            ", ".join(h.strip() for h, n in zip(header, names, strict=True) if n in wanted)
        )

    timed = sorted(n for n in names if n in ("timestamp", DATE, TIME))
    if len(timed) > 1 and timed != [DATE, TIME]:
        raise CsvImportError(
            f"the header gives the time of a row more than once ({written(set(timed))}): keep "
            "one timestamp column, or a date and a time column"
        )
    for name in sorted(known - {"timestamp"}):
        if names.count(name) > 1:
            raise CsvImportError(
                f"the header names the {name} more than once ({written({name})}): keep one"
            )
    if timed in ([DATE], [TIME]):
        names = ["timestamp" if n == timed[0] else n for n in names]
    where = {name: index for index, name in enumerate(names)}
    joined = DATE in where and TIME in where
    missing = [n for n in required if n not in where and not (n == "timestamp" and joined)]
    if missing:
        raise CsvImportError(
            f"the header {_shown(', '.join(header))} lacks {', '.join(missing)} "
            f"(a file needs {', '.join(required)})"
        )
    kept = known | ({DATE, TIME} if joined else set())
    return {name: index for name, index in where.items() if name in kept}


def _timestamp(fields: list[str], where: dict[str, int]) -> int:
    """A row's moment: its timestamp, or its date and time joined."""
    if "timestamp" in where:
        return parse_timestamp(_field(fields, where, "timestamp"))
    day, time = _field(fields, where, DATE).strip(), _field(fields, where, TIME).strip()
    if not day or not time:
        raise RowError(f"the {DATE if not day else TIME} is empty")
    if len(time) > 1 and time[1] == ":":
        time = "0" + time  # 9:15 as 09:15
    try:
        return parse_timestamp(f"{day} {time}")
    except RowError:
        raise RowError(
            f"date {day!r} and time {time!r} do not make a timestamp this import reads"
        ) from None


def _rows(reader: Any, report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) per non-blank row; a row csv cannot split is reported."""
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as problem:
            report.rows += 1
            report.problem(reader.line_num, f"not a CSV row ({problem})")
            continue
        if not fields or all(not f.strip() for f in fields):
            continue
        yield reader.line_num, fields


def _ignored(header: list[str], where: dict[str, int]) -> list[str]:
    used = set(where.values())
    return [h for index, h in enumerate(header) if index not in used]


def _field(fields: list[str], where: dict[str, int], name: str) -> str:
    index = where.get(name)
    return "" if index is None or index >= len(fields) else fields[index]


def _header(reader: Any) -> list[str]:
    try:
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                break
        else:
            raise CsvImportError("the file is empty: it needs a header row")
    except csv.Error as problem:
        raise CsvImportError(f"the header row cannot be read ({problem})") from None
    first = fields[0].lstrip()
    if first.startswith(_UTF16_BOM) or "\0" in ",".join(fields):
        raise CsvImportError("the file is UTF-16: save it as UTF-8 (CSV UTF-8 in Excel)")
    if len(fields) == 1:  # no comma: another separator, said rather than a missing column
        for separator, said in _SEPARATORS.items():
            if separator in fields[0]:
                raise CsvImportError(
                    f"the header {_shown(fields[0].strip())!r} is separated by {said}, not "
                    "commas: save the file as comma-separated values"
                )
    return fields


def _shown(text: str) -> str:
    """``text`` from the file as an error echoes it: cut at ``SHOWN_MAX`` characters."""
    return text if len(text) <= SHOWN_MAX else f"{text[:SHOWN_MAX]}…"


CANDLES, TRADES = "candles", "trades"


def file_kind(source: str | Path) -> str:
    """Whether a file's header is of candles (``CANDLES``: an open column) or of trades
    (``TRADES``: a price column); ``CsvImportError`` in words when it is neither."""
    with _opened(source) as handle:
        start = handle.read(HEADER_MAX)
        if len(start) == HEADER_MAX and not any(end in start for end in "\r\n"):
            raise CsvImportError(
                f"the file's first {HEADER_MAX:,} characters hold no line break: it is not a "
                f"CSV of candles or trades ({_shown(start)!r})"
            )
        handle.seek(0)
        header = _header(csv.reader(handle))
    names = set(_names(header))
    if "open" in names:
        return CANDLES
    if "ltp" in names:
        return TRADES
    raise CsvImportError(
        f"the header {_shown(', '.join(header))} is neither of candles "
        f"({', '.join(CANDLE_COLUMNS)}) nor of trades ({', '.join(TICK_COLUMNS)}, and a symbol)"
    )


def read_candles(
    source: Source, *, key: SeriesKey = 0, report: ImportReport | None = None
) -> Iterator[Bar]:
    """Candles of one series, oldest first, as ``Bar`` values (paise)."""
    report = report if report is not None else ImportReport()
    with _opened(source) as handle:
        reader = csv.reader(handle)
        header = _header(reader)
        known = {*CANDLE_COLUMNS, "oi"}
        where = _columns(header, CANDLE_COLUMNS, known)
        report.ignored_columns = _ignored(header, where)
        width = len(header)
        last = None
        for line, fields in _rows(reader, report):
            report.rows += 1
            try:
                if len(fields) != width:
                    raise RowError(f"{len(fields)} fields where the header has {width}")
                bar = _candle(fields, where, key)
                if last is not None and bar.start_ns <= last:
                    raise RowError("its time is not after the previous candle's")
            except RowError as problem:
                report.problem(line, str(problem))
                continue
            last = bar.start_ns
            report.imported += 1
            yield bar


def _candle(fields: list[str], where: dict[str, int], key: SeriesKey) -> Bar:
    start = _timestamp(fields, where)
    o, h, low, c = (price(_field(fields, where, n), n) for n in ("open", "high", "low", "close"))
    if h < max(o, c, low):
        raise RowError("high is below the open, the close or the low")
    if low > min(o, c):
        raise RowError("low is above the open or the close")
    volume = whole(_field(fields, where, "volume"), "volume")
    oi = whole(_field(fields, where, "oi"), "oi")
    return Bar(key, start, o, h, low, c, volume, oi)


def read_ticks(
    source: Source,
    *,
    token_of: Callable[[str], int | None] | None = None,
    tokens: Container[int] | None = None,
    report: ImportReport | None = None,
) -> Iterator[Tick]:
    """Ticks in file order as ``Tick`` values (paise); ``token_of`` resolves a ``symbol`` column
    (None for an unknown symbol: that row is reported); a row of an instrument not in ``tokens``
    (when given) is reported. Volume is the running sum of qty."""
    report = report if report is not None else ImportReport()
    with _opened(source) as handle:
        reader = csv.reader(handle)
        header = _header(reader)
        known = {*TICK_COLUMNS, "token", "symbol", "bid", "ask"}
        where = _columns(header, TICK_COLUMNS, known)
        if "token" not in where and "symbol" not in where:
            raise CsvImportError("the header names neither a token nor a symbol column")
        if "token" not in where and token_of is None:
            raise CsvImportError("a symbol column needs a lookup from symbol to token")
        report.ignored_columns = _ignored(header, where)
        width = len(header)
        volume: dict[int, int] = {}
        last: dict[int, int] = {}
        for line, fields in _rows(reader, report):
            report.rows += 1
            try:
                if len(fields) != width:
                    raise RowError(f"{len(fields)} fields where the header has {width}")
                tick = _tick(fields, where, token_of, volume)
                if tokens is not None and tick.token not in tokens:
                    raise RowError(f"instrument {tick.token} is not one of those imported")
                if tick.ts_ns < last.get(tick.token, tick.ts_ns):
                    raise RowError("its time is before the previous tick of the instrument")
            except RowError as problem:
                report.problem(line, str(problem))
                continue
            last[tick.token] = tick.ts_ns
            volume[tick.token] = tick.volume
            report.imported += 1
            yield tick


def _tick(
    fields: list[str],
    where: dict[str, int],
    token_of: Callable[[str], int | None] | None,
    volume: dict[int, int],
) -> Tick:
    ts = _timestamp(fields, where)
    if "token" in where:
        raw = _field(fields, where, "token").strip()
        if not raw.isdigit() or int(raw) <= 0:
            raise RowError(f"token {raw!r} is not an instrument token")
        token = int(raw)
    else:
        symbol = _field(fields, where, "symbol").strip()
        if not symbol:
            raise RowError("the symbol is empty")
        assert token_of is not None
        found = token_of(symbol)
        if found is None:
            raise RowError(f"no instrument {symbol!r}")
        token = found
    ltp = price(_field(fields, where, "ltp"), "ltp")
    qty = whole(_field(fields, where, "qty"), "qty")
    bid = optional_price(_field(fields, where, "bid"), "bid")
    ask = optional_price(_field(fields, where, "ask"), "ask")
    if bid and ask and bid > ask:
        raise RowError("the bid is above the ask")
    return Tick._make(
        # token, ltp, bid, ask, bid_qty, ask_qty, volume, oi, ts_ns, last_qty, bids, asks, close
        (
            InstrumentToken(token),
            *(ltp, bid, ask, 0, 0, volume.get(token, 0) + qty, 0, ts, qty),
            *(EMPTY_DEPTH, EMPTY_DEPTH, 0),
        )
    )


# -- frames ----------------------------------------------------------------------------------------


def candles_frame(source: Source, *, key: SeriesKey = 0) -> tuple[pd.DataFrame, ImportReport]:
    """The candles as a DataFrame indexed by IST time (open/high/low/close in rupees)."""
    import pandas as pd

    report = ImportReport()
    bars = list(read_candles(source, key=key, report=report))
    frame = pd.DataFrame(
        {
            "open": [b.open / 100 for b in bars],
            "high": [b.high / 100 for b in bars],
            "low": [b.low / 100 for b in bars],
            "close": [b.close / 100 for b in bars],
            "volume": [b.volume for b in bars],
            "oi": [b.oi for b in bars],
        },
        index=pd.DatetimeIndex(
            pd.to_datetime([b.start_ns for b in bars], unit="ns", utc=True), name="timestamp"
        ).tz_convert("Asia/Kolkata"),
    )
    return frame, report


def ticks_frame(
    source: Source, *, token_of: Callable[[str], int | None] | None = None
) -> tuple[pd.DataFrame, ImportReport]:
    """The ticks as a DataFrame (one row a tick, IST times, prices in rupees)."""
    import pandas as pd

    report = ImportReport()
    ticks = list(read_ticks(source, token_of=token_of, report=report))
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime([t.ts_ns for t in ticks], unit="ns", utc=True).tz_convert(
                "Asia/Kolkata"
            ),
            "token": [int(t.token) for t in ticks],
            "ltp": [t.ltp / 100 for t in ticks],
            "qty": [t.last_qty for t in ticks],
            "bid": [t.bid / 100 for t in ticks],
            "ask": [t.ask / 100 for t in ticks],
            "volume": [t.volume for t in ticks],
        }
    )
    return frame, report


def text_source(text: str) -> TextIO:
    """A CSV held in a string, for ``read_*`` (tests, a paste)."""
    return io.StringIO(text, newline="")
