"""A running leg: the contract it resolved to, its orders, its fills and its stop and target.

Money is integer paise throughout (ticks and fills carry paise): a leg's ``cash`` is what its
fills paid (−) and received (+), its ``position`` the signed units it holds, so its MTM is
``cash + position × LTP``, exact. Levels (stop, target) are ``Decimal`` paise: a percent of an
average entry need not be a whole paisa, and comparing an integer price with it is exact.

Each order a leg places carries a tag naming the leg, what the order is for and its number
(``L2E1``: leg 2, entry, its first order), so after a restart the leg finds its orders in the
order book again, whatever the desk had or had not saved before it stopped. A contract the leg
still holds at its expiry is closed by the venue's settlement order in the portfolio's name,
booked as the leg's exit at the settlement price (``SETTLED``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from engine.domain.ids import OrderId
from engine.domain.orders import OrderStatus, Side
from engine.strategies.multileg.spec import Leg
from engine.strategies.multileg.status import LegEvent, LegState, leg_step

ENTRY, EXIT, STOP = "E", "X", "S"
"""What an order of a leg is for: entering it, exiting it, or its stop resting at the broker."""
SETTLED = "T"
"""The venue's order that settled the leg's contract at expiry (an exit the leg did not place:
it carries no leg tag, and one order may settle several legs of the same contract)."""
OUTSIDE = "O"
"""What closed the leg outside the portfolio (the kill switch's square-off, a square-off in
another window), found when the account holds nothing left to exit: booked at the leg's last
price, so its MTM stays where it was marked."""

_TAG = re.compile(r"L(\d{1,2})([EXS])(\d{1,4})")


def order_tag(leg: int, purpose: str, number: int) -> str:
    return f"L{leg}{purpose}{number}"


def read_tag(tag: str) -> tuple[int, str, int] | None:
    """(leg, purpose, number) of a leg's order tag; None for any other tag."""
    found = _TAG.fullmatch(tag)
    return None if found is None else (int(found[1]), found[2], int(found[3]))


@dataclass(slots=True)
class LegOrder:
    order_id: OrderId
    purpose: str
    quantity: int
    side: Side
    filled: int = 0
    status: OrderStatus = OrderStatus.PENDING_SUBMIT
    since_ns: int = 0
    """When it was placed or last re-priced (the chase counts from here)."""
    chases: int = 0
    at_market: bool = False
    exiting: bool = False
    """Ours to end: an entry being withdrawn, or a resting stop turned into the leg's exit."""
    cancel_sent: bool = False

    @property
    def live(self) -> bool:
        return not self.status.is_terminal

    @property
    def pending(self) -> int:
        return self.quantity - self.filled if self.live else 0

    @property
    def acknowledged(self) -> bool:
        return self.status in (OrderStatus.OPEN, OrderStatus.MODIFIED)


@dataclass(slots=True)
class LegRun:
    n: int
    """1-based, as the trader numbers legs."""
    spec: Leg
    state: LegState
    sign: int
    """+1 for a bought leg, −1 for a sold one."""
    quantity: int = 0
    """Units to trade (lots × lot size × the portfolio's multiplier); 0 until resolved."""
    token: int = 0
    symbol: str = ""
    strike: Decimal | None = None
    expiry: date | None = None
    lot_size: int = 1
    tick_size: int = 5
    freeze: int | None = None
    position: int = 0
    cash: int = 0
    entry_qty: int = 0
    entry_value: int = 0
    exit_qty: int = 0
    exit_value: int = 0
    ltp: int = 0
    bid: int = 0
    ask: int = 0
    last_tick_ns: int = 0
    stop: Decimal | None = None
    """Paise; the price at or beyond which the leg's stop fires (moved by trail or to cost)."""
    base_stop: Decimal | None = None
    target: Decimal | None = None
    best: int = 0
    """The best price since entry, for the trailing stop (lowest for a sold leg)."""
    spot_at_entry: int = 0
    moved_to_cost: bool = False
    remark: str = ""
    """Why the leg exists or what happened to it, in words."""
    exit_reason: str = ""
    stop_breach_ns: int | None = None
    orders: list[LegOrder] = field(default_factory=list)
    numbers: int = 0
    """Orders placed so far (each one's tag number)."""

    # -- what it holds -----------------------------------------------------------------------------

    @property
    def entry_side(self) -> Side:
        return Side.BUY if self.sign > 0 else Side.SELL

    @property
    def exit_side(self) -> Side:
        return Side.SELL if self.sign > 0 else Side.BUY

    @property
    def mtm(self) -> int:
        """Paise: realised and open P&L of the leg at its last price."""
        return self.cash + self.position * self.ltp

    @property
    def average_entry(self) -> Decimal | None:
        """Rupees."""
        return None if not self.entry_qty else Decimal(self.entry_value) / self.entry_qty / 100

    @property
    def average_exit(self) -> Decimal | None:
        return None if not self.exit_qty else Decimal(self.exit_value) / self.exit_qty / 100

    def working(self, *purposes: str) -> int:
        """Units still working in this leg's live orders for ``purposes``."""
        return sum(o.pending for o in self.orders if o.purpose in purposes)

    def live_orders(self, *purposes: str) -> list[LegOrder]:
        return [o for o in self.orders if o.live and o.purpose in purposes]

    def step(self, event: LegEvent) -> None:
        self.state = leg_step(self.state, event)

    def fill(self, order: LegOrder, quantity: int, price: int) -> None:
        order.filled += quantity
        signed = quantity if order.side is Side.BUY else -quantity
        self.position += signed
        self.cash -= signed * price
        if order.purpose == ENTRY:
            self.entry_qty += quantity
            self.entry_value += quantity * price
        else:
            self.exit_qty += quantity
            self.exit_value += quantity * price

    def next_tag(self, purpose: str) -> str:
        self.numbers += 1
        return order_tag(self.n, purpose, self.numbers)

    # -- across a restart ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The decisions the leg made; its orders and fills come back from the order book."""
        return {
            "n": self.n,
            "state": self.state.value,
            "quantity": self.quantity,
            "token": self.token,
            "symbol": self.symbol,
            "strike": None if self.strike is None else str(self.strike),
            "expiry": None if self.expiry is None else self.expiry.isoformat(),
            "stop": None if self.stop is None else str(self.stop),
            "base_stop": None if self.base_stop is None else str(self.base_stop),
            "target": None if self.target is None else str(self.target),
            "best": self.best,
            "spot_at_entry": self.spot_at_entry,
            "moved_to_cost": self.moved_to_cost,
            "remark": self.remark,
            "exit_reason": self.exit_reason,
            "numbers": self.numbers,
            # For the panel once the portfolio has stopped; a restart reads these from the book.
            "entry": None if self.average_entry is None else str(self.average_entry),
            "exit": None if self.average_exit is None else str(self.average_exit),
            "ltp": self.ltp,
            "mtm": self.mtm,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        self.state = LegState(saved["state"])
        self.quantity = int(saved["quantity"])
        self.token = int(saved["token"])
        self.symbol = str(saved["symbol"])
        self.strike = _decimal(saved["strike"])
        self.expiry = None if saved["expiry"] is None else date.fromisoformat(saved["expiry"])
        self.stop = _decimal(saved["stop"])
        self.base_stop = _decimal(saved["base_stop"])
        self.target = _decimal(saved["target"])
        self.best = int(saved["best"])
        self.spot_at_entry = int(saved["spot_at_entry"])
        self.moved_to_cost = bool(saved["moved_to_cost"])
        self.remark = str(saved["remark"])
        self.exit_reason = str(saved["exit_reason"])
        self.numbers = int(saved["numbers"])


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))
