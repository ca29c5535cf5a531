"""Trades (round trips) built from fills, first in first out, long and short, with partial closes.

A *trade* here is what one closing order closes: the units its fills take from the oldest open
lots of the same owner, instrument and product (the fills of one order, one after the other, make
one trade; fills with no order id each make their own). A fill that closes 10 of an open 25
makes a trade of 10 and leaves 15 open; a fill that goes through flat (sell 30 against a long 20) closes a trade of
20 and opens a short lot of 10 at its own price. Entry price is the quantity-weighted price of the
lots taken (exact, shown as rupees).

Money stays exact: gross P&L is integer paise (prices are paise, quantities units); charges and
slippage are rupees, split between the part of a fill that closes and the part left open by
quantity, to 10^-8 rupee, so the pieces always add back to the fill's charges exactly (what is
left over stays with the open lot and ends in the trade that closes it).

Slippage of a fill is its price against a *reference* price (the price the order asked for, or
the price at the signal): ``(price - reference) x quantity`` for a buy, the opposite for a sell.
It is positive when the fill was worse than the reference (a cost), negative when better.
A fill with no reference has no slippage.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction

from engine.domain.ids import InstrumentToken
from engine.domain.orders import Side
from engine.domain.values import ZERO, to_rupees

_SHARE = Decimal("0.00000001")
"""Charges and slippage split between the closing and the open part of a fill to this much."""


@dataclass(frozen=True, slots=True)
class TradeFill:
    """One fill as trades are built from it: exact prices in paise, charges in rupees."""

    ts_ns: int
    token: InstrumentToken
    side: Side
    quantity: int
    price: int
    """Paise."""
    charges: Decimal = ZERO
    reference: Decimal | int | None = None
    """Paise: the price the fill is measured against for slippage, its order's arrival price (a
    mid may be half a paisa); None: not measured."""
    owner: str = ""
    """Whose it is: a strategy id, or ``manual``/``api``... (``engine.domain.origin``)."""
    symbol: str = ""
    product: str = ""
    order_id: str = ""
    """The order the fill belongs to: the fills of one closing order make one trade."""

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"a fill's quantity must be above 0, not {self.quantity}")
        if self.price < 0:
            raise ValueError(f"a fill's price cannot be negative ({self.price} paise)")

    @property
    def slippage(self) -> Decimal:
        """Rupees; positive is a cost (worse than the reference)."""
        if self.reference is None:
            return ZERO
        return (self.price - Decimal(self.reference)) * self.quantity * self.side.sign / 100


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip: units opened by earlier fills and closed by one fill."""

    owner: str
    token: InstrumentToken
    symbol: str
    product: str
    side: Side
    """The opening side: BUY for a long trade, SELL for a short one."""
    quantity: int
    entry_ns: int
    """When the oldest lot it closes was opened."""
    exit_ns: int
    entry_paise: Fraction
    """Quantity-weighted entry price, paise, exact."""
    exit_paise: Fraction
    """Quantity-weighted exit price, paise, exact."""
    gross_paise: int
    """P&L before charges, paise, exact."""
    charges: Decimal
    slippage: Decimal

    @property
    def is_long(self) -> bool:
        return self.side is Side.BUY

    @property
    def entry_price(self) -> Decimal:
        return Decimal(self.entry_paise.numerator) / Decimal(self.entry_paise.denominator * 100)

    @property
    def exit_price(self) -> Decimal:
        return Decimal(self.exit_paise.numerator) / Decimal(self.exit_paise.denominator * 100)

    @property
    def gross(self) -> Decimal:
        return to_rupees(self.gross_paise)

    @property
    def net(self) -> Decimal:
        """P&L after the charges of both ends, rupees."""
        return self.gross - self.charges

    @property
    def holding_ns(self) -> int:
        return self.exit_ns - self.entry_ns


@dataclass(slots=True)
class OpenLot:
    """Units still open after the fills: the rest of one opening fill."""

    owner: str
    token: InstrumentToken
    symbol: str
    product: str
    side: Side
    ts_ns: int
    quantity: int
    price: int
    charges: Decimal
    """The part of the opening fill's charges these units still carry, rupees."""
    slippage: Decimal


@dataclass(slots=True)
class RoundTrips:
    trades: list[Trade] = field(default_factory=list)
    open_lots: list[OpenLot] = field(default_factory=list)

    @property
    def charges(self) -> Decimal:
        """Every fill's charges: the closed trades' and the open lots'."""
        closed = sum((t.charges for t in self.trades), ZERO)
        return closed + sum((lot.charges for lot in self.open_lots), ZERO)


def _share(amount: Decimal, part: int, whole: int) -> Decimal:
    if part == whole:
        return amount
    return (amount * part / whole).quantize(_SHARE)


def round_trips(fills: Iterable[TradeFill]) -> RoundTrips:
    """The trades the fills make, FIFO per (owner, instrument, product), in the fills' order
    (pass them in time order), and the lots still open at the end."""
    books: dict[tuple[str, int, str], deque[OpenLot]] = {}
    last_close: dict[tuple[str, int, str], tuple[int, str]] = {}
    """Per book: the index of its last trade and the order that closed it."""
    out = RoundTrips()
    for fill in fills:
        key = (fill.owner, fill.token, fill.product)
        lots = books.setdefault(key, deque())
        left = fill.quantity
        charges, slippage = fill.charges, fill.slippage
        if lots and lots[0].side is not fill.side:
            taken = min(left, sum(lot.quantity for lot in lots))
            closing_charges = _share(charges, taken, fill.quantity)
            closing_slippage = _share(slippage, taken, fill.quantity)
            trade = _close(lots, fill, taken, closing_charges, closing_slippage)
            previous = last_close.get(key)
            if previous is not None and fill.order_id and previous[1] == fill.order_id:
                trade = _merged(out.trades[previous[0]], trade)
                out.trades[previous[0]] = trade
            else:
                last_close[key] = (len(out.trades), fill.order_id)
                out.trades.append(trade)
            left -= taken
            charges -= closing_charges
            slippage -= closing_slippage
        if left:
            lots.append(
                OpenLot(
                    fill.owner,
                    fill.token,
                    fill.symbol,
                    fill.product,
                    fill.side,
                    fill.ts_ns,
                    left,
                    fill.price,
                    charges,
                    slippage,
                )
            )
    out.open_lots = [lot for lots in books.values() for lot in lots]
    return out


def _close(
    lots: deque[OpenLot], fill: TradeFill, quantity: int, charges: Decimal, slippage: Decimal
) -> Trade:
    side = lots[0].side
    entry_ns = lots[0].ts_ns
    cost = 0
    need = quantity
    while need:
        lot = lots[0]
        used = min(need, lot.quantity)
        lot_charges = _share(lot.charges, used, lot.quantity)
        lot_slippage = _share(lot.slippage, used, lot.quantity)
        charges += lot_charges
        slippage += lot_slippage
        lot.charges -= lot_charges
        lot.slippage -= lot_slippage
        cost += used * lot.price
        lot.quantity -= used
        need -= used
        if not lot.quantity:
            lots.popleft()
    exit_value = quantity * fill.price
    gross = (exit_value - cost) if side is Side.BUY else (cost - exit_value)
    return Trade(
        owner=fill.owner,
        token=fill.token,
        symbol=fill.symbol,
        product=fill.product,
        side=side,
        quantity=quantity,
        entry_ns=entry_ns,
        exit_ns=fill.ts_ns,
        entry_paise=Fraction(cost, quantity),
        exit_paise=Fraction(fill.price),
        gross_paise=gross,
        charges=charges,
        slippage=slippage,
    )


def _merged(first: Trade, then: Trade) -> Trade:
    """One trade from two closes by the same order (its later fill after the earlier)."""
    if first.side is not then.side:
        return then  # cannot happen: one order closes one side
    quantity = first.quantity + then.quantity
    return replace(
        first,
        quantity=quantity,
        exit_ns=then.exit_ns,
        entry_paise=(first.entry_paise * first.quantity + then.entry_paise * then.quantity)
        / quantity,
        exit_paise=(first.exit_paise * first.quantity + then.exit_paise * then.quantity) / quantity,
        gross_paise=first.gross_paise + then.gross_paise,
        charges=first.charges + then.charges,
        slippage=first.slippage + then.slippage,
    )
