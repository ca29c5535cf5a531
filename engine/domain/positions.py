"""Positions, built only from fills.

Buy and sell values are integer paise and the cost of the open quantity is an exact fraction of
paise (``open_cost``): closing part of a position at average cost takes ``closing / net`` of it,
which no fixed number of decimals can hold. Nothing is divided until it is shown, so a position
rebuilt by replaying the journal's fills is identical to the one built live, a flat position's
unrealised P&L is exactly zero and its realised P&L is exactly its sell value less its buy value.

Total P&L follows Kite's definition, ``sell_value - buy_value + net_quantity x LTP``; realised P&L
uses the average cost of the open quantity, and unrealised is the rest. Realised is exact as a
fraction (``realised_paise``); ``realised`` shows it in rupees, to the paisa, half up, and
``unrealised`` is total less that shown realised, so the two shown figures always add up to the
total.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from engine.core.clock import ist_date_of
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken
from engine.domain.orders import Product
from engine.domain.values import PAISE_PER_RUPEE, ZERO, to_rupees


@dataclass(slots=True)
class Position:
    token: InstrumentToken
    product: Product
    net_quantity: int = 0
    buy_quantity: int = 0
    buy_value: int = 0
    """paise"""
    sell_quantity: int = 0
    sell_value: int = 0
    """paise"""
    day_buy_quantity: int = 0
    day_buy_value: int = 0
    day_sell_quantity: int = 0
    day_sell_value: int = 0
    open_cost: Fraction = Fraction(0)
    """Paise paid (long) or received (short) for the open quantity, at average cost, exact."""
    charges: Decimal = ZERO
    day_charges: Decimal = ZERO
    """The charges of today's fills (``charges`` is every fill's)."""
    fills: int = 0

    @property
    def overnight_quantity(self) -> int:
        return self.net_quantity - (self.day_buy_quantity - self.day_sell_quantity)

    @property
    def average_price_paise(self) -> Fraction:
        """Average price of the open quantity, paise, exact (0 when flat)."""
        if self.net_quantity == 0:
            return Fraction(0)
        return self.open_cost / abs(self.net_quantity)

    @property
    def average_price(self) -> Decimal:
        """Average price of the open quantity, rupees (0 when flat), for showing: the one
        division, to Decimal's precision; whole paise come out exact."""
        average = self.average_price_paise
        return Decimal(average.numerator) / Decimal(average.denominator * PAISE_PER_RUPEE)

    @property
    def realised_paise(self) -> Fraction:
        """Realised P&L before charges, paise, exact: the cash of every fill less the cost still
        held in the open quantity."""
        held = self.open_cost if self.net_quantity > 0 else -self.open_cost
        return self.sell_value - self.buy_value + held

    @property
    def realised(self) -> Decimal:
        """Realised P&L before charges, rupees, to the paisa (half up)."""
        return to_rupees(paise_half_up(self.realised_paise))

    def pnl(self, ltp: int) -> Decimal:
        """Total P&L before charges at ``ltp`` (paise), rupees, exact."""
        return to_rupees(self.sell_value - self.buy_value + self.net_quantity * ltp)

    def unrealised_paise(self, ltp: int) -> Fraction:
        """Unrealised P&L at ``ltp`` (paise), paise, exact: zero when flat."""
        return self.sell_value - self.buy_value + self.net_quantity * ltp - self.realised_paise

    def unrealised(self, ltp: int) -> Decimal:
        """Unrealised P&L at ``ltp``, rupees: the total less the shown realised, so the two add up."""
        return self.pnl(ltp) - self.realised

    def net_pnl(self, ltp: int) -> Decimal:
        return self.pnl(ltp) - self.charges

    def day_pnl(self, ltp: int, previous_close: int) -> Decimal:
        """Today's P&L: overnight quantity marked from the previous close, plus today's trades."""
        carried = self.overnight_quantity * (ltp - previous_close)
        traded = (
            self.day_sell_value
            - self.day_buy_value
            + (self.day_buy_quantity - self.day_sell_quantity) * ltp
        )
        return to_rupees(carried + traded)

    def apply(self, fill: OrderFilled, today: date) -> None:
        quantity = fill.quantity
        value = fill.price * quantity
        is_today = ist_date_of(fill.ts_ns).date() == today
        signed = quantity * fill.side.sign
        if fill.side.sign > 0:
            self.buy_quantity += quantity
            self.buy_value += value
            if is_today:
                self.day_buy_quantity += quantity
                self.day_buy_value += value
        else:
            self.sell_quantity += quantity
            self.sell_value += value
            if is_today:
                self.day_sell_quantity += quantity
                self.day_sell_value += value
        self._move_open(signed, fill.price)
        if fill.charges is not None:
            self.charges += fill.charges.total
            if is_today:
                self.day_charges += fill.charges.total
        self.fills += 1

    def start_day(self) -> None:
        """A new trading day: what is held is carried in (overnight), nothing is traded yet."""
        self.day_buy_quantity = self.day_buy_value = 0
        self.day_sell_quantity = self.day_sell_value = 0
        self.day_charges = ZERO

    def _move_open(self, signed: int, price: int) -> None:
        net = self.net_quantity
        self.net_quantity = net + signed
        if net == 0 or (net > 0) == (signed > 0):
            self.open_cost += abs(signed) * price
        elif abs(signed) < abs(net):
            # Closed in part at average cost: the rest keeps its share of the cost.
            self.open_cost = self.open_cost * (abs(net) - abs(signed)) / abs(net)
        else:
            # Closed, or reversed through flat: what is left opened at this fill's price.
            self.open_cost = Fraction(abs(self.net_quantity) * price)


def paise_half_up(amount: Fraction) -> int:
    """Whole paise nearest ``amount``, halves away from zero (the contract-note convention)."""
    whole, rest = divmod(abs(amount.numerator), amount.denominator)
    if 2 * rest >= amount.denominator:
        whole += 1
    return whole if amount >= 0 else -whole


class PositionBook:
    """Every position by (instrument, product). Closed positions stay, flat, for the day.

    The book's day is the desk clock's IST day (``roll``), and its day figures are those of the
    fills stamped on that day or later: exactly what a book opened on that day from the journal
    holds, whatever the clock did meanwhile. A fill stamped after the clock's day (a broker's
    clock ahead of the desk's, or a fill journaled while the desk's clock ran a day ahead and
    restored once it was put right) counts in the clock's day: the book never runs into a day
    the clock has not reached.
    """

    def __init__(self, today: date) -> None:
        self.today = today
        self._positions: dict[tuple[InstrumentToken, Product], Position] = {}
        self._fills: list[OrderFilled] = []
        """Every fill applied, in order: the day's figures are worked out again from them when
        the clock's day goes back, or comes to a day some fills are stamped on already."""
        self._last_stamped = date.min
        """The latest IST day a fill applied is stamped on."""
        self.clock_day: Callable[[], date] | None = None
        """The desk clock's IST day, for a book that follows a clock: a new day's first fill
        that comes before the clock's roll starts that day at once (never one the clock has not
        reached). None for a book built from fills alone: its day is the one it was given."""
        self.version = 0
        """Fills applied so far: what is worked out from the positions is current while it
        stands (the circuit breakers' P&L lines)."""

    def apply(self, fill: OrderFilled) -> Position:
        day = ist_date_of(fill.ts_ns).date()
        if day > self.today and self.clock_day is not None:
            # The new day's first fill came before the once-a-second roll: the day starts now,
            # so the fill counts as the day's own, as a book opened that day counts it.
            clock_day = self.clock_day()
            if clock_day > self.today:
                self.roll(min(day, clock_day))
        self._fills.append(fill)
        self._last_stamped = max(self._last_stamped, day)
        return self._book(fill, day)

    def _book(self, fill: OrderFilled, day: date) -> Position:
        key = (fill.token, fill.product)
        position = self._positions.get(key)
        if position is None:
            position = self._positions[key] = Position(fill.token, fill.product)
        # Stamped after the book's day: counted in it (today's, not a day still to come).
        position.apply(fill, max(day, self.today))
        self.version += 1
        return position

    def roll(self, day: date) -> bool:
        """Make ``day``, the desk clock's IST day, the book's (a desk left running past
        midnight IST): every position starts the day with what it holds carried in, as a book
        opened that day would; whether the day changed.

        Only a later day starts anything afresh. A clock set back (a wrong date typed, a clock
        put right after it ran ahead) never wipes a fill from the day's figures: they are worked
        out again from the fills, as a book opened on ``day`` would count them, so today's trades
        stay in the day's P&L (and the daily loss limit's count) when the clock goes back a day
        and forward again."""
        if day == self.today:
            return False
        if day > self.today and self._last_stamped < day:
            # An ordinary new day: no fill is stamped on it yet, so nothing is traded in it.
            self.today = day
            for position in self._positions.values():
                position.start_day()
        else:
            self._restate(day)
        self.version += 1
        return True

    def _restate(self, day: date) -> None:
        """The book as a book opened on ``day`` from the same fills holds it."""
        self.today = day
        self._positions = {}
        for fill in self._fills:
            self._book(fill, ist_date_of(fill.ts_ns).date())

    def get(self, token: InstrumentToken, product: Product) -> Position | None:
        return self._positions.get((token, product))

    def all(self) -> list[Position]:
        return list(self._positions.values())

    def open(self) -> list[Position]:
        return [p for p in self._positions.values() if p.net_quantity != 0]

    def total_charges(self) -> Decimal:
        return sum((p.charges for p in self._positions.values()), ZERO)
