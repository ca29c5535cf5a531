"""KiteTicker binary frames: our own parser (kite_xts_apis.md §B.3–B.6).

One WebSocket binary message carries ``N`` packets, each prefixed by its length; the length says
what the packet is: 8 LTP, 28/32 index quote/full, 44 quote, 184 full (5-level depth). All
integers are big-endian and read unsigned, as the official clients read them; prices are divided by
the divisor of the token's segment (the token's low byte).

Two ways out of a frame:

- ``parse_frame`` gives ``KiteTick`` objects with the fields the official Python client names
  (``instrument_token``, ``last_price``, ``ohlc``, ``depth``, ``exchange_timestamp``, ...), readable
  as attributes and as mapping keys. They are a compatibility view and carry the official client's
  float rupee prices; timestamps are aware (IST) where the official client gives naive local time,
  and a zero timestamp is ``None`` rather than 1970.
- ``parse_ticks`` is the engine's fast path: ``engine.domain.ticks.Tick`` with integer paise. For
  segments whose divisor is 100 the wire integer already is paise, so nothing is divided.

A frame is either decoded whole or refused with ``KiteFrameError`` (truncated, trailing bytes,
unknown packet length): the ticker client counts and skips refused frames. A frame shorter than two
bytes is a heartbeat and holds no ticks.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, NoReturn

from engine.core.clock import IST
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import EMPTY_DEPTH, DepthLevel, Tick

MODE_LTP = "ltp"
MODE_QUOTE = "quote"
MODE_FULL = "full"
MODES = (MODE_LTP, MODE_QUOTE, MODE_FULL)

LTP_PACKET = 8
INDEX_QUOTE_PACKET = 28
INDEX_FULL_PACKET = 32
QUOTE_PACKET = 44
FULL_PACKET = 184
DEPTH_LEVELS = 5

INDICES_SEGMENT = 9
SEGMENT_NAMES = {
    1: "NSE",
    2: "NFO",
    3: "CDS",
    4: "BSE",
    5: "BFO",
    6: "BCD",
    7: "MCX",
    8: "MCXSX",
    9: "INDICES",
    12: "NCO",
}
# Divisors that are not 100 (§B.5; NCO from pykiteconnect 5.x). Every other segment divides by 100.
_ODD_DIVISORS = {3: 10_000_000, 6: 10_000, 12: 10_000}


def price_divisor(instrument_token: int) -> int:
    """What a wire price of this token is divided by to give rupees."""
    return _ODD_DIVISORS.get(instrument_token & 0xFF, 100)


def carries_paise(instrument_token: int) -> bool:
    """True when the token's wire prices are whole paise (every NSE/BSE cash, F&O and index)."""
    return (instrument_token & 0xFF) not in _ODD_DIVISORS


class KiteFrameError(ValueError):
    """A binary frame that does not follow the KiteTicker layout."""


_U16 = struct.Struct(">H")
_LTP = struct.Struct(">2I")
_INDEX_QUOTE = struct.Struct(">7I")
_INDEX_FULL = struct.Struct(">8I")
_QUOTE = struct.Struct(">11I")
# 16 header fields, then 10 depth entries of (quantity uint32, price uint32, orders uint16, 2 pad).
_FULL = struct.Struct(">16I" + "IIH2x" * (2 * DEPTH_LEVELS))


_timestamps: dict[int, datetime | None] = {}


def _timestamp(seconds: int) -> datetime | None:
    # The packets of one frame share a handful of timestamps: build each aware datetime once.
    try:
        return _timestamps[seconds]
    except KeyError:
        if len(_timestamps) >= 4096:
            _timestamps.clear()
        stamp = _timestamps[seconds] = datetime.fromtimestamp(seconds, IST) if seconds else None
        return stamp


def _change(last: float, close: float) -> float:
    # The official clients' formula: percent change against the previous close.
    return (last - close) * 100 / close if close != 0 else 0


class KiteTick(dict[str, Any]):
    """One decoded packet: the official client's dict, with its keys also readable as attributes.

    It holds exactly the keys the official client puts in its dict for the packet's mode, and it is
    read-only. Attributes of fields a mode does not carry read as ``None``.
    """

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a KiteTick is read-only")

    __setitem__ = __delitem__ = __ior__ = _refuse
    update = pop = popitem = clear = setdefault = _refuse

    @property
    def instrument_token(self) -> int:
        return self["instrument_token"]

    @property
    def mode(self) -> str:
        return self["mode"]

    @property
    def tradable(self) -> bool:
        return self["tradable"]

    @property
    def last_price(self) -> float:
        return self["last_price"]

    @property
    def last_traded_quantity(self) -> int | None:
        return self.get("last_traded_quantity")

    @property
    def average_traded_price(self) -> float | None:
        return self.get("average_traded_price")

    @property
    def volume_traded(self) -> int | None:
        return self.get("volume_traded")

    @property
    def total_buy_quantity(self) -> int | None:
        return self.get("total_buy_quantity")

    @property
    def total_sell_quantity(self) -> int | None:
        return self.get("total_sell_quantity")

    @property
    def ohlc(self) -> dict[str, float] | None:
        return self.get("ohlc")

    @property
    def change(self) -> float | None:
        return self.get("change")

    @property
    def last_trade_time(self) -> datetime | None:
        return self.get("last_trade_time")

    @property
    def oi(self) -> int | None:
        return self.get("oi")

    @property
    def oi_day_high(self) -> int | None:
        return self.get("oi_day_high")

    @property
    def oi_day_low(self) -> int | None:
        return self.get("oi_day_low")

    @property
    def exchange_timestamp(self) -> datetime | None:
        return self.get("exchange_timestamp")

    @property
    def depth(self) -> dict[str, list[dict[str, Any]]] | None:
        return self.get("depth")

    def __repr__(self) -> str:
        return f"KiteTick({dict.__repr__(self)})"


def _ltp_tick(raw: tuple[int, ...], divisor: int) -> KiteTick:
    return KiteTick(
        {
            "tradable": (raw[0] & 0xFF) != INDICES_SEGMENT,
            "mode": MODE_LTP,
            "instrument_token": raw[0],
            "last_price": raw[1] / divisor,
        }
    )


def _index_tick(raw: tuple[int, ...], divisor: int) -> KiteTick:
    # Index packets carry high, low, open, close in that order (unlike tradable packets).
    last, close = raw[1] / divisor, raw[5] / divisor
    tick = {
        "tradable": (raw[0] & 0xFF) != INDICES_SEGMENT,
        "mode": MODE_FULL if len(raw) == 8 else MODE_QUOTE,
        "instrument_token": raw[0],
        "last_price": last,
        "ohlc": {
            "high": raw[2] / divisor,
            "low": raw[3] / divisor,
            "open": raw[4] / divisor,
            "close": close,
        },
        "change": _change(last, close),
    }
    if len(raw) == 8:
        tick["exchange_timestamp"] = _timestamp(raw[7])
    return KiteTick(tick)


def _quote_tick(raw: tuple[int, ...], divisor: int) -> KiteTick:
    d = divisor
    last, close = raw[1] / d, raw[10] / d
    return KiteTick(
        {
            "tradable": (raw[0] & 0xFF) != INDICES_SEGMENT,
            "mode": MODE_QUOTE,
            "instrument_token": raw[0],
            "last_price": last,
            "last_traded_quantity": raw[2],
            "average_traded_price": raw[3] / d,
            "volume_traded": raw[4],
            "total_buy_quantity": raw[5],
            "total_sell_quantity": raw[6],
            "ohlc": {"open": raw[7] / d, "high": raw[8] / d, "low": raw[9] / d, "close": close},
            "change": _change(last, close),
        }
    )


def _full_tick(raw: tuple[int, ...], divisor: int) -> KiteTick:
    # Unrolled on purpose: building the ten depth entries is most of the cost of a full packet.
    d = divisor
    last, close = raw[1] / d, raw[10] / d
    return KiteTick(
        {
            "tradable": (raw[0] & 0xFF) != INDICES_SEGMENT,
            "mode": MODE_FULL,
            "instrument_token": raw[0],
            "last_price": last,
            "last_traded_quantity": raw[2],
            "average_traded_price": raw[3] / d,
            "volume_traded": raw[4],
            "total_buy_quantity": raw[5],
            "total_sell_quantity": raw[6],
            "ohlc": {"open": raw[7] / d, "high": raw[8] / d, "low": raw[9] / d, "close": close},
            "change": _change(last, close),
            "last_trade_time": _timestamp(raw[11]),
            "oi": raw[12],
            "oi_day_high": raw[13],
            "oi_day_low": raw[14],
            "exchange_timestamp": _timestamp(raw[15]),
            "depth": {
                "buy": [
                    {"quantity": raw[16], "price": raw[17] / d, "orders": raw[18]},
                    {"quantity": raw[19], "price": raw[20] / d, "orders": raw[21]},
                    {"quantity": raw[22], "price": raw[23] / d, "orders": raw[24]},
                    {"quantity": raw[25], "price": raw[26] / d, "orders": raw[27]},
                    {"quantity": raw[28], "price": raw[29] / d, "orders": raw[30]},
                ],
                "sell": [
                    {"quantity": raw[31], "price": raw[32] / d, "orders": raw[33]},
                    {"quantity": raw[34], "price": raw[35] / d, "orders": raw[36]},
                    {"quantity": raw[37], "price": raw[38] / d, "orders": raw[39]},
                    {"quantity": raw[40], "price": raw[41] / d, "orders": raw[42]},
                    {"quantity": raw[43], "price": raw[44] / d, "orders": raw[45]},
                ],
            },
        }
    )


_Builder = Callable[[tuple[int, ...], int], KiteTick]
_LAYOUTS: dict[int, tuple[struct.Struct, _Builder]] = {
    LTP_PACKET: (_LTP, _ltp_tick),
    INDEX_QUOTE_PACKET: (_INDEX_QUOTE, _index_tick),
    INDEX_FULL_PACKET: (_INDEX_FULL, _index_tick),
    QUOTE_PACKET: (_QUOTE, _quote_tick),
    FULL_PACKET: (_FULL, _full_tick),
}


def _packet_bounds(data: bytes) -> Iterator[tuple[int, int]]:
    """(offset, length) of every packet in a frame; refuses a frame whose framing is broken."""
    size = len(data)
    if size < 2:
        return
    (count,) = _U16.unpack_from(data, 0)
    offset = 2
    for index in range(count):
        if offset + 2 > size:
            raise KiteFrameError(
                f"frame of {size} bytes ends before the length of packet {index + 1} of {count}"
            )
        length = (data[offset] << 8) | data[offset + 1]
        offset += 2
        if offset + length > size:
            raise KiteFrameError(
                f"packet {index + 1} of {count} needs {length} bytes, the frame has "
                f"{size - offset} left"
            )
        yield offset, length
        offset += length
    if offset != size:
        raise KiteFrameError(f"{size - offset} bytes after the {count} packets the frame announced")


def parse_packet(packet: bytes) -> KiteTick:
    """Decode one packet (no frame header), such as the mocks' ``ticker_full.packet``."""
    return _decode(packet, 0, len(packet))


def _decode(data: bytes, offset: int, length: int) -> KiteTick:
    try:
        layout, build = _LAYOUTS[length]
    except KeyError:
        raise KiteFrameError(f"unknown packet length {length}") from None
    raw = layout.unpack_from(data, offset)
    return build(raw, _ODD_DIVISORS.get(raw[0] & 0xFF, 100))


def parse_frame(data: bytes) -> list[KiteTick]:
    """The ticks of one binary KiteTicker frame; ``[]`` for a heartbeat.

    Raises ``KiteFrameError`` when the frame is malformed; nothing of such a frame is returned.
    """
    full = _full_packets(data)
    if full is not None:
        return [_full_tick(raw, _ODD_DIVISORS.get(raw[0] & 0xFF, 100)) for raw in full]
    return [_decode(data, offset, length) for offset, length in _packet_bounds(data)]


_FRAMED_FULL = struct.Struct(">2x" + _FULL.format.lstrip(">"))
"""A full packet with the length that precedes it in a frame (skipped: checked beforehand)."""
_FULL_LENGTH = FULL_PACKET.to_bytes(2, "big")


def _full_packets(data: bytes) -> Iterator[tuple[int, ...]] | None:
    """Every packet of a frame that holds only full packets (what a busy full-mode feed sends),
    unpacked in one pass; None for any other frame, which goes packet by packet."""
    stride = _FRAMED_FULL.size
    count = (data[0] << 8) | data[1] if len(data) >= 2 else 0
    if not count or len(data) != 2 + count * stride:
        return None
    # Each packet's two length bytes, read as two strided slices: all of them must say 184.
    if data[2::stride] != _FULL_LENGTH[:1] * count or data[3::stride] != _FULL_LENGTH[1:] * count:
        return None
    return _FRAMED_FULL.iter_unpack(memoryview(data)[2:])


# -- the engine's fast path ------------------------------------------------------------------------


def _trim(levels: tuple[DepthLevel, ...]) -> tuple[DepthLevel, ...]:
    """Levels before the first empty one (an empty level is all zeros; sides are best-first)."""
    for index, level in enumerate(levels):
        if not level[0]:
            return levels[:index]
    return levels


def parse_ticks(data: bytes, now_ns: int) -> list[Tick]:
    """The frame's packets as engine ``Tick``s in integer paise.

    ``now_ns`` stamps packets that carry no exchange timestamp (LTP and quote modes). Packets of
    segments whose prices are not whole paise (CDS, BCD, NCO) are refused with ``KiteFrameError``:
    the engine does not trade them and the ticker client never subscribes them on this path.
    """
    ticks: list[Tick] = []
    append = ticks.append
    full, quote, make_tick = _FULL.unpack_from, _QUOTE.unpack_from, Tick._make
    for offset, length in _packet_bounds(data):
        if length == FULL_PACKET:
            raw = full(data, offset)
            token = raw[0]
            if token & 0xFF in _ODD_DIVISORS:
                _refuse_segment(token)
            # Wire levels are (quantity, price, orders); Tick levels are (price, quantity, orders).
            bids: tuple[DepthLevel, ...] = (
                (raw[17], raw[16], raw[18]),
                (raw[20], raw[19], raw[21]),
                (raw[23], raw[22], raw[24]),
                (raw[26], raw[25], raw[27]),
                (raw[29], raw[28], raw[30]),
            )
            asks: tuple[DepthLevel, ...] = (
                (raw[32], raw[31], raw[33]),
                (raw[35], raw[34], raw[36]),
                (raw[38], raw[37], raw[39]),
                (raw[41], raw[40], raw[42]),
                (raw[44], raw[43], raw[45]),
            )
            if not raw[29]:
                bids = _trim(bids)
            if not raw[44]:
                asks = _trim(asks)
            best_bid = bids[0] if bids else (0, 0, 0)
            best_ask = asks[0] if asks else (0, 0, 0)
            append(
                make_tick(
                    (
                        token,
                        raw[1],
                        best_bid[0],
                        best_ask[0],
                        best_bid[1],
                        best_ask[1],
                        raw[4],
                        raw[12],
                        raw[15] * 1_000_000_000 if raw[15] else now_ns,
                        raw[2],
                        bids,
                        asks,
                        raw[10],
                    )
                )
            )
        elif length == QUOTE_PACKET:
            raw = quote(data, offset)
            token = raw[0]
            if token & 0xFF in _ODD_DIVISORS:
                _refuse_segment(token)
            append(
                make_tick(
                    (
                        token,
                        raw[1],
                        0,
                        0,
                        0,
                        0,
                        raw[4],
                        0,
                        now_ns,
                        raw[2],
                        EMPTY_DEPTH,
                        EMPTY_DEPTH,
                        raw[10],
                    )
                )
            )
        else:
            append(_small_packet_tick(data, offset, length, now_ns))
    return ticks


def _small_packet_tick(data: bytes, offset: int, length: int, now_ns: int) -> Tick:
    if length == LTP_PACKET:
        token, ltp = _LTP.unpack_from(data, offset)
        close = 0
        ts_ns = now_ns
    elif length in (INDEX_QUOTE_PACKET, INDEX_FULL_PACKET):
        raw = (_INDEX_FULL if length == INDEX_FULL_PACKET else _INDEX_QUOTE).unpack_from(
            data, offset
        )
        token, ltp, close = raw[0], raw[1], raw[5]
        ts_ns = raw[7] * 1_000_000_000 if length == INDEX_FULL_PACKET and raw[7] else now_ns
    else:
        raise KiteFrameError(f"unknown packet length {length}")
    if token & 0xFF in _ODD_DIVISORS:
        _refuse_segment(token)
    return Tick._make(
        (InstrumentToken(token), ltp, 0, 0, 0, 0, 0, 0, ts_ns, 0, EMPTY_DEPTH, EMPTY_DEPTH, close)
    )


def _refuse_segment(token: int) -> None:
    segment = SEGMENT_NAMES.get(token & 0xFF, str(token & 0xFF))
    raise KiteFrameError(
        f"token {token} is in segment {segment}, whose prices are not whole paise; "
        "the engine path carries NSE/BSE cash, F&O and indices only"
    )
