"""A TradingView alert as a signal: the message body, checked field by field, and the symbol
mapped to one of the desk's instruments.

TradingView posts the alert's message text as the body, as JSON when it parses as JSON (else as
``text/plain``: a placeholder that rendered empty turns JSON into text), with no header of the
trader's own; so the passphrase travels in the body, and every placeholder is best sent quoted
(``"qty": "{{strategy.order.contracts}}"``) and converted here. The message the desk's Pine
templates send::

    {"passphrase": "…", "id": "{{strategy.order.id}}-{{time}}", "strategy": "ema-9-21",
     "symbol": "{{exchange}}:{{ticker}}", "action": "{{strategy.order.action}}", "lots": "1",
     "price": "{{close}}", "fired": "{{timenow}}", "bar": "{{time}}"}

Symbols: ``NSE:RELIANCE`` (a stock), ``NSE:NIFTY1!`` / ``NIFTY2!`` (the nearest / next future),
``NSE:NIFTY260127C23000`` (an option: underlying, YYMMDD expiry, C or P, strike), and the desk's
own trading symbols (``NFO:NIFTY26DECFUT``). The mapping goes through the desk's instrument list,
never through string surgery: ``NIFTY1!`` has no expiry in it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.domain.instruments import Exchange, Instrument, InstrumentType
from engine.marketdata.instrument_registry import InstrumentRegistry

TRADINGVIEW_ADDRESSES = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
"""Where TradingView's webhooks come from (its help centre's list)."""
MAX_BODY_BYTES = 64 * 1024
"""A TradingView message is at most 40,960 characters; anything larger is not one."""
BODY_TIMEOUT_S = 10.0
"""A request's body arrives within this or is refused (408): a sender that stalls mid-message
holds no connection for good."""
MAX_LOTS = 10_000
PORTFOLIO_ACTIONS = frozenset({"start", "stop", "square_off"})

_CONTINUOUS = re.compile(r"^(?P<root>[A-Z0-9&-]+?)(?P<n>[12])!$")
_TV_OPTION = re.compile(
    r"^(?P<root>[A-Z&-]+?)(?P<yymmdd>\d{6})(?P<kind>[CP])(?P<strike>\d+(?:\.\d+)?)$"
)


class SignalRefused(ValueError):
    """A body or a symbol the desk does not act on; ``status`` is the HTTP answer (4xx)."""

    def __init__(self, reason: str, status: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class TradingViewAlert(BaseModel):
    """The fields of an alert message (strings from placeholders are converted)."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    passphrase: str = Field(default="", max_length=200)
    id: str = Field(default="", max_length=120, description="The sender's id for this signal")
    strategy: str = Field(default="tradingview", pattern=r"^[A-Za-z0-9._-]{1,48}$")
    symbol: str = Field(default="", max_length=60)
    action: Literal[
        "buy", "sell", "le", "lx", "se", "sx", "exit", "start", "stop", "square_off"
    ] = Field(
        description="buy / sell: an order of the lots; le, se: enter long / short (reversing a "
        "position on the other side); lx, sx: exit the long / short; exit: flatten; start, stop, "
        "square_off: the multileg portfolio named in ``portfolio``"
    )
    portfolio: str = Field(default="", max_length=40)
    lots: int = Field(default=1, ge=1, le=MAX_LOTS)
    order_type: Literal["MARKET", "LIMIT"] = "MARKET"
    price: Decimal | None = Field(default=None, gt=0, lt=Decimal(10_000_000))
    product: Literal["MIS", "NRML", "CNC"] = "MIS"
    fired: datetime | None = None
    """When the alert fired ({{timenow}}, UTC): the staleness check."""
    bar: str = Field(default="", max_length=40)
    """The bar's time ({{time}}): with the strategy and symbol, the signal's id when none given."""

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        word = value.strip().lower().replace("-", "_")
        return "square_off" if word == "squareoff" else word

    @model_validator(mode="after")
    def _target(self) -> TradingViewAlert:
        if self.action in PORTFOLIO_ACTIONS:
            if not self.portfolio:
                raise ValueError(f"a {self.action} signal names its portfolio")
        elif not self.symbol:
            raise ValueError("an order signal names its symbol")
        return self

    @property
    def on_portfolio(self) -> bool:
        return self.action in PORTFOLIO_ACTIONS

    @field_validator("id", "bar", mode="after")
    @classmethod
    def _shown(cls, value: str) -> str:
        # The id is journaled, shown and put on the order's tag: it must read as it was sent.
        if not value.isprintable():
            raise ValueError("has characters that cannot be shown (controls, zero-width marks)")
        return value

    @field_validator("order_type", "product", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, float):
            return str(value)  # the decimal the sender wrote, not the float's binary neighbour
        return value

    @field_validator("fired", mode="after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # TradingView's times are UTC ("…Z")
        return value

    def signal_id(self) -> str:
        """The sender's id, else one made from strategy, symbol, action and bar: a resend of the
        same alert for the same bar is the same signal."""
        if self.id:
            return self.id
        key = f"{self.strategy}|{self.symbol or self.portfolio}|{self.action}|{self.bar or self.fired}"
        return "tv-" + hashlib.sha256(key.encode()).hexdigest()[:16]

    def detail(self) -> dict[str, Any]:
        return {
            "source": "tradingview",
            "symbol": self.symbol,
            "portfolio": self.portfolio,
            "action": self.action,
            "lots": self.lots,
            "order_type": self.order_type,
            "price": None if self.price is None else str(self.price),
            "product": self.product,
            "fired": None if self.fired is None else self.fired.isoformat(),
        }


def field_problems(error: ValidationError, *, whole: str) -> str:
    """The first five problems of ``error``, each at its field path (``whole`` names the body
    itself when a problem has no field)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or whole}: {item['msg']}"
        for item in error.errors(include_url=False)[:5]
    )


def parse_alert(body: bytes) -> TradingViewAlert:
    """The alert in ``body`` (JSON whatever the content type); ``SignalRefused`` says what is
    wrong, naming the fields."""
    if len(body) > MAX_BODY_BYTES:
        raise SignalRefused(f"the message is {len(body):,} bytes; a signal is at most 64 KB", 413)
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise SignalRefused("the message is not UTF-8 text", 400) from None
    except json.JSONDecodeError as problem:
        raise SignalRefused(
            f"the message is not JSON (line {problem.lineno}, column {problem.colno}: "
            f"{problem.msg}); a placeholder that rendered empty can break it, quote each one",
            400,
        ) from None
    except RecursionError:
        raise SignalRefused("the message is nested too deeply to be a signal", 400) from None
    except ValueError as problem:  # a number of thousands of digits
        raise SignalRefused(f"the message cannot be read: {problem}", 400) from None
    if not isinstance(data, dict):
        raise SignalRefused("the message should be a JSON object of the signal's fields", 400)
    try:
        return TradingViewAlert.model_validate(data)
    except ValidationError as error:
        problems = field_problems(error, whole="message")
        raise SignalRefused(f"the signal's fields are wrong: {problems}", 422) from None
    except (ValueError, ArithmeticError) as error:  # a number no Decimal can hold, and kin
        raise SignalRefused(f"the signal's fields are wrong: {error}", 422) from None


def check_named(alert: TradingViewAlert) -> TradingViewAlert:
    """``alert`` when it can be told from the next one: it has an id, or its bar or the time it
    fired. ``SignalRefused`` otherwise: every such alert of a strategy, symbol and side would be
    one signal, and each after the first a duplicate, never placed."""
    if not alert.id and not alert.bar and alert.fired is None:
        raise SignalRefused("give the signal an id (the same id again for a resend)")
    return alert


def resolve_symbol(registry: InstrumentRegistry, text: str, today: date) -> Instrument:
    """The desk's instrument for a TradingView (or the desk's own) symbol; ``SignalRefused``
    when there is none."""
    exchange_text, _, name = text.strip().upper().rpartition(":")
    exchange_text = re.sub(r"_DLY?$", "", exchange_text) or "NSE"  # delayed data's suffix
    try:
        exchange = Exchange(exchange_text)
    except ValueError:
        raise SignalRefused(f"unknown exchange {exchange_text!r} in symbol {text!r}") from None
    found = registry.by_symbol(exchange, name)
    if found is None and exchange is Exchange.NSE:
        found = registry.by_symbol(Exchange.NFO, name)
    if found is None:
        found = _continuous_future(registry, name, today) or _tv_option(registry, name)
    if found is None:
        raise SignalRefused(f"unknown symbol {text!r}: the desk lists no such instrument")
    if not found.tradable:
        raise SignalRefused(f"{text!r} is {found.tradingsymbol}, which is not tradable (an index)")
    return found


def _continuous_future(registry: InstrumentRegistry, name: str, today: date) -> Instrument | None:
    match = _CONTINUOUS.match(name)
    if match is None:
        return None
    futures = sorted(
        (
            i
            for i in registry.search(
                underlying=match["root"], instrument_type=InstrumentType.FUT, limit=100
            )
            if i.expiry is not None and i.expiry >= today
        ),
        key=lambda i: i.expiry or date.max,
    )
    index = int(match["n"]) - 1
    return futures[index] if index < len(futures) else None


def _tv_option(registry: InstrumentRegistry, name: str) -> Instrument | None:
    match = _TV_OPTION.match(name)
    if match is None:
        return None
    digits = match["yymmdd"]
    try:
        expiry = date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:]))
    except ValueError:
        return None
    strike = int(Decimal(match["strike"]) * 100)
    kind = InstrumentType.CE if match["kind"] == "C" else InstrumentType.PE
    found = registry.search(
        underlying=match["root"], expiry=expiry, strike=strike, instrument_type=kind, limit=2
    )
    return found[0] if len(found) == 1 else None
