"""Exchange price protection and market protection (nse_market.md §6, kite_xts_apis.md §D.4).

All prices are integer paise. Bands are rounded inwards to the instrument's tick, so a price on
the band's edge is allowed and one tick beyond is not.

- Options LPP: reference ≤ ₹50 → ±₹20, else ±40 % of the reference.
- Futures LPP: index reference ≤ ₹10,000 → ±₹200, else ±2 %; stock reference ≤ ₹50 → ±₹1.50,
  else ±3 %. Plus the operating range around the previous close (10 % by default).
- Cash: the circuit band around the previous close (20 %, the widest, unless told otherwise).

LPP limits only the aggressive side (a BUY above the upper edge, a SELL below the lower edge);
the operating range and the circuit band refuse both sides. The reference is the last traded
price (the exchange uses a 30-second average of trades, which the desk does not see).
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import Side

INDEX_UNDERLYINGS = frozenset(
    {"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "SENSEX", "BANKEX"}
)


class Band(NamedTuple):
    low: int
    high: int
    name: str
    aggressive_only: bool
    """True for LPP: only a BUY above ``high`` or a SELL below ``low`` is refused."""

    def refuses(self, side: Side, price: int) -> bool:
        if self.aggressive_only:
            return price > self.high if side is Side.BUY else price < self.low
        return price > self.high or price < self.low


def _inward(low: float, high: float, tick: int) -> tuple[int, int]:
    low_paise = -int(-low // tick) * tick
    high_paise = int(high // tick) * tick
    return max(low_paise, tick), high_paise


def lpp_band(
    instrument: Instrument, reference: int, index_underlyings: frozenset[str]
) -> Band | None:
    """The limit price protection band around ``reference`` (paise); None where none applies."""
    if reference <= 0:
        return None
    tick = instrument.tick_size
    if instrument.is_option:
        width = 2000 if reference <= 5000 else reference * 0.40
    elif instrument.instrument_type is InstrumentType.FUT:
        if instrument.underlying in index_underlyings:
            width = 20000 if reference <= 1_000_000 else reference * 0.02
        else:
            width = 150 if reference <= 5000 else reference * 0.03
    else:
        return None
    low, high = _inward(reference - width, reference + width, tick)
    return Band(low, high, "price protection (LPP)", aggressive_only=True)


def range_band(
    instrument: Instrument, previous_close: int, futures_pct: Decimal, equity_pct: Decimal
) -> Band | None:
    """Futures operating range or cash circuit band around the previous close."""
    if previous_close <= 0:
        return None
    if instrument.instrument_type is InstrumentType.FUT:
        pct, name = float(futures_pct), "operating range"
    elif instrument.instrument_type is InstrumentType.EQ:
        pct, name = float(equity_pct), "circuit band"
    else:
        return None
    width = previous_close * pct / 100
    low, high = _inward(previous_close - width, previous_close + width, instrument.tick_size)
    return Band(low, high, name, aggressive_only=False)


def protected_price(
    instrument: Instrument, side: Side, reference: int, pct: Decimal, lpp: Band | None
) -> int:
    """The LIMIT price a MARKET order is sent at: ``pct`` beyond the reference, on the tick,
    inside the price protection band, never below one tick."""
    tick = instrument.tick_size
    band = reference * float(pct) / 100
    if side is Side.BUY:
        price = int((reference + band) // tick) * tick
        if lpp is not None:
            price = min(price, lpp.high)
    else:
        price = -int(-(reference - band) // tick) * tick
        if lpp is not None:
            price = max(price, lpp.low)
    return max(price, tick)
