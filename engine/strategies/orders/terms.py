"""The terms every advanced order is checked against before anything is placed: the instrument,
a whole number of lots, prices in rupees on the tick grid, and stops and targets on the side of
the market where they make sense. Every problem is a ``TermsError`` that says what is wrong."""

from __future__ import annotations

from decimal import Decimal

from engine.domain.instruments import Instrument
from engine.domain.orders import Product, Side
from engine.domain.requests import InputError, enum_of, quantity_of, rupees_to_paise
from engine.domain.values import Paise, rupees_text
from engine.strategies.ports import Instruments


class TermsError(ValueError):
    """An advanced order that cannot be placed as given; the text says why."""


def instrument_of(instruments: Instruments, token: object) -> Instrument:
    if isinstance(token, bool) or not isinstance(token, int):
        raise TermsError(f"instrument must be an instrument token, not {token!r}")
    instrument = instruments.find(token)
    if instrument is None:
        raise TermsError(f"no instrument {token} on this desk")
    if not instrument.tradable:
        raise TermsError(f"{instrument.tradingsymbol} is an index and cannot be traded")
    return instrument


def side_of(value: object, what: str = "side") -> Side:
    try:
        return enum_of(Side, value, what)
    except InputError as problem:
        raise TermsError(str(problem)) from None


def product_of(value: object) -> Product:
    try:
        return enum_of(Product, value, "product")
    except InputError as problem:
        raise TermsError(str(problem)) from None


def lots_quantity(value: object, instrument: Instrument) -> int:
    try:
        quantity = quantity_of(value)
    except InputError as problem:
        raise TermsError(str(problem)) from None
    if quantity % instrument.lot_size:
        raise TermsError(
            f"quantity {quantity} is not a whole number of lots of {instrument.lot_size} "
            f"({instrument.tradingsymbol})"
        )
    return quantity


def price_of(value: object, what: str, instrument: Instrument) -> Paise:
    try:
        paise = rupees_to_paise(value, what)
    except InputError as problem:
        raise TermsError(str(problem)) from None
    if paise is None:
        raise TermsError(f"{what} is missing")
    if paise % instrument.tick_size:
        raise TermsError(
            f"{what} {rupees_text(paise)} is not on the tick of {rupees_text(instrument.tick_size)} "
            f"({instrument.tradingsymbol})"
        )
    return paise


def optional_price(value: object, what: str, instrument: Instrument) -> Paise | None:
    return None if value is None or value == "" else price_of(value, what, instrument)


def exit_side(position_side: Side) -> Side:
    """The side that closes a position held on ``position_side``."""
    return Side.SELL if position_side is Side.BUY else Side.BUY


def check_exit_levels(
    holding: Side, reference: int, *, stop: int | None, target: int | None, where: str
) -> None:
    """A long position's stop below and target above ``reference`` (a short's the other way);
    ``where`` names the reference ("the entry price ₹101.00", "the last price ₹99.50")."""
    long = holding is Side.BUY
    if stop is not None and (stop >= reference if long else stop <= reference):
        side = "below" if long else "above"
        raise TermsError(
            f"the stop-loss {rupees_text(stop)} is on the wrong side: a "
            f"{'long' if long else 'short'} position's stop must be {side} {where}"
        )
    if target is not None and (target <= reference if long else target >= reference):
        side = "above" if long else "below"
        raise TermsError(
            f"the target {rupees_text(target)} is on the wrong side: a "
            f"{'long' if long else 'short'} position's target must be {side} {where}"
        )


def rupees(paise: int) -> Decimal:
    return Decimal(paise) / 100
