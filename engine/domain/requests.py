"""Orders as they arrive, checked and converted into domain types before anything else happens.

Every entry point (the ticket, the API, scripts, strategies, later webhooks) hands its input here
first. What comes out is either an ``OrderRequest`` whose every field has its domain type (enums,
integer paise, a bounded whole quantity), or a reason the trader can read. Nothing that fails here
reaches the gate, a venue or the journal as a value: a refusal is journaled as its reason, which is
text and always encodes. The gate's own checks (lot size, tick size, bands, limits) come after.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from engine.domain.ids import InstrumentToken
from engine.domain.orders import OrderRequest, OrderType, Product, Side, Validity
from engine.domain.values import Paise, PriceError, to_paise

MAX_QUANTITY = 100_000_000
"""Far above any freeze quantity: a bound that keeps absurd numbers out of the arithmetic."""
MAX_PRICE_PAISE = 10**12
"""₹1,000 crore a unit: above any listed price."""
MAX_TOKEN = 2**63 - 1
MAX_TAG_LENGTH = 20
"""Kite's order tag is at most 20 characters."""
MAX_SOURCE_LENGTH = 64
_SHOWN = 40
"""How much of a refused value the reason quotes."""

E = TypeVar("E", bound=StrEnum)


class InputError(ValueError):
    """An order field that is not a value of its kind; the message is the trader's reason and
    ``check`` names the field the way the gate names its checks (``quantity``, ``price``...)."""

    def __init__(self, reason: str, check: str = "input") -> None:
        super().__init__(reason)
        self.check = check


def shown(value: object) -> str:
    """A short, printable quotation of a refused value for a reason."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not break the refusal
        text = f"<{type(value).__name__}>"
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def token_of(value: object) -> InstrumentToken:
    if _is_int(value) and 0 < value <= MAX_TOKEN:  # type: ignore[operator]
        return InstrumentToken(int(value))  # type: ignore[call-overload]
    if isinstance(value, str) and value.strip().isdigit():
        return token_of(int(value.strip()))
    raise InputError(
        f"instrument token must be a positive whole number, not {shown(value)}", "instrument"
    )


def quantity_of(value: object, what: str = "quantity") -> int:
    if _is_int(value) and 0 < value <= MAX_QUANTITY:  # type: ignore[operator]
        return int(value)  # type: ignore[call-overload]
    if _is_int(value):
        bound = "positive" if value <= 0 else f"at most {MAX_QUANTITY:,}"  # type: ignore[operator]
        raise InputError(f"{what} {value} must be {bound}", "quantity")
    if isinstance(value, float | Decimal) and _finite(value) and value == int(value):
        return quantity_of(int(value), what)  # 65.0 from JSON is 65
    raise InputError(f"{what} must be a whole number of units, not {shown(value)}", "quantity")


def _finite(value: float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def enum_of(kind: type[E], value: object, what: str) -> E:
    if type(value) is kind:
        return value
    if isinstance(value, str):
        text = value.strip().upper().replace("_", "-") if kind is OrderType else value.strip()
        try:
            return kind(text.upper())
        except ValueError:
            pass
    choices = ", ".join(member.value for member in kind)
    raise InputError(f"{what} must be one of {choices}, not {shown(value)}", what.replace(" ", "_"))


def paise_of(value: object, what: str) -> Paise | None:
    """A price already in paise (an ``OrderRequest`` field): None, or a positive whole number."""
    if value is None:
        return None
    if _is_int(value) and 0 < value <= MAX_PRICE_PAISE:  # type: ignore[operator]
        return Paise(int(value))  # type: ignore[call-overload]
    raise InputError(
        f"{what} must be a positive whole number of paise, not {shown(value)}", _price_check(what)
    )


def rupees_to_paise(value: object, what: str) -> Paise | None:
    """A price in rupees (``Decimal('101.05')``, ``'101.05'``, 101): None, or exact paise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InputError(
            f"{what} must be a price in rupees, not {shown(value)}", _price_check(what)
        )
    try:
        paise = to_paise(value)
    except PriceError as exc:
        raise InputError(f"{what}: {exc}", _price_check(what)) from None
    return paise_of(paise, what)


def _price_check(what: str) -> str:
    return "trigger" if what.startswith("trigger") else "price"


def text_of(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InputError(f"{what} must be text, not {shown(value)}")
    if len(value) > limit:
        raise InputError(f"{what} is longer than {limit} characters: {shown(value)}")
    if not value.isprintable():
        raise InputError(f"{what} has characters that cannot be shown: {shown(value)}")
    return value


def _is_clean(request: OrderRequest) -> bool:
    """The usual case, without a call per field: every field already of its domain type."""
    quantity = request.quantity
    price = request.price
    trigger = request.trigger_price
    return (
        type(request.side) is Side
        and type(request.order_type) is OrderType
        and type(request.product) is Product
        and type(request.validity) is Validity
        and type(quantity) is int
        and 0 < quantity <= MAX_QUANTITY
        and type(request.token) is int
        and 0 < request.token <= MAX_TOKEN
        and (price is None or (type(price) is int and 0 < price <= MAX_PRICE_PAISE))
        and (trigger is None or (type(trigger) is int and 0 < trigger <= MAX_PRICE_PAISE))
        and type(request.tag) is str
        and len(request.tag) <= MAX_TAG_LENGTH
        and type(request.source) is str
        and len(request.source) <= MAX_SOURCE_LENGTH
    )


def checked_request(request: object) -> OrderRequest:
    """``request`` as a valid ``OrderRequest`` (str enums converted); ``InputError`` if not."""
    if type(request) is not OrderRequest:
        raise InputError(f"an order must be an OrderRequest, not {shown(request)}")
    if _is_clean(request) and request.tag.isprintable() and request.source.isprintable():
        return request
    return OrderRequest(
        token=token_of(request.token),
        side=enum_of(Side, request.side, "side"),
        quantity=quantity_of(request.quantity),
        order_type=enum_of(OrderType, request.order_type, "order type"),
        product=enum_of(Product, request.product, "product"),
        validity=enum_of(Validity, request.validity, "validity"),
        price=paise_of(request.price, "price"),
        trigger_price=paise_of(request.trigger_price, "trigger price"),
        tag=text_of(request.tag, "tag", MAX_TAG_LENGTH),
        source=text_of(request.source, "source", MAX_SOURCE_LENGTH),
    )


def request_from_rupees(
    token: object,
    side: object,
    quantity: object,
    order_type: object,
    *,
    product: object,
    validity: object,
    price: object,
    trigger_price: object,
    tag: object,
    source: object,
) -> OrderRequest:
    """An order whose prices are in rupees, checked field by field; ``InputError`` if any is
    wrong."""
    return OrderRequest(
        token=token_of(token),
        side=enum_of(Side, side, "side"),
        quantity=quantity_of(quantity),
        order_type=enum_of(OrderType, order_type, "order type"),
        product=enum_of(Product, product, "product"),
        validity=enum_of(Validity, validity, "validity"),
        price=rupees_to_paise(price, "price"),
        trigger_price=rupees_to_paise(trigger_price, "trigger price"),
        tag=text_of(tag, "tag", MAX_TAG_LENGTH),
        source=text_of(source, "source", MAX_SOURCE_LENGTH),
    )


def optional(convert: Callable[..., Any], value: object, *args: Any) -> Any:
    """``convert(value, *args)``, or None for None."""
    return None if value is None else convert(value, *args)
