"""Kite's instruments master (CSV) to domain ``Instrument``s.

Format: kite_xts_apis.md §A.13. A bad row is skipped and reported, never guessed at: a master with
90,000 rows should still load when a handful are malformed, but every skipped row is accounted for.
Kite's master has no freeze-quantity column, so index F&O freeze limits come from our own table
(resources/instruments/freeze_quantities.json, kept current from NSE circulars, §D.2).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO

from engine.domain.freeze import FreezeTable, load_freeze_table, load_index_underlyings
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment
from engine.domain.values import Paise, PriceError, to_paise

KITE_COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)

_DERIVATIVE_TYPES = {"FUT": InstrumentType.FUT, "CE": InstrumentType.CE, "PE": InstrumentType.PE}
_EXCHANGES = {exchange.value: exchange for exchange in Exchange}
_SEGMENTS = {segment.value: segment for segment in Segment}
_DERIVATIVE_EXCHANGES = {Exchange.NFO, Exchange.BFO}
# Old dumps leave `name` empty for derivatives; the underlying then leads the tradingsymbol,
# followed by YY and either a month (DEC) or a weekly month code and day (D01).
_DERIVATIVE_SYMBOL = re.compile(r"^(?P<underlying>[A-Z0-9&\-]+?)\d{2}(?:[A-Z]{3}|[1-9OND]\d{2})")


@dataclass(frozen=True, slots=True)
class LoadResult:
    instruments: list[Instrument]
    errors: list[str] = field(default_factory=list)
    """One "row N: reason" per skipped row; N is the line number in the file (the header is 1)."""


class _RowError(ValueError):
    pass


class _RowParser:
    """Turns one CSV row into an Instrument; caches the few distinct dates and tick sizes."""

    def __init__(self, freeze: FreezeTable, index_underlyings: Mapping[str, str]) -> None:
        self._freeze = freeze
        self._index_underlyings = index_underlyings
        self._dates: dict[str, date] = {}
        self._prices: dict[str, Paise] = {}

    def parse(self, row: list[str]) -> Instrument:
        (
            token_text,
            exchange_token_text,
            tradingsymbol,
            name,
            _last_price,  # stale in the master (§A.13); quotes come from the feed
            expiry_text,
            strike_text,
            tick_text,
            lot_text,
            type_text,
            segment_text,
            exchange_text,
        ) = [cell.strip() for cell in row]

        token = _positive_int(token_text, "instrument_token")
        exchange_token = _positive_int(exchange_token_text, "exchange_token")
        if not tradingsymbol:
            raise _RowError("empty tradingsymbol")
        exchange = _EXCHANGES.get(exchange_text)
        if exchange is None:
            raise _RowError(f"unknown exchange {exchange_text!r}")
        segment = _SEGMENTS.get(segment_text)
        if segment is None:
            raise _RowError(f"unknown segment {segment_text!r}")

        if type_text == "EQ":
            instrument_type = (
                InstrumentType.INDEX if segment is Segment.INDICES else InstrumentType.EQ
            )
        elif type_text in _DERIVATIVE_TYPES:
            instrument_type = _DERIVATIVE_TYPES[type_text]
        else:
            raise _RowError(f"unknown instrument_type {type_text!r}")

        tick_size = self._price(tick_text, "tick_size")
        if tick_size < 0 or (tick_size == 0 and instrument_type is not InstrumentType.INDEX):
            raise _RowError(f"tick_size {tick_text} must be positive")
        lot_size = _non_negative_int(lot_text, "lot_size")

        expiry: date | None = None
        strike: Paise | None = None
        freeze_quantity: int | None = None
        if instrument_type in (InstrumentType.FUT, InstrumentType.CE, InstrumentType.PE):
            if not expiry_text:
                raise _RowError(f"{type_text} without an expiry")
            expiry = self._date(expiry_text)
            underlying = name or _underlying_from_symbol(tradingsymbol)
            if instrument_type is not InstrumentType.FUT:
                strike = self._price(strike_text, "strike")
                if strike <= 0:
                    raise _RowError(f"option strike {strike_text!r} must be positive")
            if exchange in _DERIVATIVE_EXCHANGES:
                freeze_quantity = self._freeze.for_underlying(underlying)
        elif instrument_type is InstrumentType.INDEX:
            underlying = self._index_underlyings.get(tradingsymbol, tradingsymbol)
        else:
            underlying = tradingsymbol

        return Instrument(
            token=InstrumentToken(token),
            exchange=exchange,
            segment=segment,
            tradingsymbol=tradingsymbol,
            name=name,
            instrument_type=instrument_type,
            underlying=underlying,
            tick_size=tick_size,
            lot_size=lot_size,
            expiry=expiry,
            strike=strike,
            freeze_quantity=freeze_quantity,
            exchange_token=exchange_token,
        )

    def _price(self, text: str, column: str) -> Paise:
        cached = self._prices.get(text)
        if cached is not None:
            return cached
        try:
            value = to_paise(text)
        except PriceError as exc:
            raise _RowError(f"{column} {text!r}: {exc}") from None
        self._prices[text] = value
        return value

    def _date(self, text: str) -> date:
        cached = self._dates.get(text)
        if cached is not None:
            return cached
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise _RowError(f"expiry {text!r} is not a YYYY-MM-DD date") from None
        self._dates[text] = value
        return value


def _positive_int(text: str, column: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise _RowError(f"{column} {text!r} is not a positive integer")
    return int(text)


def _non_negative_int(text: str, column: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise _RowError(f"{column} {text!r} is not a non-negative integer")
    return int(text)


def _underlying_from_symbol(tradingsymbol: str) -> str:
    match = _DERIVATIVE_SYMBOL.match(tradingsymbol)
    if match is None:
        raise _RowError(
            f"derivative {tradingsymbol!r} has no name and its underlying "
            "cannot be read from the symbol"
        )
    return match.group("underlying")


def load_kite_instruments(
    source: str | Path | TextIO,
    freeze_table: FreezeTable | Mapping[str, int] | None = None,
) -> LoadResult:
    """Read a Kite instruments CSV.

    ``source`` is a path (``str`` or ``Path``), CSV text (a ``str`` holding a newline, as the REST
    call returns it), or an open text stream. ``freeze_table`` gives freeze quantities for index
    F&O by underlying; None uses the table shipped with DalalDesk, ``{}`` sets none.
    A header that is not Kite's raises ValueError; bad rows are skipped and listed in ``errors``.
    """
    if freeze_table is None:
        freeze = load_freeze_table()
    elif isinstance(freeze_table, FreezeTable):
        freeze = freeze_table
    else:
        freeze = FreezeTable(limits=dict(freeze_table))
    parser = _RowParser(freeze, load_index_underlyings())

    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source):
        with Path(source).open(encoding="utf-8-sig", newline="") as stream:
            return _load(stream, parser)
    if isinstance(source, str):
        return _load(io.StringIO(source), parser)
    return _load(source, parser)


def _load(stream: TextIO, parser: _RowParser) -> LoadResult:
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise ValueError("Kite instruments CSV is empty: expected a header row")
    columns = tuple(cell.strip().lstrip("\ufeff") for cell in header)
    if columns != KITE_COLUMNS:
        raise ValueError(
            f"not a Kite instruments CSV: header is {', '.join(columns)}; "
            f"expected {', '.join(KITE_COLUMNS)}"
        )
    instruments: list[Instrument] = []
    errors: list[str] = []
    first_row_of_token: dict[int, int] = {}
    first_row_of_symbol: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        if len(row) != len(KITE_COLUMNS):
            if not any(cell.strip() for cell in row):
                continue  # a blank line, e.g. at the end of the file
            errors.append(f"row {line}: {len(row)} columns, expected {len(KITE_COLUMNS)}")
            continue
        try:
            instr = parser.parse(row)
        except _RowError as exc:
            errors.append(f"row {line}: {exc}")
            continue
        seen_on = first_row_of_token.setdefault(instr.token, line)
        if seen_on != line:
            errors.append(f"row {line}: instrument_token {instr.token} repeats row {seen_on}")
            continue
        seen_on = first_row_of_symbol.setdefault((instr.exchange, instr.tradingsymbol), line)
        if seen_on != line:
            errors.append(f"row {line}: {instr.key} repeats row {seen_on}")
            continue
        instruments.append(instr)
    return LoadResult(instruments=instruments, errors=errors)
