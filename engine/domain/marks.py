"""Marks: the prices a P&L was worked out at, journaled so every P&L the desk shows can be rebuilt.

A position's realised P&L and charges follow from its fills alone; its unrealised and day P&L also
need the price it was marked at and the previous close. When the desk states a P&L that lasts (the
end of a session, the headless runner's summary), it journals those prices first as one
``pnl_marks`` row; the book's fills before that row plus the row itself give back every figure,
exactly (``engine.store.pnl_rebuild``).

Payload of a ``pnl_marks`` row (prices in integer paise, as everywhere in the journal)::

    {"reason": "session_end", "trade_date": {"$date": "2026-11-23"},
     "marks": [{"token": 12073986, "product": "NRML", "symbol": "NIFTY26NOVFUT",
                "net_quantity": 65, "ltp": 2431055, "close": 2425000}, ...]}

One entry per position the book holds, flat ones included. ``ltp`` null means no price was seen:
the position's unrealised P&L is then not counted (shown as 0, its P&L is its realised P&L), as in
the positions table. ``close`` is the previous close the day P&L was marked from (the ltp when the
feed gave none). ``net_quantity`` is what the desk held, a check for whoever rebuilds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from engine.domain.ids import InstrumentToken
from engine.domain.orders import Product
from engine.domain.positions import Position
from engine.domain.ticks import Tick, previous_close
from engine.domain.values import ZERO, Paise, round_paisa, rupees_text

SESSION_END = "session_end"
"""The desk (or the headless runner) stopping: the prices of its last P&L."""
DAY_END = "day_end"
"""The market closing for the day: the prices of the day's P&L."""

_PAISA = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Mark:
    """The prices one position was marked at."""

    token: InstrumentToken
    product: Product
    net_quantity: int
    ltp: Paise | None
    close: Paise | None
    symbol: str = ""

    def to_payload(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "product": self.product.value,
            "symbol": self.symbol,
            "net_quantity": self.net_quantity,
            "ltp": self.ltp,
            "close": self.close,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Mark:
        return cls(
            InstrumentToken(_integer(payload["token"], "token")),
            Product(payload["product"]),
            _integer(payload["net_quantity"], "net_quantity"),
            _paise_or_none(payload["ltp"], "ltp"),
            _paise_or_none(payload["close"], "close"),
            str(payload.get("symbol", "")),
        )


@dataclass(frozen=True, slots=True)
class PnlMarks:
    """One ``pnl_marks`` journal row: every position's marks at one moment."""

    kind: ClassVar[str] = "pnl_marks"
    ts_ns: int
    reason: str
    trade_date: date
    """The day the day P&L is of (the position book's today)."""
    marks: tuple[Mark, ...]

    def to_payload(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "trade_date": self.trade_date,
            "marks": [mark.to_payload() for mark in self.marks],
        }

    @classmethod
    def from_payload(cls, ts_ns: int, payload: dict[str, Any]) -> PnlMarks:
        trade_date = payload["trade_date"]
        if not isinstance(trade_date, date):
            raise TypeError(f"trade_date {trade_date!r} is not a date")
        return cls(
            ts_ns,
            str(payload["reason"]),
            trade_date,
            tuple(Mark.from_payload(mark) for mark in payload["marks"]),
        )

    def mark_of(self, token: InstrumentToken, product: Product) -> Mark | None:
        for mark in self.marks:
            if mark.token == token and mark.product is product:
                return mark
        return None


def marks_of(
    positions: Iterable[Position],
    quote: Callable[[InstrumentToken], Tick | None],
    *,
    ts_ns: int,
    reason: str,
    trade_date: date,
    symbol: Callable[[InstrumentToken], str] = lambda _token: "",
) -> PnlMarks:
    """The marks of every position at the quotes now in ``quote``."""
    marks = []
    for position in positions:
        tick = quote(position.token)
        ltp = None if tick is None else Paise(tick.ltp)
        close = None if tick is None else Paise(previous_close(tick, trade_date) or tick.ltp)
        marks.append(
            Mark(
                position.token,
                position.product,
                position.net_quantity,
                ltp,
                close,
                symbol(position.token),
            )
        )
    return PnlMarks(ts_ns, reason, trade_date, tuple(marks))


@dataclass(frozen=True, slots=True)
class PositionPnl:
    """One position's P&L at its mark, rupees, exact (charges as charged, to the fraction)."""

    token: InstrumentToken
    product: Product
    symbol: str
    net_quantity: int
    ltp: Paise | None
    realised: Decimal
    unrealised: Decimal
    pnl: Decimal
    charges: Decimal
    net_pnl: Decimal
    day_pnl: Decimal

    def to_json(self) -> dict[str, Any]:
        """As the desk prints it: every amount, the last price too, exact rupees as a decimal
        string (``money_text``)."""
        return {
            "token": int(self.token),
            "product": self.product.value,
            "symbol": self.symbol,
            "net_quantity": self.net_quantity,
            "ltp": None if self.ltp is None else rupees_text(self.ltp),
            "realised": money_text(self.realised),
            "unrealised": money_text(self.unrealised),
            "pnl": money_text(self.pnl),
            "charges": money_text(self.charges),
            "net_pnl": money_text(self.net_pnl),
            "day_pnl": money_text(self.day_pnl),
        }


@dataclass(frozen=True, slots=True)
class BookPnl:
    """Every position's P&L and the totals, at one set of marks."""

    positions: tuple[PositionPnl, ...]

    @property
    def pnl(self) -> Decimal:
        return sum((p.pnl for p in self.positions), ZERO)

    @property
    def charges(self) -> Decimal:
        return sum((p.charges for p in self.positions), ZERO)

    @property
    def net_pnl(self) -> Decimal:
        return self.pnl - self.charges

    @property
    def day_pnl(self) -> Decimal:
        return sum((p.day_pnl for p in self.positions), ZERO)

    def totals(self) -> dict[str, str]:
        """The totals as the desk prints them: to the paisa, half up (P&L is whole paise
        already; charges are not)."""
        return {
            "pnl": str(round_paisa(self.pnl)),
            "charges": str(round_paisa(self.charges)),
            "net_pnl": str(round_paisa(self.net_pnl)),
            "day_pnl": str(round_paisa(self.day_pnl)),
        }


def money_text(amount: Decimal) -> str:
    """An exact amount as text: two decimals when it is whole paise, every digit when not
    (charges are exact fractions of a paisa until a contract note rounds them)."""
    paise = amount.quantize(_PAISA)
    return str(paise if paise == amount else amount)


def paisa_text(value: object) -> str:
    """A report's amount (``money_text``'s exact text) to the paisa, as a statement shows it
    (half up, the contract note's rounding); the value as it is when it is no number."""
    try:
        return str(round_paisa(Decimal(str(value))))
    except InvalidOperation:
        return "?" if value is None else str(value)


class MarksMismatch(ValueError):
    """The marks do not describe the positions they are applied to."""


def position_pnl(position: Position, mark: Mark) -> PositionPnl:
    """A position's P&L at its mark, by the positions table's rules."""
    if mark.net_quantity != position.net_quantity:
        raise MarksMismatch(
            f"{mark.token} {mark.product}: marked holding {mark.net_quantity}, "
            f"the fills give {position.net_quantity}"
        )
    ltp = mark.ltp
    if ltp is None:
        # No price seen: an open quantity is not valued (the trader sees no LTP either).
        pnl = position.realised if position.net_quantity else position.pnl(0)
        day_pnl = position.realised
    else:
        pnl = position.pnl(ltp)
        day_pnl = position.day_pnl(ltp, mark.close if mark.close is not None else ltp)
    return PositionPnl(
        position.token,
        position.product,
        mark.symbol,
        position.net_quantity,
        ltp,
        position.realised,
        pnl - position.realised,
        pnl,
        position.charges,
        pnl - position.charges,
        day_pnl,
    )


def book_pnl(positions: Iterable[Position], marks: PnlMarks) -> BookPnl:
    """Every position's P&L at ``marks``; each position must have exactly one mark."""
    held = list(positions)
    keys = {(p.token, p.product) for p in held}
    marked = {(m.token, m.product) for m in marks.marks}
    if keys != marked or len(marked) != len(marks.marks):
        raise MarksMismatch(
            f"marks for {len(marks.marks)} position(s) do not match the {len(held)} held "
            f"(unmarked: {sorted(keys - marked)}, marked but not held: {sorted(marked - keys)})"
        )
    results = []
    for position in held:
        mark = marks.mark_of(position.token, position.product)
        assert mark is not None
        results.append(position_pnl(position, mark))
    return BookPnl(tuple(results))


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} {value!r} is not an integer")
    return value


def _paise_or_none(value: Any, name: str) -> Paise | None:
    return None if value is None else Paise(_integer(value, name))
