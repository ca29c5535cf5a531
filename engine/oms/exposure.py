"""The desk's exposure as the risk gate reads it: positions plus what open orders could add.

The order manager keeps this up to date as fills and order events are applied, so the gate never
scans the order book on the order path. Quantities are signed units: per (instrument, product) as
the broker keeps positions, and per instrument across products for the position limits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from engine.domain.ids import InstrumentToken
from engine.domain.orders import Product, Side

Key = tuple[InstrumentToken, Product]
ExposureListener = Callable[[InstrumentToken, Product], None]


class Exposure:
    __slots__ = (
        "_by_underlying",
        "_lot_of",
        "_token_lots",
        "_underlying_of",
        "buys",
        "listeners",
        "net",
        "open_orders",
        "sells",
        "token_buys",
        "token_net",
        "token_sells",
        "underlying_lots",
    )

    def __init__(
        self,
        underlying_of: Callable[[InstrumentToken], str | None],
        lot_of: Callable[[InstrumentToken], int | None] | None = None,
    ) -> None:
        self._underlying_of = underlying_of
        self._lot_of = lot_of
        self._token_lots: dict[InstrumentToken, int] = {}
        self.underlying_lots: dict[str, int] = defaultdict(int)
        """Gross lots per underlying, open orders counted as filled (needs ``lot_of``)."""
        self.net: dict[Key, int] = defaultdict(int)
        """Filled position, signed units."""
        self.buys: dict[Key, int] = defaultdict(int)
        """Unfilled quantity of open BUY orders."""
        self.sells: dict[Key, int] = defaultdict(int)
        self.token_net: dict[InstrumentToken, int] = defaultdict(int)
        self.token_buys: dict[InstrumentToken, int] = defaultdict(int)
        self.token_sells: dict[InstrumentToken, int] = defaultdict(int)
        self.open_orders = 0
        self._by_underlying: dict[str, set[InstrumentToken]] = defaultdict(set)
        self.listeners: list[ExposureListener] = []

    # -- updates (the order manager) -----------------------------------------------------------

    def filled(self, token: InstrumentToken, product: Product, side: Side, quantity: int) -> None:
        signed = quantity * side.sign
        self.net[(token, product)] += signed
        self.token_net[token] += signed
        self._touch(token, product)

    def working(self, token: InstrumentToken, product: Product, side: Side, delta: int) -> None:
        """The unfilled quantity of open orders on one side moved by ``delta``."""
        if delta == 0:
            return
        if side is Side.BUY:
            self.buys[(token, product)] += delta
            self.token_buys[token] += delta
        else:
            self.sells[(token, product)] += delta
            self.token_sells[token] += delta
        self._touch(token, product)

    def _touch(self, token: InstrumentToken, product: Product) -> None:
        underlying = self._underlying_of(token)
        if underlying is not None:
            self._by_underlying[underlying].add(token)
            lot = self._lot_of(token) if self._lot_of is not None else None
            if lot:
                lots = abs(self.token_worst_case(token)) // lot
                self.underlying_lots[underlying] += lots - self._token_lots.get(token, 0)
                self._token_lots[token] = lots
        for listener in self.listeners:
            listener(token, product)

    # -- reading (the gate) --------------------------------------------------------------------

    def tokens_of(self, underlying: str) -> set[InstrumentToken]:
        """Instruments of ``underlying`` the desk has (or had today) a position or order in."""
        return self._by_underlying.get(underlying, set())

    @property
    def has_lot_sizes(self) -> bool:
        return self._lot_of is not None

    def token_lots(self, token: InstrumentToken) -> int:
        """This instrument's share of ``underlying_lots``."""
        return self._token_lots.get(token, 0)

    def underlyings(self) -> list[str]:
        return list(self._by_underlying)

    def worst_case(self, token: InstrumentToken, product: Product) -> int:
        """The position if every open order on the side that grows it filled (signed units)."""
        key = (token, product)
        net = self.net.get(key, 0)
        long = net + self.buys.get(key, 0)
        short = net - self.sells.get(key, 0)
        return long if abs(long) >= abs(short) else short

    def token_worst_case(self, token: InstrumentToken) -> int:
        net = self.token_net.get(token, 0)
        long = net + self.token_buys.get(token, 0)
        short = net - self.token_sells.get(token, 0)
        return long if abs(long) >= abs(short) else short

    def reduces(
        self,
        token: InstrumentToken,
        product: Product,
        side: Side,
        quantity: int,
        *,
        count_working: bool = True,
    ) -> bool:
        """Whether an order only brings a position towards flat (never through it), counting
        open orders already working in the same direction unless told not to."""
        net = self.net.get((token, product), 0)
        if net == 0 or (net > 0) == (side is Side.BUY):
            return False
        already = 0
        if count_working:
            already = (
                self.sells.get((token, product), 0)
                if net > 0
                else self.buys.get((token, product), 0)
            )
        return quantity + already <= abs(net)
