"""The risk limits: a declared settings schema with defaults, descriptions and validation.

``RiskLimits`` is one complete set of limits. ``RiskSettings`` holds the desk's defaults plus
overrides per account and per underlying, each a mapping of field names to values, validated
when the settings are built (an unknown key or a bad value is an error naming the key, never a
silent default). The limits that apply to one order are the defaults, then the account's
overrides, then the underlying's; an underlying may override only the order-level limits
(``ORDER_SCOPE``), since capital, throttles and breakers belong to the account.

Money is Decimal rupees; ``None`` switches a limit off. Each field's ``metadata`` carries the
description and unit the settings page shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.domain.events import TradingState

THROTTLE_MODES = ("queue", "deny")


def _doc(description: str, unit: str = "") -> dict[str, str]:
    return {"description": description, "unit": unit}


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskLimits:
    # -- exchange rules -------------------------------------------------------------------------
    check_session: bool = field(
        default=True,
        metadata=_doc(
            "Refuse orders while the market session of the segment is closed (NSE calendar)."
        ),
    )
    check_price_protection: bool = field(
        default=True,
        metadata=_doc(
            "Refuse limit prices outside the exchange's protection: options LPP (reference ≤ ₹50: "
            "±₹20, else ±40 %), futures LPP and operating range, cash circuit band."
        ),
    )
    futures_operating_range_pct: Decimal = field(
        default=Decimal(10),
        metadata=_doc("Futures operating range around the previous close.", "%"),
    )
    equity_band_pct: Decimal = field(
        default=Decimal(20),
        metadata=_doc("Cash-market circuit band around the previous close (widest band).", "%"),
    )
    slice_above_freeze: bool = field(
        default=False,
        metadata=_doc(
            "Slice an order above the freeze quantity into child orders (paced by the order-rate "
            "throttle) instead of refusing it."
        ),
    )
    market_protection_pct: Decimal = field(
        default=Decimal(2),
        metadata=_doc(
            "MARKET and SL-M orders are sent as LIMIT / SL orders this far beyond the last price "
            "(kept inside the exchange's price protection).",
            "%",
        ),
    )
    allow_market_on_stock_options: bool = field(
        default=False,
        metadata=_doc("Allow MARKET orders on stock options (illiquid; brokers block them)."),
    )
    # -- order size -----------------------------------------------------------------------------
    max_order_quantity: int | None = field(
        default=100_000, metadata=_doc("Largest quantity in one order.", "units")
    )
    max_order_value: Decimal | None = field(
        default=Decimal(50_000_000),
        metadata=_doc(
            "Largest value of one order: premium for options, notional for futures and cash.", "₹"
        ),
    )
    fat_finger_pct: Decimal | None = field(
        default=Decimal(20),
        metadata=_doc("Refuse a limit price further than this from the last traded price.", "%"),
    )
    fat_finger_floor: Decimal = field(
        default=Decimal(5),
        metadata=_doc("The fat-finger distance is never narrower than this many rupees.", "₹"),
    )
    duplicate_window_seconds: float | None = field(
        default=2.0,
        metadata=_doc(
            "Refuse an order identical to one sent (same instrument, side, quantity, type, price) "
            "within this many seconds.",
            "s",
        ),
    )
    # -- exposure -------------------------------------------------------------------------------
    max_position_lots: int | None = field(
        default=200,
        metadata=_doc(
            "Largest position in one instrument, counting open orders as filled (lots; shares for "
            "cash).",
            "lots",
        ),
    )
    max_underlying_lots: int | None = field(
        default=1000,
        metadata=_doc(
            "Largest gross position across every instrument of one underlying, counting open "
            "orders as filled.",
            "lots",
        ),
    )
    max_open_orders: int | None = field(
        default=100, metadata=_doc("Most orders open at once (queued orders count).", "orders")
    )
    capital: Decimal = field(
        default=Decimal(1_000_000),
        metadata=_doc("Capital of the account: the base of margin and concentration.", "₹"),
    )
    check_margin: bool = field(
        default=True,
        metadata=_doc(
            "Refuse an order whose margin (paper: SPAN-like estimate) exceeds the capital left "
            "after today's P&L."
        ),
    )
    max_concentration_pct: Decimal | None = field(
        default=Decimal(60),
        metadata=_doc("Largest share of capital that the margin of one underlying may take.", "%"),
    )
    # -- order rate -----------------------------------------------------------------------------
    max_orders_per_second: int | None = field(
        default=10,
        metadata=_doc(
            "Orders and modifications sent to the broker in one calendar second (SEBI retail algo "
            "limit: 10).",
            "orders/s",
        ),
    )
    max_orders_per_minute: int | None = field(
        default=200,
        metadata=_doc(
            "Orders and modifications sent to the broker in one calendar minute.", "orders/min"
        ),
    )
    throttle_mode: str = field(
        default="queue",
        metadata=_doc(
            "What happens to an order above the rate: 'queue' (sent in a later second) or 'deny'."
        ),
    )
    # -- circuit breakers -----------------------------------------------------------------------
    daily_loss_limit: Decimal | None = field(
        default=Decimal(50_000),
        metadata=_doc("Trip when the day's MTM after charges falls to minus this.", "₹"),
    )
    daily_loss_action: TradingState = field(
        default=TradingState.HALTED,
        metadata=_doc("State after the daily loss limit trips: REDUCING or HALTED."),
    )
    square_off_on_daily_loss: bool = field(
        default=True, metadata=_doc("Square off every position when the daily loss limit trips.")
    )
    profit_lock_at: Decimal | None = field(
        default=None, metadata=_doc("Arm the profit lock once the day's MTM reaches this.", "₹")
    )
    profit_lock_keep: Decimal = field(
        default=Decimal(0),
        metadata=_doc("Once armed, trip when the day's MTM falls back to this.", "₹"),
    )
    max_drawdown_from_peak: Decimal | None = field(
        default=None,
        metadata=_doc("Trip when the day's MTM falls this far below its peak of the day.", "₹"),
    )
    breaker_action: TradingState = field(
        default=TradingState.REDUCING,
        metadata=_doc(
            "State after the profit lock, drawdown, underlying-move or rejection breaker trips."
        ),
    )
    square_off_on_breaker: bool = field(
        default=False, metadata=_doc("Square off every position when one of those breakers trips.")
    )
    underlying_move_pct: Decimal | None = field(
        default=Decimal(3),
        metadata=_doc(
            "Trip when an underlying the desk holds moves more than this within the window.", "%"
        ),
    )
    underlying_move_minutes: int = field(
        default=5, metadata=_doc("Window of the underlying-move breaker.", "min")
    )
    max_rejections: int | None = field(
        default=5,
        metadata=_doc("Trip after this many broker rejections within the window.", "rejections"),
    )
    rejection_window_seconds: float = field(
        default=10.0, metadata=_doc("Window of the rejection breaker.", "s")
    )

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("risk limits: " + "; ".join(problems))

    @classmethod
    def describe(cls) -> list[tuple[str, str, str, Any]]:
        """(name, description, unit, default) for every limit, in declaration order."""
        return [
            (f.name, f.metadata["description"], f.metadata["unit"], f.default)
            for f in fields(cls)
            if f.default is not MISSING
        ]


ORDER_SCOPE = frozenset(
    {
        "check_session",
        "check_price_protection",
        "futures_operating_range_pct",
        "equity_band_pct",
        "slice_above_freeze",
        "market_protection_pct",
        "allow_market_on_stock_options",
        "max_order_quantity",
        "max_order_value",
        "fat_finger_pct",
        "fat_finger_floor",
        "duplicate_window_seconds",
        "max_position_lots",
        "max_underlying_lots",
        "max_concentration_pct",
    }
)
"""Limits an underlying may override; the rest belong to the account."""

_FIELDS = {f.name: f for f in fields(RiskLimits)}
_DECIMALS = {
    name
    for name, f in _FIELDS.items()
    if "Decimal" in str(f.type)  # annotations are strings under __future__ annotations
}
_INTS = {name for name, f in _FIELDS.items() if str(f.type).startswith("int")}
_FLOATS = {name for name, f in _FIELDS.items() if str(f.type).startswith("float")}
_BOOLS = {name for name, f in _FIELDS.items() if str(f.type) == "bool"}
_STATES = {name for name, f in _FIELDS.items() if str(f.type) == "TradingState"}
_OPTIONAL = {name for name, f in _FIELDS.items() if "None" in str(f.type)}


def _problems(limits: RiskLimits) -> list[str]:
    problems: list[str] = []
    for name in _FIELDS:
        value = getattr(limits, name)
        if value is None:
            if name not in _OPTIONAL:
                problems.append(f"{name} cannot be switched off")
            continue
        if name in _BOOLS and not isinstance(value, bool):
            problems.append(f"{name} must be true or false, got {value!r}")
        elif name in _DECIMALS:
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                problems.append(f"{name} must be a non-negative amount, got {value!r}")
        elif name in _INTS:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                problems.append(f"{name} must be a positive whole number, got {value!r}")
        elif name in _FLOATS:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                problems.append(f"{name} must be a positive number, got {value!r}")
        elif name in _STATES and value not in (TradingState.REDUCING, TradingState.HALTED):
            problems.append(f"{name} must be REDUCING or HALTED, got {value!r}")
    if limits.throttle_mode not in THROTTLE_MODES:
        problems.append(f"throttle_mode must be 'queue' or 'deny', got {limits.throttle_mode!r}")
    if not problems:
        if limits.market_protection_pct <= 0 or limits.market_protection_pct > 40:
            problems.append(
                f"market_protection_pct must be above 0 and at most 40, got "
                f"{limits.market_protection_pct}"
            )
        if limits.capital <= 0:
            problems.append("capital must be above 0")
        if limits.profit_lock_at is not None and limits.profit_lock_keep >= limits.profit_lock_at:
            problems.append("profit_lock_keep must be below profit_lock_at")
    return problems


def _coerce(name: str, value: Any) -> Any:
    """A value read from a settings file, in the field's type (or as given, for validation)."""
    if value is None:
        return None
    if name in _DECIMALS and isinstance(value, int | str | float) and not isinstance(value, bool):
        try:
            return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            return value
    if name in _STATES and isinstance(value, str):
        try:
            return TradingState(value.upper())
        except ValueError:
            return value
    if name in _FLOATS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _overridden(base: RiskLimits, changes: Mapping[str, Any], where: str) -> RiskLimits:
    unknown = sorted(set(changes) - set(_FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown risk limit(s) {', '.join(unknown)}")
    try:
        return replace(base, **{k: _coerce(k, v) for k, v in changes.items()})
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


@dataclass(frozen=True, slots=True)
class RiskSettings:
    defaults: RiskLimits = field(default_factory=RiskLimits)
    accounts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Overrides per account id (any limit)."""
    underlyings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Overrides per underlying symbol (``NIFTY``, ``RELIANCE``): order-level limits only."""

    def __post_init__(self) -> None:
        for account, changes in self.accounts.items():
            _overridden(self.defaults, changes, f"account {account!r}")
        for underlying, changes in self.underlyings.items():
            outside = sorted(set(changes) - ORDER_SCOPE - (set(changes) - set(_FIELDS)))
            if outside:
                raise ValueError(
                    f"underlying {underlying!r}: {', '.join(outside)} can be set per account "
                    f"only, not per underlying"
                )
            _overridden(self.defaults, changes, f"underlying {underlying!r}")

    def for_account(self, account: str) -> RiskLimits:
        changes = self.accounts.get(account)
        if not changes:
            return self.defaults
        return _overridden(self.defaults, changes, f"account {account!r}")

    def as_account(self, account: str) -> RiskSettings:
        """The settings one account trades under, its overrides folded into the defaults (the
        underlyings' own kept): what a backtest's gate, which trades one account, applies."""
        return RiskSettings(self.for_account(account), {}, self.underlyings)

    def limits_for(self, account: str, underlying: str) -> RiskLimits:
        """The limits for one order: defaults, then the account's, then the underlying's."""
        limits = self.for_account(account)
        changes = self.underlyings.get(underlying)
        if changes:
            limits = _overridden(limits, changes, f"underlying {underlying!r}")
        return limits

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RiskSettings:
        """Settings from a parsed settings file: ``{"defaults": {...}, "accounts": {...},
        "underlyings": {...}}``; every key checked."""
        unknown = sorted(set(data) - {"defaults", "accounts", "underlyings"})
        if unknown:
            raise ValueError(f"risk settings: unknown section(s) {', '.join(unknown)}")
        defaults = _overridden(RiskLimits(), data.get("defaults", {}), "defaults")
        return cls(
            defaults,
            {str(k): dict(v) for k, v in data.get("accounts", {}).items()},
            {str(k).upper(): dict(v) for k, v in data.get("underlyings", {}).items()},
        )

    def to_mapping(self) -> dict[str, Any]:
        """The settings as plain values (Decimals kept exact), for the journal and a file."""
        base = RiskLimits()
        defaults = {
            name: _plain(getattr(self.defaults, name))
            for name in _FIELDS
            if getattr(self.defaults, name) != getattr(base, name)
        }
        return {
            "defaults": defaults,
            "accounts": {k: {n: _plain(v) for n, v in c.items()} for k, c in self.accounts.items()},
            "underlyings": {
                k: {n: _plain(v) for n, v in c.items()} for k, c in self.underlyings.items()
            },
        }


def _plain(value: Any) -> Any:
    if isinstance(value, TradingState):
        return value.value
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginParameters:
    """The offline SPAN-like estimate (nse_market.md §5.2); NSE Clearing's published minimums."""

    index_price_scan_pct: float = 9.3
    stock_price_scan_pct: float = 14.2
    index_vol_scan_min: float = 0.04
    """Minimum volatility scan range, absolute (0.04 = 4 vol points)."""
    stock_vol_scan_min: float = 0.10
    vol_scan_share: float = 0.25
    """Volatility scan range as a share of the option's own vol, above the minimum."""
    extreme_move_multiple: float = 2.0
    extreme_move_cover: float = 0.35
    index_elm_pct: float = 2.0
    stock_elm_pct: float = 3.5
    equity_delivery_margin_pct: float = 100.0
    equity_intraday_margin_pct: float = 20.0
    rate: float = 0.065
    """Annual continuous rate for forwards."""
    fallback_vol: float = 0.20
    """Vol used where an option's implied vol cannot be had (no quote, no time value)."""
    refresh_seconds: float = 30.0
    """Risk arrays older than this are recomputed off the order path."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"margin parameters: {f.name} must be positive, got {value!r}")
