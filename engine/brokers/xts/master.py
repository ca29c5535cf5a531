"""XTS's instrument master (the pipe format of kite_xts_apis.md §C.10) to domain ``Instrument``s,
and the one mapping between an XTS instrument and the desk's ``InstrumentToken``.

Tokens: XTS names an instrument by (exchange segment, ``ExchangeInstrumentID``); the id is the
exchange's own token, unique only inside its segment. The desk's token is built exactly as Kite
builds its ``instrument_token``: ``ExchangeInstrumentID << 8 | code``, with the code of the desk's
exchange (1 NSE, 2 NFO, 4 BSE, 5 BFO; ``engine.domain.instruments.make_token``). The low byte keeps
segments apart, so two segments can never collide, and an NSE or NFO contract gets the same token
through XTS as through Kite (Kite's token is NSE's exchange token shifted the same way), so the
registry, charts and positions see one instrument whichever broker streams it. Ids of 2**24 and
above do not fit and are refused.

Master rows: ``|``-separated, no header, one instrument a line; the schema is chosen by column
count (19 or 22 cash, 21 futures, 23 options). ``FreezeQty`` is the exchange limit **plus one**
(an order must stay below it), so the desk's inclusive ``freeze_quantity`` is ``FreezeQty - 1``;
it is kept for derivatives, as the Kite master's loader does. ``ContractExpiration`` is an ISO
date-time in IST; its date is the expiry. ``OptionType`` 3 is CE and 4 PE. A bad row is skipped
and reported with its line number; one bad row never aborts the whole master.

A full master (about 100,000 rows) takes most of a second to read, so ``download_master`` reads it
in a worker thread, off the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from engine.brokers.xts.segments import UnknownSegment, segment, segment_of
from engine.domain.freeze import load_index_underlyings
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import (
    SEGMENT_CODES,
    Exchange,
    Instrument,
    InstrumentType,
    Segment,
    make_token,
)
from engine.domain.values import Paise, PriceError, to_paise

MAX_INSTRUMENT_ID = 1 << 24

_CASH_SEGMENT = {Exchange.NSE: Segment.NSE, Exchange.BSE: Segment.BSE}
_FUT_SEGMENT = {Exchange.NFO: Segment.NFO_FUT, Exchange.BFO: Segment.BFO_FUT}
_OPT_SEGMENT = {Exchange.NFO: Segment.NFO_OPT, Exchange.BFO: Segment.BFO_OPT}
_EXCHANGE_CODES = {
    Exchange.NSE: SEGMENT_CODES[Segment.NSE],
    Exchange.NFO: SEGMENT_CODES[Segment.NFO_FUT],
    Exchange.BSE: SEGMENT_CODES[Segment.BSE],
    Exchange.BFO: SEGMENT_CODES[Segment.BFO_FUT],
}
_CODE_TO_EXCHANGE = {code: exchange for exchange, code in _EXCHANGE_CODES.items()}
_OPTION_TYPES = {"3": InstrumentType.CE, "4": InstrumentType.PE}
# InstrumentType codes (kite_xts_apis.md §C.3); the column decides, not the column count alone.
_FUTURE, _OPTION, _SPREAD, _EQUITY, _SPOT = "1", "2", "4", "8", "16"
_EQUITY_COLUMNS = (19, 22)
_FUTURE_COLUMNS = 21
_OPTION_COLUMNS = 23


def token_of(segment_code: int, instrument_id: int) -> InstrumentToken:
    """The desk's token of XTS instrument (``ExchangeSegment`` int, ``ExchangeInstrumentID``).

    Raises ``UnknownSegment`` for a segment the desk does not trade and ``ValueError`` for an id
    that does not fit in 24 bits.
    """
    exchange = segment(segment_code).exchange
    if not 0 < instrument_id < MAX_INSTRUMENT_ID:
        raise ValueError(f"XTS instrument id {instrument_id} is outside 1..{MAX_INSTRUMENT_ID - 1}")
    return InstrumentToken(instrument_id << 8 | _EXCHANGE_CODES[exchange])


def xts_instrument(token: int) -> tuple[int, int]:
    """(``ExchangeSegment`` int, ``ExchangeInstrumentID``) of a desk token; the inverse of
    ``token_of``. Raises ``UnknownSegment`` for a token of another exchange (MCX, CDS, ...)."""
    exchange = _CODE_TO_EXCHANGE.get(token & 0xFF)
    if exchange is None or token >> 8 <= 0:
        raise UnknownSegment(f"token {token} is not an instrument of a segment XTS streams")
    return segment_of(exchange).code, token >> 8


@dataclass(frozen=True, slots=True)
class MasterResult:
    instruments: list[Instrument]
    errors: list[str] = field(default_factory=list)
    """One "row N: reason" per skipped row; N counts the master's lines from 1."""
    skipped_segments: int = 0
    """Rows of segments the desk does not trade (currency, commodity): left out, not errors."""
    skipped_spreads: int = 0
    """Calendar-spread rows (InstrumentType 4): the desk trades legs, not exchange spreads."""


class _RowError(ValueError):
    pass


class _Skipped(Exception):
    """A row of a kind the desk does not list (a calendar spread); counted, not an error."""


def index_instrument(
    segment_code: int, instrument_id: int, name: str, underlyings: dict[str, str]
) -> Instrument:
    """An index XTS streams in a cash segment (NIFTY 50 is NSECM 26000): quoted, never traded.

    Its token is ``token_of`` of its cash segment, since that is how its events arrive; the
    desk's segment is INDICES, as for Kite's indices, and its underlying the derivatives' symbol
    (``NIFTY 50`` → ``NIFTY``)."""
    return Instrument(
        token=token_of(segment_code, instrument_id),
        exchange=segment(segment_code).exchange,
        segment=Segment.INDICES,
        tradingsymbol=name,
        name=name,
        instrument_type=InstrumentType.INDEX,
        underlying=underlyings.get(name, name),
        tick_size=Paise(0),
        lot_size=0,
        exchange_token=instrument_id,
    )


class _RowParser:
    """One master row to an Instrument; caches the few distinct tick sizes and expiries."""

    def __init__(self) -> None:
        self._prices: dict[str, Paise] = {}
        self._dates: dict[str, date] = {}
        self._index_underlyings = load_index_underlyings()

    def parse(self, cells: list[str]) -> Instrument:
        columns = len(cells)
        seg = segment(cells[0].strip())
        exchange = seg.exchange
        instrument_id = _int(cells[1], "ExchangeInstrumentID", minimum=1)
        if instrument_id >= MAX_INSTRUMENT_ID:
            raise _RowError(f"ExchangeInstrumentID {instrument_id} does not fit in 24 bits")
        kind_code = cells[2].strip()
        name = cells[3].strip()
        if columns in _EQUITY_COLUMNS:
            if exchange not in _CASH_SEGMENT:
                raise _RowError(f"{columns} columns is a cash row, but the segment is {exchange}")
            series = cells[5].strip().upper()
            if kind_code == _SPOT or series == "SPOT":
                return index_instrument(seg.code, instrument_id, name, self._index_underlyings)
            if kind_code != _EQUITY:
                raise _RowError(f"InstrumentType {kind_code!r} in a cash row is not 8 (equity)")
            return Instrument(
                token=make_token(instrument_id, _CASH_SEGMENT[exchange]),
                exchange=exchange,
                segment=_CASH_SEGMENT[exchange],
                tradingsymbol=name if series in ("EQ", "") else f"{name}-{series}",
                name=cells[18].strip() or name,
                instrument_type=InstrumentType.EQ,
                underlying=name,
                tick_size=self._tick(cells[11]),
                lot_size=_int(cells[12], "LotSize", minimum=1),
                exchange_token=instrument_id,
            )
        if exchange not in _FUT_SEGMENT:
            raise _RowError(f"{columns} columns is a derivative row, but the segment is {exchange}")
        if kind_code == _SPREAD:
            raise _Skipped("a calendar spread")
        strike: Paise | None = None
        if kind_code == _OPTION:
            if columns != _OPTION_COLUMNS:
                raise _RowError(f"an option row needs {_OPTION_COLUMNS} columns, not {columns}")
            kind = _OPTION_TYPES.get(cells[18].strip())
            if kind is None:
                raise _RowError(f"OptionType {cells[18].strip()!r} is not 3 (CE) or 4 (PE)")
            strike = self._price(cells[17], "StrikePrice")
            if strike <= 0:
                raise _RowError(f"StrikePrice {cells[17].strip()!r} must be positive")
            desk_segment = _OPT_SEGMENT[exchange]
        elif kind_code == _FUTURE:  # 21 columns, or 23 with an empty strike (seen both ways)
            kind = InstrumentType.FUT
            desk_segment = _FUT_SEGMENT[exchange]
        else:
            raise _RowError(f"InstrumentType {kind_code!r} is not 1 (future), 2 (option) or 4")
        freeze = _int(cells[10], "FreezeQty", minimum=0)
        if freeze < 2:
            raise _RowError(f"FreezeQty {freeze} leaves no order size (it is the limit plus one)")
        description = cells[4].strip()
        if not name or not description:
            raise _RowError("a derivative needs its Name and Description")
        return Instrument(
            token=make_token(instrument_id, desk_segment),
            exchange=exchange,
            segment=desk_segment,
            tradingsymbol=description,
            name=name,
            instrument_type=kind,
            underlying=name,
            tick_size=self._tick(cells[11]),
            lot_size=_int(cells[12], "LotSize", minimum=1),
            expiry=self._expiry(cells[16]),
            strike=strike,
            freeze_quantity=freeze - 1,
            exchange_token=instrument_id,
        )

    def _tick(self, text: str) -> Paise:
        tick_size = self._price(text, "TickSize")
        if tick_size <= 0:
            raise _RowError(f"TickSize {text.strip()!r} must be positive")
        return tick_size

    def _price(self, text: str, column: str) -> Paise:
        cached = self._prices.get(text)
        if cached is None:
            try:
                cached = to_paise(text.strip())
            except PriceError as exc:
                raise _RowError(f"{column} {text.strip()!r}: {exc}") from None
            self._prices[text] = cached
        return cached

    def _expiry(self, text: str) -> date:
        cached = self._dates.get(text)
        if cached is None:
            day = text.strip()[:10]
            try:
                cached = date.fromisoformat(day)
            except ValueError:
                raise _RowError(
                    f"ContractExpiration {text.strip()!r} is not an ISO date-time"
                ) from None
            self._dates[text] = cached
        return cached


def _int(text: str, column: str, *, minimum: int) -> int:
    value = text.strip()
    if value.startswith("-") and value[1:].isdigit():
        number = -int(value[1:])
    elif value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise _RowError(f"{column} {value!r} is not a whole number")
    if number < minimum:
        raise _RowError(f"{column} {number} is below {minimum}")
    return number


def parse_master(text: str | Iterable[str]) -> MasterResult:
    """Read the ``result`` string of ``POST /apimarketdata/instruments/master`` (or its lines).

    Rows of segments the desk does not trade are counted in ``skipped_segments``; malformed rows
    are listed in ``errors``; a repeated (segment, id) keeps the first row and reports the other.
    """
    lines = text.split("\n") if isinstance(text, str) else text
    parser = _RowParser()
    instruments: list[Instrument] = []
    errors: list[str] = []
    skipped = spreads = 0
    first_row: dict[int, int] = {}
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        cells = line.split("|")
        if len(cells) not in (*_EQUITY_COLUMNS, _FUTURE_COLUMNS, _OPTION_COLUMNS):
            errors.append(f"row {number}: {len(cells)} columns, expected 19, 21, 22 or 23")
            continue
        try:
            instrument = parser.parse(cells)
        except UnknownSegment:
            skipped += 1
            continue
        except _Skipped:
            spreads += 1
            continue
        except _RowError as exc:
            errors.append(f"row {number}: {exc}")
            continue
        seen_on = first_row.setdefault(instrument.token, number)
        if seen_on != number:
            errors.append(f"row {number}: {instrument.key} repeats row {seen_on}")
            continue
        instruments.append(instrument)
    return MasterResult(instruments, errors, skipped, spreads)


DESK_SEGMENTS = ("NSECM", "NSEFO", "BSECM", "BSEFO")


async def download_master(
    fetch: Callable[[list[str]], Awaitable[str]], segments: Iterable[str] = DESK_SEGMENTS
) -> MasterResult:
    """Fetch the master text (``MarketDataSession.master``) and read it in a worker thread."""
    text = await fetch(list(segments))
    return await asyncio.to_thread(parse_master, text)


def parse_index_list(result: object, segment_code: int) -> MasterResult:
    """The indices of ``GET /apimarketdata/instruments/indexlist?exchangeSegment=N``:
    ``result.indexList`` holds ``"NAME_ID"`` strings (``"NIFTY 50_26000"``); each becomes an
    INDEX instrument (``index_instrument``). Entries that cannot be read are listed in
    ``errors``."""
    entries = result.get("indexList") if isinstance(result, dict) else None
    if not isinstance(entries, list):
        raise ValueError("an XTS index list needs result.indexList, a list of NAME_ID strings")
    underlyings = load_index_underlyings()
    instruments: list[Instrument] = []
    errors: list[str] = []
    for number, entry in enumerate(entries, start=1):
        name, _, id_text = str(entry).rpartition("_")
        if not name or not id_text.isdigit() or not 0 < int(id_text) < MAX_INSTRUMENT_ID:
            errors.append(f"entry {number}: {str(entry)[:60]!r} is not NAME_ID")
            continue
        instruments.append(index_instrument(segment_code, int(id_text), name, underlyings))
    return MasterResult(instruments, errors)
