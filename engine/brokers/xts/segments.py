"""XTS exchange segments in engine terms (kite_xts_apis.md §C.3).

XTS names a segment by a string in interactive calls (``NSEFO``) and by an integer in market-data
calls and events (``2``). The desk trades four of them; the others (currency, commodity, MCX) are
refused by name so that an order can never reach a segment the desk does not understand.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.domain.instruments import Exchange


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    """The string interactive calls use (``NSECM``)."""
    code: int
    """The integer market-data calls and events use (``1``)."""
    exchange: Exchange


SEGMENTS = (
    Segment("NSECM", 1, Exchange.NSE),
    Segment("NSEFO", 2, Exchange.NFO),
    Segment("BSECM", 11, Exchange.BSE),
    Segment("BSEFO", 12, Exchange.BFO),
)

_BY_NAME = {segment.name: segment for segment in SEGMENTS}
_BY_CODE = {segment.code: segment for segment in SEGMENTS}
_BY_EXCHANGE = {segment.exchange: segment for segment in SEGMENTS}


class UnknownSegment(ValueError):
    """A segment the desk does not trade (currency, commodity, ...) or does not know."""


def segment(key: str | int) -> Segment:
    """The segment named by its string (``"NSEFO"``) or its integer (``2``, or ``"2"``)."""
    if isinstance(key, int):
        found = _BY_CODE.get(key)
    elif key.isdigit():
        found = _BY_CODE.get(int(key))
    else:
        found = _BY_NAME.get(key.upper())
    if found is None:
        raise UnknownSegment(
            f"XTS segment {key!r} is not one the desk trades (NSECM, NSEFO, BSECM, BSEFO)"
        )
    return found


def segment_of(exchange: Exchange) -> Segment:
    """The XTS segment an exchange's instruments trade in."""
    return _BY_EXCHANGE[exchange]
