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


class _RowError(ValueError):
    pass


class _RowParser:
    """One master row to an Instrument; caches the few distinct tick sizes and expiries."""

    def __init__(self) -> None:
        self._prices: dict[str, Paise] = {}
        self._dates: dict[str, date] = {}

    def parse(self, cells: list[str]) -> Instrument:
        columns = len(cells)
        exchange = segment(cells[0].strip()).exchange
        instrument_id = _int(cells[1], "ExchangeInstrumentID", minimum=1)
        if instrument_id >= MAX_INSTRUMENT_ID:
            raise _RowError(f"ExchangeInstrumentID {instrument_id} does not fit in 24 bits")
        name = cells[3].strip()
        description = cells[4].strip()
        tick_size = self._price(cells[11], "TickSize")
        if tick_size <= 0:
            raise _RowError(f"TickSize {cells[11].strip()!r} must be positive")
        lot_size = _int(cells[12], "LotSize", minimum=1)
        freeze = _int(cells[10], "FreezeQty", minimum=0)
        if columns in _EQUITY_COLUMNS:
            if exchange not in _CASH_SEGMENT:
                raise _RowError(f"{columns} columns is a cash row, but the segment is {exchange}")
            series = cells[5].strip().upper()
            return Instrument(
                token=make_token(instrument_id, _CASH_SEGMENT[exchange]),
                exchange=exchange,
                segment=_CASH_SEGMENT[exchange],
                tradingsymbol=name if series in ("EQ", "") else f"{name}-{series}",
                name=cells[18].strip() or name,
                instrument_type=InstrumentType.EQ,
                underlying=name,
                tick_size=tick_size,
                lot_size=lot_size,
                exchange_token=instrument_id,
            )
        if exchange not in _FUT_SEGMENT:
            raise _RowError(f"{columns} columns is a derivative row, but the segment is {exchange}")
        expiry = self._expiry(cells[16])
        strike: Paise | None = None
        if columns == _OPTION_COLUMNS:
            kind = _OPTION_TYPES.get(cells[18].strip())
            if kind is None:
                raise _RowError(f"OptionType {cells[18].strip()!r} is not 3 (CE) or 4 (PE)")
            strike = self._price(cells[17], "StrikePrice")
            if strike <= 0:
                raise _RowError(f"StrikePrice {cells[17].strip()!r} must be positive")
            desk_segment = _OPT_SEGMENT[exchange]
        else:
            kind = InstrumentType.FUT
            desk_segment = _FUT_SEGMENT[exchange]
        if freeze < 2:
            raise _RowError(f"FreezeQty {freeze} leaves no order size (it is the limit plus one)")
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
            tick_size=tick_size,
            lot_size=lot_size,
            expiry=expiry,
            strike=strike,
            freeze_quantity=freeze - 1,
            exchange_token=instrument_id,
        )

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
    skipped = 0
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
        except _RowError as exc:
            errors.append(f"row {number}: {exc}")
            continue
        seen_on = first_row.setdefault(instrument.token, number)
        if seen_on != number:
            errors.append(f"row {number}: {instrument.key} repeats row {seen_on}")
            continue
        instruments.append(instrument)
    return MasterResult(instruments, errors, skipped)


DESK_SEGMENTS = ("NSECM", "NSEFO", "BSECM", "BSEFO")


async def download_master(
    fetch: Callable[[list[str]], Awaitable[str]], segments: Iterable[str] = DESK_SEGMENTS
) -> MasterResult:
    """Fetch the master text (``MarketDataSession.master``) and read it in a worker thread."""
    text = await fetch(list(segments))
    return await asyncio.to_thread(parse_master, text)
