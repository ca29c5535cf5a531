"""Instruments: what can be quoted and traded, with the contract facts an OMS must enforce."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
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
    listed: bool = True
    """False for a stand-in (``unlisted``): a contract the book holds that the day's listing no
    longer has, known by its token alone."""

    @property
    def tradable(self) -> bool:
        return self.listed and self.instrument_type is not InstrumentType.INDEX

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

    def expired_at(
        self, now: datetime, expiry_close: Callable[[date], datetime]
    ) -> datetime | None:
        """The moment the contract expired if it has by ``now``, else None. A contract trades
        until its expiry day's F&O close (``expiry_close``: the market calendar's, 15:30 or 15:40
        by the date), not until midnight: on a market kept open all evening it must stop then."""
        if self.expiry is None:
            return None
        close = expiry_close(self.expiry)
        return close if now >= close else None

    def expired_text(self, close: datetime) -> str:
        """Why an order on the contract is refused once it expired at ``close``."""
        return f"{self.tradingsymbol} expired at {close:%H:%M} on {close.day} {close:%b %Y}"

    def max_order_quantity(self) -> int | None:
        """Largest lot multiple not above the freeze quantity (NIFTY 65 x 27 = 1,755)."""
        if self.freeze_quantity is None:
            return None
        return (self.freeze_quantity // self.lot_size) * self.lot_size

    def __str__(self) -> str:
        if self.strike is not None:
            return f"{self.tradingsymbol} ({self.underlying} {self.expiry} {to_rupees(self.strike)} {self.instrument_type})"
        return self.tradingsymbol


_EXCHANGE_OF_CODE = {
    1: (Exchange.NSE, Segment.NSE, InstrumentType.EQ),
    2: (Exchange.NFO, Segment.NFO_FUT, InstrumentType.FUT),
    4: (Exchange.BSE, Segment.BSE, InstrumentType.EQ),
    5: (Exchange.BFO, Segment.BFO_FUT, InstrumentType.FUT),
    9: (Exchange.NSE, Segment.INDICES, InstrumentType.INDEX),
}


def unlisted(token: InstrumentToken) -> Instrument:
    """A stand-in for a contract the book holds (its journal's orders and fills name the token)
    that the instruments listed today no longer have: an expired contract, a symbol the broker
    dropped. The journal keeps only the token, so that is what it shows; the exchange comes from
    the token's segment code where it reads (a derivative's kind does not: it stands as FUT).
    It is not ``tradable`` and never in the registry: callers that price, hedge or margin a
    position skip it and say so."""
    exchange, segment, kind = _EXCHANGE_OF_CODE.get(
        token & 0xFF, (Exchange.NSE, Segment.NSE, InstrumentType.EQ)
    )
    return Instrument(
        token=token,
        exchange=exchange,
        segment=segment,
        tradingsymbol=f"{token} (no longer listed)",
        name="no longer listed",
        instrument_type=kind,
        underlying="",
        tick_size=Paise(5),
        lot_size=1,
        exchange_token=token >> 8,
        listed=False,
    )
