"""Instruments: what can be quoted and traded, with the contract facts an OMS must enforce."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from engine.domain.ids import InstrumentToken
from engine.domain.values import Paise, to_rupees


class Exchange(StrEnum):
    NSE = "NSE"
    NFO = "NFO"
    BSE = "BSE"
    BFO = "BFO"


class InstrumentType(StrEnum):
    EQ = "EQ"
    FUT = "FUT"
    CE = "CE"
    PE = "PE"
    INDEX = "INDEX"
    """An index: quoted, never traded (Kite lists these as EQ in segment INDICES)."""


class Segment(StrEnum):
    """Kite's segment names, which also decide the charge schedule."""

    NSE = "NSE"
    BSE = "BSE"
    NFO_FUT = "NFO-FUT"
    NFO_OPT = "NFO-OPT"
    BFO_FUT = "BFO-FUT"
    BFO_OPT = "BFO-OPT"
    INDICES = "INDICES"


# Kite segment codes: the low byte of an instrument token (kite_xts_apis.md §B.5).
SEGMENT_CODES = {
    Segment.NSE: 1,
    Segment.NFO_FUT: 2,
    Segment.NFO_OPT: 2,
    Segment.BSE: 4,
    Segment.BFO_FUT: 5,
    Segment.BFO_OPT: 5,
    Segment.INDICES: 9,
}


def make_token(exchange_token: int, segment: Segment) -> InstrumentToken:
    return InstrumentToken((exchange_token << 8) | SEGMENT_CODES[segment])


@dataclass(frozen=True, slots=True)
class Instrument:
    token: InstrumentToken
    exchange: Exchange
    segment: Segment
    tradingsymbol: str
    name: str
    instrument_type: InstrumentType
    underlying: str
    """The underlying's symbol (``NIFTY``, ``RELIANCE``); the symbol itself for cash and indices."""
    tick_size: Paise
    lot_size: int
    expiry: date | None = None
    strike: Paise | None = None
    freeze_quantity: int | None = None
    """Largest quantity the exchange accepts in one order (inclusive); None where none applies."""
    exchange_token: int = 0

    @property
    def tradable(self) -> bool:
        return self.instrument_type is not InstrumentType.INDEX

    @property
    def is_option(self) -> bool:
        return self.instrument_type in (InstrumentType.CE, InstrumentType.PE)

    @property
    def is_derivative(self) -> bool:
        return self.instrument_type in (InstrumentType.FUT, InstrumentType.CE, InstrumentType.PE)

    @property
    def key(self) -> str:
        """``EXCHANGE:TRADINGSYMBOL``, the way Kite names an instrument in quote calls."""
        return f"{self.exchange}:{self.tradingsymbol}"

    def is_expired(self, on: date) -> bool:
        return self.expiry is not None and on > self.expiry

    def max_order_quantity(self) -> int | None:
        """Largest lot multiple not above the freeze quantity (NIFTY 65 x 27 = 1,755)."""
        if self.freeze_quantity is None:
            return None
        return (self.freeze_quantity // self.lot_size) * self.lot_size

    def __str__(self) -> str:
        if self.strike is not None:
            return f"{self.tradingsymbol} ({self.underlying} {self.expiry} {to_rupees(self.strike)} {self.instrument_type})"
        return self.tradingsymbol
