"""XTS market-data events to engine ``Tick``s (kite_xts_apis.md §C.8, §C.13.2).

Events arrive per message code and broadcast mode, ``"<code>-json-full"`` or
``"<code>-json-partial"``; their payload is a JSON *string* (some deployments send the object).

- Full: 1501 touchline, **nested** under ``Touchline`` (real captures) **or flat** (the Java SDK's
  model); 1502 five-level depth (``Bids``/``Asks`` plus a touchline); 1510 open interest; 1512 last
  traded price; 1505 a one-minute candle.
- Partial: only what changed, short keys, ``t`` = ``"<segment>_<id>"``; an object or a flat string
  ``"t:1_22,ltp:2408.4,..."``. ``bi``/``ai`` hold ``level|size|price|orders`` groups (one for 1501,
  five for 1502).

Each instrument keeps a snapshot (``_Snapshot``) that full events overwrite and partial events are
merged into, so every emitted ``Tick`` carries the whole picture. A partial for an instrument with
no traded price yet is merged but emits nothing (the first full event is still to come).

Prices become integer paise exactly: ``round(rupees * 100)``, refused when the price is finer than a
paisa (a float's error is far below that for any price the exchange quotes). Timestamps of NSE's
segments (1, 2, 3) are seconds since 1980-01-01 00:00 IST; some deployments send Unix seconds
instead, told apart by range: a value within two days of now is Unix, anything else is 1980-based.

A malformed event raises ``XtsEventError`` naming its kind; ``QuoteStream`` counts it and logs the
first of each kind, and the stream carries on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from engine.brokers.xts.master import token_of
from engine.brokers.xts.segments import UnknownSegment
from engine.domain.bars import Bar
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import EMPTY_DEPTH, DepthLevel, Tick

log = logging.getLogger(__name__)

EPOCH_1980_OFFSET_S = 315_513_000
"""1980-01-01 00:00 IST in Unix seconds."""
_NSE_SEGMENTS = frozenset({1, 2, 3})
IGNORED_CODES = frozenset({"1105", "1503", "1504", "1506", "1507", "5505"})
"""Message codes XTS may send that carry no instrument price the desk uses (property changes,
gainers, index summaries, broker messages, trading status, subscription info): skipped, counted."""
_TWO_DAYS_S = 2 * 86_400
_NS = 1_000_000_000
_MAX_PAISE = 1e15
"""Far above any price quoted in rupees, far below where a float stops holding whole paise."""


class XtsEventError(ValueError):
    """An event that cannot be read; ``kind`` is its event name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class _Bad(ValueError):
    """A field that cannot be read; becomes an ``XtsEventError`` with the event's kind."""


def paise(value: Any) -> int:
    """Rupees (float, int or numeric string, as JSON and partial strings carry them) to paise."""
    kind = type(value)
    if kind is not float:
        if kind is str:
            try:
                value = float(value)
            except ValueError:
                raise _Bad(f"{value!r} is not a price") from None
        elif kind is not int:
            raise _Bad(f"{value!r} is not a price")
    scaled = value * 100
    if not -_MAX_PAISE < scaled < _MAX_PAISE:  # also refuses NaN and the infinities
        raise _Bad(f"{value} is not a price")
    whole = round(scaled)
    if abs(scaled - whole) > 1e-4:
        raise _Bad(f"{value} is finer than one paisa")
    return whole


def _qty(value: Any) -> int:
    kind = type(value)
    if kind is int:
        return value
    if kind is str:
        try:
            return int(value)
        except ValueError:
            pass  # "75.0" and the like: tried as a float below
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Bad(f"{value!r} is not a quantity") from None
    if kind is bool or not number.is_integer():
        raise _Bad(f"{value!r} is not a quantity")
    return int(number)


def exchange_time_ns(value: Any, segment_code: int, now_s: float) -> int:
    """Epoch nanoseconds of an XTS timestamp (1980-based for NSE segments unless it is Unix)."""
    seconds = _qty(value)
    if segment_code in _NSE_SEGMENTS and abs(seconds - now_s) > _TWO_DAYS_S:
        seconds += EPOCH_1980_OFFSET_S
    return seconds * _NS


class _Snapshot:
    """The last known picture of one instrument, in paise and units."""

    __slots__ = (
        "ask",
        "ask_qty",
        "asks",
        "bid",
        "bid_qty",
        "bids",
        "close",
        "last_qty",
        "ltp",
        "oi",
        "token",
        "ts_ns",
        "volume",
    )

    def __init__(self, token: InstrumentToken) -> None:
        self.token = token
        self.ltp = self.bid = self.ask = self.bid_qty = self.ask_qty = 0
        self.volume = self.oi = self.ts_ns = self.last_qty = self.close = 0
        self.bids: tuple[DepthLevel, ...] = EMPTY_DEPTH
        self.asks: tuple[DepthLevel, ...] = EMPTY_DEPTH

    def tick(self) -> Tick:
        return Tick._make(
            (
                self.token,
                self.ltp,
                self.bid,
                self.ask,
                self.bid_qty,
                self.ask_qty,
                self.volume,
                self.oi,
                self.ts_ns,
                self.last_qty,
                self.bids,
                self.asks,
                self.close,
            )
        )


def _level(info: Any) -> DepthLevel:
    """``{Size, Price, TotalOrders}`` (or a list holding one) as (paise, qty, orders)."""
    if type(info) is not dict:
        if isinstance(info, list):
            if not info:
                return (0, 0, 0)
            info = info[0]
        if not isinstance(info, dict):
            raise _Bad(f"a book level is {type(info).__name__}, not an object")
    price, size, orders = info.get("Price", 0), info.get("Size", 0), info.get("TotalOrders", 0)
    # The common case (float price, int sizes) inlined: this runs eleven times per depth event.
    if type(price) is float and -_MAX_PAISE < (scaled := price * 100) < _MAX_PAISE:
        whole = round(scaled)
        if abs(scaled - whole) > 1e-4:
            raise _Bad(f"{price} is finer than one paisa")
    else:
        whole = paise(price)
    return (
        whole,
        size if type(size) is int else _qty(size),
        orders if type(orders) is int else _qty(orders),
    )


def _levels(raw: Any, side: str) -> tuple[DepthLevel, ...]:
    if not isinstance(raw, list):
        raise _Bad(f"{side} is not a list")
    return tuple(level for level in map(_level, raw) if level[1] or level[0])


def _groups(text: str) -> tuple[DepthLevel, ...]:
    """``"0|size|price|orders|1|size|price|orders"`` as levels, best first."""
    parts = text.split("|")
    if len(parts) % 4:
        raise _Bad(f"book {text!r} is not level|size|price|orders groups")
    levels = []
    try:
        for start in range(0, len(parts), 4):
            size = int(parts[start + 1])
            scaled = float(parts[start + 2]) * 100  # paise(), inlined: the hottest loop here
            price = round(scaled)
            if abs(scaled - price) > 1e-4 or price < 0:
                raise _Bad(f"book price {parts[start + 2]} is not whole paise")
            if size or price:
                levels.append((price, size, int(parts[start + 3])))
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, _Bad):
            raise
        raise _Bad(f"book {text!r} holds a level that is not numbers") from None
    return tuple(levels)


class QuoteParser:
    """Turns events into ticks (and 1505 events into bars), keeping a snapshot per instrument."""

    def __init__(self, now_s: Callable[[], float]) -> None:
        self._now_s = now_s
        self._snapshots: dict[tuple[int, int], _Snapshot] = {}
        self.ignored = 0
        """Events of ``IGNORED_CODES``."""

    def snapshot_count(self) -> int:
        return len(self._snapshots)

    def forget(self, token: InstrumentToken) -> None:
        """Drop an unsubscribed instrument's snapshot."""
        for key, snapshot in list(self._snapshots.items()):
            if snapshot.token == token:
                del self._snapshots[key]

    def parse(self, name: str, payload: Any) -> Tick | Bar | None:
        """The tick (or bar) one event gives; None for an event that carries no price.

        Raises ``XtsEventError`` for a malformed event and ``UnknownSegment`` (a ValueError) for
        an instrument in a segment the desk does not trade.
        """
        code, _, mode = name.partition("-json-")
        if code in IGNORED_CODES and mode:
            self.ignored += 1
            return None
        try:
            if mode == "full":
                data = json.loads(payload) if isinstance(payload, str) else payload
                if not isinstance(data, dict):
                    raise _Bad("payload is not a JSON object")
                return self._full(code, data)
            if mode == "partial":
                if isinstance(payload, str):
                    stripped = payload.lstrip()
                    data = json.loads(payload) if stripped.startswith("{") else _flat(payload)
                else:
                    data = payload
                if not isinstance(data, dict):
                    raise _Bad("payload is neither an object nor a flat key:value string")
                return self._partial(code, data)
        except (_Bad, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, UnknownSegment):
                raise
            raise XtsEventError(name, str(exc)) from None
        raise XtsEventError(name, "not a JSON market-data event")

    # -- full events -----------------------------------------------------------------------------

    def _snapshot(self, segment_code: int, instrument_id: int) -> _Snapshot:
        key = (segment_code, instrument_id)
        snapshot = self._snapshots.get(key)
        if snapshot is None:
            snapshot = _Snapshot(token_of(segment_code, instrument_id))
            self._snapshots[key] = snapshot
        return snapshot

    def _full(self, code: str, data: dict[str, Any]) -> Tick | Bar | None:
        segment_code = _qty(data["ExchangeSegment"])
        snap = self._snapshot(segment_code, _qty(data["ExchangeInstrumentID"]))
        if code == "1505":
            return self._bar(snap, segment_code, data)
        stamp = data.get("ExchangeTimeStamp") or data.get("LastUpdateTime")
        if code in ("1501", "1502"):
            touchline = data.get("Touchline")
            line = touchline if isinstance(touchline, dict) else data
            self._touchline(snap, line)
            stamp = stamp or line.get("LastUpdateTime") or line.get("LastTradedTime")
            if code == "1502":
                snap.bids = _levels(data.get("Bids", []), "Bids")
                snap.asks = _levels(data.get("Asks", []), "Asks")
                self._best_from_depth(snap)
        elif code == "1512":
            snap.ltp = paise(data["LastTradedPrice"])
            last = data.get("LastTradedQunatity", data.get("LastTradedQuantity"))
            if last is not None:
                snap.last_qty = _qty(last)
        elif code == "1510":
            snap.oi = _qty(data["OpenInterest"])
        else:
            raise _Bad(f"message code {code} is not one the desk reads")
        if stamp:
            snap.ts_ns = exchange_time_ns(stamp, segment_code, self._now_s())
        return snap.tick() if snap.ltp else None

    @staticmethod
    def _touchline(snap: _Snapshot, line: dict[str, Any]) -> None:
        snap.ltp = paise(line["LastTradedPrice"])
        last = line.get("LastTradedQunatity", line.get("LastTradedQuantity"))
        if last is not None:
            snap.last_qty = _qty(last)
        snap.volume = _qty(line.get("TotalTradedQuantity", snap.volume))
        if "Close" in line:
            snap.close = paise(line["Close"])
        if "BidInfo" in line:
            snap.bid, snap.bid_qty, _ = _level(line["BidInfo"])
        if "AskInfo" in line:
            snap.ask, snap.ask_qty, _ = _level(line["AskInfo"])

    @staticmethod
    def _best_from_depth(snap: _Snapshot) -> None:
        snap.bid, snap.bid_qty = (snap.bids[0][0], snap.bids[0][1]) if snap.bids else (0, 0)
        snap.ask, snap.ask_qty = (snap.asks[0][0], snap.asks[0][1]) if snap.asks else (0, 0)

    def _bar(self, snap: _Snapshot, segment_code: int, data: dict[str, Any]) -> Bar:
        return Bar(
            snap.token,
            exchange_time_ns(data["BarTime"], segment_code, self._now_s()),
            paise(data["Open"]),
            paise(data["High"]),
            paise(data["Low"]),
            paise(data["Close"]),
            _qty(data.get("BarVolume", 0)),
            _qty(data.get("OpenInterest", 0)),
        )

    # -- partial events --------------------------------------------------------------------------

    def _partial(self, code: str, data: dict[str, Any]) -> Tick | Bar | None:
        segment_text, _, id_text = str(data["t"]).partition("_")
        segment_code = _qty(segment_text)
        snap = self._snapshot(segment_code, _qty(id_text))
        if code == "1505":
            return Bar(
                snap.token,
                exchange_time_ns(data["bt"], segment_code, self._now_s()),
                paise(data["o"]),
                paise(data["h"]),
                paise(data["l"]),
                paise(data["c"]),
                _qty(data.get("bv", 0)),
                _qty(data.get("oi", 0)),
            )
        if code not in ("1501", "1502", "1510", "1512"):
            raise _Bad(f"message code {code} is not one the desk reads")
        if "ltp" in data:
            snap.ltp = paise(data["ltp"])
        if "ltq" in data:
            snap.last_qty = _qty(data["ltq"])
        if "v" in data:
            snap.volume = _qty(data["v"])
        if "c" in data:
            snap.close = paise(data["c"])
        if "oi" in data:
            snap.oi = _qty(data["oi"])
        if "bi" in data:
            self._side(snap, code, _groups(str(data["bi"])), bids=True)
        if "ai" in data:
            self._side(snap, code, _groups(str(data["ai"])), bids=False)
        stamp = data.get("lut") or data.get("ltt")
        if stamp:
            snap.ts_ns = exchange_time_ns(stamp, segment_code, self._now_s())
        return snap.tick() if snap.ltp else None

    @staticmethod
    def _side(snap: _Snapshot, code: str, levels: tuple[DepthLevel, ...], *, bids: bool) -> None:
        best = levels[0] if levels else (0, 0, 0)
        if bids:
            snap.bid, snap.bid_qty = best[0], best[1]
            if code == "1502":
                snap.bids = levels
        else:
            snap.ask, snap.ask_qty = best[0], best[1]
            if code == "1502":
                snap.asks = levels


def _flat(text: str) -> dict[str, str]:
    """``"t:1_22,ltp:2408.4,..."`` as a mapping (split on ``,``, then on the first ``:``)."""
    try:
        return dict(part.split(":", 1) for part in text.split(","))
    except ValueError:
        bad = next(part for part in text.split(",") if ":" not in part)
        raise _Bad(f"{bad.strip()!r} is not key:value") from None
