"""An encoder for KiteTicker binary frames, written from the layout tables (kite_xts_apis.md §B.4).

It is independent of the parser in ``engine.brokers.kite.ticker`` so that each checks the other:
the fake server and the benchmark build their frames with it, and the tests re-encode the official
mock packets and compare bytes.

All values are wire integers: prices already multiplied by the segment divisor (paise for NSE/NFO),
timestamps in Unix seconds.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

INDICES_SEGMENT = 9

Level = tuple[int, int, int]
"""(quantity, price, orders) as on the wire."""

EMPTY_LEVELS: tuple[Level, ...] = ((0, 0, 0),) * 5


@dataclass
class MarketState:
    """Everything a full packet says about one instrument, as wire integers."""

    token: int
    last_price: int
    last_quantity: int = 0
    average_price: int = 0
    volume: int = 0
    buy_quantity: int = 0
    sell_quantity: int = 0
    open: int = 0
    high: int = 0
    low: int = 0
    close: int = 0
    last_trade_time: int = 0
    oi: int = 0
    oi_day_high: int = 0
    oi_day_low: int = 0
    timestamp: int = 0
    bids: Sequence[Level] = field(default=EMPTY_LEVELS)
    asks: Sequence[Level] = field(default=EMPTY_LEVELS)
    change: int = 0
    """Only index packets carry it (the official clients recompute it)."""

    @property
    def is_index(self) -> bool:
        return self.token & 0xFF == INDICES_SEGMENT


def ltp_packet(state: MarketState) -> bytes:
    return struct.pack(">II", state.token, state.last_price)


def index_packet(state: MarketState, *, full: bool) -> bytes:
    body = struct.pack(
        ">7I",
        state.token,
        state.last_price,
        state.high,
        state.low,
        state.open,
        state.close,
        state.change,
    )
    return body + struct.pack(">I", state.timestamp) if full else body


def quote_packet(state: MarketState) -> bytes:
    return struct.pack(
        ">11I",
        state.token,
        state.last_price,
        state.last_quantity,
        state.average_price,
        state.volume,
        state.buy_quantity,
        state.sell_quantity,
        state.open,
        state.high,
        state.low,
        state.close,
    )


def _levels(levels: Sequence[Level]) -> bytes:
    padded = list(levels)[:5] + [(0, 0, 0)] * (5 - min(len(levels), 5))
    return b"".join(struct.pack(">IIH2x", qty, price, orders) for qty, price, orders in padded)


def full_packet(state: MarketState) -> bytes:
    return (
        quote_packet(state)
        + struct.pack(
            ">5I",
            state.last_trade_time,
            state.oi,
            state.oi_day_high,
            state.oi_day_low,
            state.timestamp,
        )
        + _levels(state.bids)
        + _levels(state.asks)
    )


def packet(state: MarketState, mode: str) -> bytes:
    """The packet the server sends for this instrument in this subscription mode."""
    if mode == "ltp":
        return ltp_packet(state)
    if mode not in ("quote", "full"):
        raise ValueError(f"unknown mode {mode!r}")
    if state.is_index:
        return index_packet(state, full=mode == "full")
    return full_packet(state) if mode == "full" else quote_packet(state)


def frame(packets: Iterable[bytes]) -> bytes:
    """One binary message: packet count, then each packet prefixed by its length."""
    items = list(packets)
    parts = [struct.pack(">H", len(items))]
    for item in items:
        parts.append(struct.pack(">H", len(item)))
        parts.append(item)
    return b"".join(parts)


HEARTBEAT = b"\x00"
