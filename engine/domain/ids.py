"""Identifiers as distinct types, so an order id can never be passed where a trade id belongs."""

from __future__ import annotations

import itertools
import os
import time
from typing import NewType

InstrumentToken = NewType("InstrumentToken", int)
"""Kite-style instrument token: ``exchange_token << 8 | segment_code``."""

OrderId = NewType("OrderId", str)
"""DalalDesk's own id for an order; also sent to the broker as the order tag (<= 20 chars)."""

BrokerOrderId = NewType("BrokerOrderId", str)
ExchangeOrderId = NewType("ExchangeOrderId", str)
TradeId = NewType("TradeId", str)
AccountId = NewType("AccountId", str)

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _base32(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


# Two base-32 characters for every 10-bit value: a counter suffix is two lookups.
_SEQ = [_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024)]
_VALUE = {char: value for value, char in enumerate(_ALPHABET)}

ID_SALTS = 1024
"""How many distinct salts an id can carry (two base-32 characters)."""


class IdFactory:
    """Makes 16-character ids, unique across restarts and sortable by creation time.

    Layout: a one-letter prefix + 9 chars of milliseconds + 2 chars of a salt + 4 chars of a
    counter. The salt is random per process, or on a shared book the id slot the database gave
    the desk, which no other open desk holds, so two desks never make the same id. It fits Kite's 20-character tag and XTS's orderUniqueIdentifier.
    """

    def __init__(self, prefix: str = "D", salt: int | None = None) -> None:
        self._prefix = prefix
        self._last_ms: int | None = None  # no id made yet
        self._head = ""
        self._last_ms_high: int | None = None
        self._ms_high = ""
        self._salt = _base32(salt if salt is not None else int.from_bytes(os.urandom(2)), 2)
        self._counter = itertools.count()

    def next(self, now_ms: int | None = None) -> str:
        ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        if ms != self._last_ms:
            if ms < 0:
                raise ValueError(f"an id needs a moment at or after 1970, not {ms} ms")
            self._last_ms = ms
            # The clock's milliseconds change on nearly every id: their first 7 characters (the
            # bits above the last 10) only about once a second, so only those are worked out again.
            high = ms >> 10
            if high != self._last_ms_high:
                self._last_ms_high = high
                self._ms_high = f"{self._prefix}{_base32(high, 7)}"
            self._head = self._ms_high + _SEQ[ms & 1023] + self._salt
        seq = next(self._counter) % (32**4)
        return self._head + _SEQ[seq >> 10] + _SEQ[seq & 1023]

    def next_order_id(self) -> OrderId:
        return OrderId(self.next())

    @property
    def salt(self) -> int:
        return _VALUE[self._salt[0]] * 32 + _VALUE[self._salt[1]]


def salt_of(identifier: str) -> int | None:
    """The salt an ``IdFactory`` id was made with (a desk's id slot on a shared book), or None
    for an id of another shape."""
    if len(identifier) != 16:
        return None
    high, low = _VALUE.get(identifier[10]), _VALUE.get(identifier[11])
    return None if high is None or low is None else high * 32 + low
