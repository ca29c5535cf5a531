"""Positions, built only from fills.

Values are kept as integer paise and the open cost as an exact Decimal, so a position rebuilt by
replaying the journal's fills is identical, to the paisa, to the one built live. Total P&L follows
Kite's definition, ``sell_value - buy_value + net_quantity x LTP``; realised P&L uses the average
cost of the open quantity, and unrealised is the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from engine.core.clock import ist_date_of
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken
from engine.domain.orders import Product
from engine.domain.values import ZERO, to_rupees


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
    open_cost: Decimal = ZERO
    """Rupees paid (long) or received (short) for the open quantity, at average cost."""
    realised: Decimal = ZERO
    """Rupees, before charges."""
    charges: Decimal = ZERO
    fills: int = 0

    @property
    def overnight_quantity(self) -> int:
        return self.net_quantity - (self.day_buy_quantity - self.day_sell_quantity)

    @property
    def average_price(self) -> Decimal:
        """Average price of the open quantity, rupees (0 when flat)."""
        if self.net_quantity == 0:
            return ZERO
        return self.open_cost / abs(self.net_quantity)

    def pnl(self, ltp: int) -> Decimal:
        """Total P&L before charges at ``ltp`` (paise), rupees, exact."""
        return to_rupees(self.sell_value - self.buy_value + self.net_quantity * ltp)

    def unrealised(self, ltp: int) -> Decimal:
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
        self._move_open(signed, to_rupees(fill.price))
        if fill.charges is not None:
            self.charges += fill.charges.total
        self.fills += 1

    def _move_open(self, signed: int, price: Decimal) -> None:
        net = self.net_quantity
        if net == 0 or (net > 0) == (signed > 0):
            self.open_cost += abs(signed) * price
            self.net_quantity = net + signed
            return
        closing = min(abs(signed), abs(net))
        average = self.open_cost / abs(net)
        direction = 1 if net > 0 else -1
        self.realised += (price - average) * closing * direction
        self.open_cost -= average * closing
        self.net_quantity = net + signed
        if self.net_quantity == 0:
            self.open_cost = ZERO
        elif (self.net_quantity > 0) != (net > 0):
            # Reversed through flat: what is left opened at this fill's price.
            self.open_cost = abs(self.net_quantity) * price


class PositionBook:
    """Every position by (instrument, product). Closed positions stay, flat, for the day."""

    def __init__(self, today: date) -> None:
        self.today = today
        self._positions: dict[tuple[InstrumentToken, Product], Position] = {}

    def apply(self, fill: OrderFilled) -> Position:
        key = (fill.token, fill.product)
        position = self._positions.get(key)
        if position is None:
            position = self._positions[key] = Position(fill.token, fill.product)
        position.apply(fill, self.today)
        return position

    def get(self, token: InstrumentToken, product: Product) -> Position | None:
        return self._positions.get((token, product))

    def all(self) -> list[Position]:
        return list(self._positions.values())

    def open(self) -> list[Position]:
        return [p for p in self._positions.values() if p.net_quantity != 0]

    def total_charges(self) -> Decimal:
        return sum((p.charges for p in self._positions.values()), ZERO)
