"""Orders and commands as they arrive, checked and converted into domain types first.

Every entry point (the ticket, the API, scripts, strategies, later webhooks) hands its input here
first. What comes out is either an ``OrderRequest`` whose every field has its domain type (enums,
integer paise, a bounded whole quantity), or a reason the trader can read. Nothing that fails here
reaches the gate, a venue or the journal as a value: a refusal is journaled as its reason and a
quotation of what was asked (``asked_text``), both printable text that always encodes and decodes.
The gate's own checks (lot size, tick size, bands, limits) come after.

Free text that goes with a command (a kill switch's reason) is never a reason to refuse the
command: ``note_of`` makes it printable, bounded text instead.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from dataclasses import fields
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, TypeVar

from engine.domain.ids import InstrumentToken
from engine.domain.orders import OrderRequest, OrderType, Product, Side, Validity
from engine.domain.origin import MAX_STRATEGY_ID, OrderSource, StrategyId, is_strategy_id
from engine.domain.values import Paise, PriceError, to_paise

MAX_QUANTITY = 100_000_000
"""Far above any freeze quantity: a bound that keeps absurd numbers out of the arithmetic."""
MAX_PRICE_PAISE = 10**12
"""₹1,000 crore a unit: above any listed price."""
MAX_TOKEN = 2**63 - 1
MAX_TAG_LENGTH = 20
"""Kite's order tag is at most 20 characters."""
MAX_SOURCE_LENGTH = 64
MAX_NAME_LENGTH = 64
"""An order id, an account or an underlying named in a command."""
MAX_NOTE_LENGTH = 200
"""The free text of a command (a kill switch's reason), as journaled."""
_MAX_PRICE_TEXT = 32
"""Longer text is not a price; parsing it is not even tried."""
_SHOWN = 40
"""How much of a refused value the reason quotes."""
_HUGE_BITS = 100
"""Integers longer than this (about 30 digits) are quoted by their size, not their digits."""

_quoting = reprlib.Repr()  # bounded work and length, however big or nested the value
_quoting.maxlevel = 2
_quoting.maxdict = _quoting.maxlist = _quoting.maxtuple = _quoting.maxset = 4
_quoting.maxstring = _quoting.maxother = _SHOWN

E = TypeVar("E", bound=StrEnum)


class InputError(ValueError):
    """An order field that is not a value of its kind; the message is the trader's reason and
    ``check`` names the field the way the gate names its checks (``quantity``, ``price``...)."""

    def __init__(self, reason: str, check: str = "input") -> None:
        super().__init__(reason)
        self.check = check


def shown(value: object, limit: int = _SHOWN) -> str:
    """A short, printable quotation of a refused value for a reason (never raises)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _HUGE_BITS:
        digits = int(value.bit_length() * 0.30103) + 1  # log10(2): no str() of a huge number
        return f"a number of about {digits:,} digits"
    try:
        text = _quoting.repr(value)
    except Exception:  # a hostile __repr__ must not break the refusal
        text = f"<{type(value).__name__}>"
    return printable(text, limit)


def printable(text: str, limit: int) -> str:
    """``text`` with what cannot be shown (controls, lone surrogates...) as ``?``, at most
    ``limit`` characters: always encodes as UTF-8 and JSON."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def token_of(value: object) -> InstrumentToken:
    if _is_int(value) and 0 < value <= MAX_TOKEN:  # type: ignore[operator]
        return InstrumentToken(int(value))  # type: ignore[call-overload]
    if isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit() and len(digits) <= 19:
            return token_of(int(digits))
    raise InputError(
        f"instrument token must be a positive whole number, not {shown(value)}", "instrument"
    )


def quantity_of(value: object, what: str = "quantity") -> int:
    if _is_int(value) and 0 < value <= MAX_QUANTITY:  # type: ignore[operator]
        return int(value)  # type: ignore[call-overload]
    if _is_int(value):
        bound = "positive" if value <= 0 else f"at most {MAX_QUANTITY:,}"  # type: ignore[operator]
        raise InputError(f"{what} {shown(value)} must be {bound}", "quantity")
    if isinstance(value, float | Decimal) and _whole_quantity(value):
        return quantity_of(int(value), what)  # 65.0 from JSON is 65
    raise InputError(f"{what} must be a whole number of units, not {shown(value)}", "quantity")


def _whole_quantity(value: float | Decimal) -> bool:
    finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
    # Bounded before int(): Decimal('1e999999') would be a million digits.
    return finite and abs(float(value)) <= MAX_QUANTITY and value == int(value)


_SPELLINGS: dict[type[Enum], dict[str, Enum]] = {}
"""Per enum: each member by its value casefolded (BUY, buy; MANUAL, manual; SL-M, sl_m)."""


def enum_of(kind: type[E], value: object, what: str) -> E:
    if type(value) is kind:
        return value
    if isinstance(value, str):
        spellings = _SPELLINGS.get(kind)
        if spellings is None:
            spellings = _SPELLINGS[kind] = {
                str(member.value).casefold().replace("_", "-"): member for member in kind
            }
        member = spellings.get(value.strip().casefold().replace("_", "-"))
        if member is not None:
            return member  # type: ignore[return-value]
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
    if not _may_be_rupees(value):
        raise InputError(
            f"{what} must be a price in rupees, not {shown(value)}", _price_check(what)
        )
    try:
        paise = to_paise(value)  # type: ignore[arg-type]
    except (PriceError, ArithmeticError):
        raise InputError(
            f"{what} must be a price in rupees to the paisa, not {shown(value)}",
            _price_check(what),
        ) from None
    return paise_of(paise, what)


def _may_be_rupees(value: object) -> bool:
    """Cheap bounds before any parsing, so no input makes the conversion slow or overflow."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= MAX_PRICE_PAISE
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= MAX_PRICE_PAISE
    if isinstance(value, Decimal):
        return value.is_finite() and value.adjusted() <= 12
    return isinstance(value, str) and len(value) <= _MAX_PRICE_TEXT


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
        and type(request.source) is OrderSource
        and _strategy_fits(request.source, request.strategy)
        and type(request.square_off) is bool
    )


def checked_request(request: object) -> OrderRequest:
    """``request`` as a valid ``OrderRequest`` (str enums converted); ``InputError`` if not."""
    if type(request) is not OrderRequest:
        raise InputError(f"an order must be an OrderRequest, not {shown(request)}")
    if _is_clean(request) and request.tag.isprintable():
        return request
    source, strategy = origin_of(request.source, request.strategy)
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
        source=source,
        strategy=strategy,
        square_off=request.square_off is True,
    )


def _strategy_fits(source: OrderSource, strategy: object) -> bool:
    if strategy is None:
        return source is not OrderSource.STRATEGY
    return type(strategy) is str and source in _NAMED and is_strategy_id(strategy)


_NAMED = (OrderSource.STRATEGY, OrderSource.SIGNAL)


_ORIGINS: dict[tuple[str, str | None], tuple[OrderSource, StrategyId | None]] = {}
"""Origins already checked: a strategy names itself the same way on every order."""
_ORIGINS_KEPT = 4096


def origin_of(source: object, strategy: object = None) -> tuple[OrderSource, StrategyId | None]:
    """Source and strategy of an order, checked: a strategy's orders name it, others may not
    (a signal may name the strategy it is routed to); ``InputError`` if not."""
    if type(source) in (str, OrderSource) and (strategy is None or type(strategy) is str):
        key = (source, strategy)
        known = _ORIGINS.get(key)  # type: ignore[arg-type]
        if known is None:
            known = _check_origin(source, strategy)
            if len(_ORIGINS) >= _ORIGINS_KEPT:
                _ORIGINS.clear()
            _ORIGINS[key] = known  # type: ignore[index]
        return known
    return _check_origin(source, strategy)


def _check_origin(source: object, strategy: object) -> tuple[OrderSource, StrategyId | None]:
    if isinstance(source, str) and not isinstance(source, OrderSource) and ":" in source:
        # The older ``strategy:<name>`` spelling scripts may still pass.
        source, _, named = source.partition(":")
        strategy = named if strategy is None else strategy
    checked = enum_of(OrderSource, source, "source")
    if strategy is None:
        if checked is OrderSource.STRATEGY:
            raise InputError("a strategy's order must name its strategy id", "source")
        return checked, None
    if checked not in _NAMED:
        raise InputError(
            f"only strategy and signal orders name a strategy, not a {checked.value} order",
            "source",
        )
    if type(strategy) is not str or not is_strategy_id(strategy):
        raise InputError(
            f"strategy id {shown(strategy)} must be 1 to {MAX_STRATEGY_ID} letters, digits or "
            "'-_.'",
            "source",
        )
    return checked, StrategyId(strategy)


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
    strategy: object = None,
) -> OrderRequest:
    """An order whose prices are in rupees, checked field by field; ``InputError`` if any is
    wrong."""
    origin = origin_of(source, strategy)
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
        source=origin[0],
        strategy=origin[1],
    )


def asked_text(request: object = None, /, **asked: object) -> str:
    """What a refused order asked for, quoted field by field as printable text: the journal keeps
    it beside the reason (the refused values themselves may not encode)."""
    if type(request) is OrderRequest:
        asked = {f.name: getattr(request, f.name) for f in fields(OrderRequest)}
    elif request is not None or not asked:
        return shown(request, MAX_NOTE_LENGTH * 2)
    return " ".join(f"{name}={_field_text(value)}" for name, value in asked.items())


def _field_text(value: object) -> str:
    if isinstance(value, Enum) and isinstance(value.value, str):
        return value.value
    return shown(value)


def name_of(value: object, what: str, check: str = "input") -> str:
    """An id or a name in a command (an order id, an account, an underlying): printable text."""
    if isinstance(value, str) and 0 < len(value) <= MAX_NAME_LENGTH and value.isprintable():
        return value
    raise InputError(f"{what} must be a short name in text, not {shown(value)}", check)


def note_of(value: object) -> str:
    """The free text of a command, as printable bounded text; anything else becomes its
    quotation. Never refuses: a kill switch must not fail for the words that go with it."""
    if isinstance(value, str):
        return printable(value, MAX_NOTE_LENGTH)
    return "" if value is None else shown(value, MAX_NOTE_LENGTH)


def settings_of(value: object) -> Mapping[str, Any]:
    """Risk settings in their mapping form, checked for shape: sections of mappings whose keys
    (limit names, accounts, underlyings) are names in text and whose values are plain values the
    journal holds (None, a switch, a bounded finite number, a short word). Whether a value suits
    its limit is the risk layer's to check."""
    if not isinstance(value, Mapping):
        raise InputError(f"risk settings must be a mapping of sections, not {shown(value)}")
    for section, content in value.items():
        name_of(section, "a risk settings section")
        _settings_section(content, f"risk settings {section}", nested=section != "defaults")
    return value


def _settings_section(content: object, what: str, *, nested: bool) -> None:
    if not isinstance(content, Mapping):
        raise InputError(f"{what} must be a mapping, not {shown(content)}")
    for key, inner in content.items():
        name_of(key, f"a name in {what}")
        if nested:
            _settings_section(inner, f"{what} {key}", nested=False)
        elif not _plain_setting(inner):
            raise InputError(
                f"{what} {key} must be a number, a switch or a word, not {shown(inner)}"
            )


def _plain_setting(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value.bit_length() < 64
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) < 1e18
    if isinstance(value, Decimal):
        return value.is_finite() and value.adjusted() < 18
    return isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and value.isprintable()


CLIENT_ID_MARK = "#"
"""In a local API order's journaled tag, between the script's own tag and its
``client_order_id`` (the key a retried placement is known by)."""


def split_tag(tag: str, source: object) -> tuple[str, str]:
    """An order's journaled tag as its own tag and the script's ``client_order_id`` ('' for
    none); only the local API's orders carry one."""
    if source not in (OrderSource.API, OrderSource.API.value):
        return tag, ""
    own, mark, client_order_id = tag.rpartition(CLIENT_ID_MARK)
    return (own, client_order_id) if mark else (tag, "")
