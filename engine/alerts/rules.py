"""An alert rule: what to watch and when to speak.

Conditions:

- ``crosses_above`` / ``crosses_below``: the last traded price goes from one side of a level to
  the other (the first tick after the rule is set is the starting side; a price already past the
  level fires only after it comes back and crosses again);
- ``moves_pct``: the price moves at least this many percent, up or down, from where it was when
  the rule was set (or re-armed);
- ``pnl_below`` / ``pnl_above``: the day's P&L across the desk (net of charges) crosses a level
  in rupees.

A rule fires once and is then spent; re-arming it starts it again from the current price. Rules
are kept in the profile's ``alerts.json`` with whether they fired, so a restart neither loses one
nor fires one twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from engine.domain.requests import MAX_PRICE_PAISE, shown
from engine.domain.values import format_rupees, round_paisa

MAX_LEVEL = Decimal(MAX_PRICE_PAISE) / 100
"""₹1,000 crore, either way: above any price or day's P&L. A bound keeps absurd levels (1e999999)
out of the paise and display arithmetic, where they would overflow on every tick."""
PAISE = Decimal(100)
"""Paise in a rupee: prices are held in paise, levels in rupees."""
PAISA = Decimal("0.01")
"""The finest rupee level: prices are held in whole paise."""
MAX_TIME_NS = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp()) * 1_000_000_000
"""The last instant a date can show; a saved time past it cannot be a real one."""


class Condition(StrEnum):
    CROSSES_ABOVE = "crosses_above"
    CROSSES_BELOW = "crosses_below"
    MOVES_PCT = "moves_pct"
    PNL_BELOW = "pnl_below"
    PNL_ABOVE = "pnl_above"

    @property
    def on_price(self) -> bool:
        return self not in (Condition.PNL_BELOW, Condition.PNL_ABOVE)

    @property
    def words(self) -> str:
        return {
            Condition.CROSSES_ABOVE: "crosses above",
            Condition.CROSSES_BELOW: "crosses below",
            Condition.MOVES_PCT: "moves by",
            Condition.PNL_BELOW: "day P&L falls below",
            Condition.PNL_ABOVE: "day P&L rises above",
        }[self]


class AlertError(ValueError):
    """A rule that cannot be set, with why in words."""


@dataclass(frozen=True, slots=True)
class AlertRule:
    alert_id: str
    condition: Condition
    value: Decimal
    """The level in rupees (price or P&L, whole paise), or the percent for ``moves_pct``."""
    token: int | None = None
    """The instrument a price rule watches; None for P&L rules."""
    title: str = ""
    """The instrument as the trader knows it (or "Desk" for P&L), for messages."""
    note: str = ""
    created_ns: int = 0
    reference: Decimal | None = None
    """``moves_pct``: the price (rupees) the move is measured from; None until the first tick."""
    fired_ns: int | None = None
    fired_text: str = ""

    @property
    def armed(self) -> bool:
        return self.fired_ns is None

    def describe(self) -> str:
        amount = (
            f"{self.value}%" if self.condition is Condition.MOVES_PCT else rupee_amount(self.value)
        )
        subject = "" if not self.condition.on_price else f"{self.title} "
        return f"{subject}{self.condition.words} {amount}"

    def fired(self, ts_ns: int, text: str) -> AlertRule:
        return replace(self, fired_ns=ts_ns, fired_text=text)

    def rearmed(self, reference: Decimal | None) -> AlertRule:
        return replace(self, fired_ns=None, fired_text="", reference=reference)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["condition"] = self.condition.value
        data["value"] = str(self.value)
        data["reference"] = None if self.reference is None else str(self.reference)
        return data


def rupee_amount(value: Decimal) -> str:
    """₹1,550.00 and -₹1,23,456.78: to the paisa, in Indian grouping (``format_rupees``), the
    sign before the rupee sign, as a trader writes it."""
    paise = int(round_paisa(value) * 100)
    return f"{'-' if paise < 0 else ''}₹{format_rupees(abs(paise))}"


def make_rule(
    alert_id: str,
    condition: Condition | str,
    value: Decimal | int | float | str,
    *,
    token: int | None,
    title: str,
    note: str = "",
    created_ns: int = 0,
    reference: Decimal | None = None,
) -> AlertRule:
    """A checked rule; ``AlertError`` says what is wrong with the asked one."""
    try:
        kind = Condition(condition)
    except ValueError:
        kinds = ", ".join(c.value for c in Condition)
        raise AlertError(f"an alert's condition is one of {kinds}, not {condition!r}") from None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise AlertError(f"an alert's value is a number, not {shown(value)}") from None
    if not amount.is_finite():
        raise AlertError(f"an alert's value must be a finite number, not {shown(value)}")
    if amount.copy_abs() > MAX_LEVEL:  # abs() rounds to the context: 1e9999999 overflows
        raise AlertError(
            f"an alert's level is at most {rupee_amount(MAX_LEVEL)} either way, not {shown(value)}"
        )
    # Prices are paise: a finer level would be cut to a paisa when a tick is compared with it
    # (101.005 firing at 101.00), and shown as one it is not. Compared exactly, not by
    # arithmetic that rounds to the context's 28 digits.
    if kind is not Condition.MOVES_PCT and amount != amount.quantize(PAISA):
        raise AlertError(
            f"an alert's level is in rupees and whole paise (two decimals at most), "
            f"not {shown(value)}"
        )
    if kind.on_price and token is None:
        raise AlertError("a price alert needs an instrument")
    if not kind.on_price and token is not None:
        raise AlertError("a P&L alert watches the whole desk, not one instrument")
    if kind in (Condition.CROSSES_ABOVE, Condition.CROSSES_BELOW) and amount <= 0:
        raise AlertError(f"a price level must be above zero, not {amount}")
    if kind is Condition.MOVES_PCT and not Decimal("0.01") <= amount <= Decimal(100):
        raise AlertError(f"a move is 0.01-100 percent, not {amount}")
    if not isinstance(note, str):
        raise AlertError(f"an alert's note is text, not {shown(note)}")
    if len(note) > 200:
        raise AlertError("an alert's note is at most 200 characters")
    return AlertRule(alert_id, kind, amount, token, title, note, created_ns, reference)


def rule_from_json(data: Any) -> AlertRule:
    """A rule as saved; ``AlertError`` when the saved form is not one."""
    if not isinstance(data, dict):
        raise AlertError(f"an alert is an object, not {type(data).__name__}")
    try:
        rule = make_rule(
            str(data["alert_id"]),
            data["condition"],
            data["value"],
            token=None if data.get("token") is None else int(data["token"]),
            title=str(data.get("title", "")),
            note=str(data.get("note", "")),
            created_ns=_saved_time(data.get("created_ns", 0), "created_ns"),
            reference=_saved_reference(data.get("reference")),
        )
        fired = data.get("fired_ns")
        if fired is None:
            return rule
        return rule.fired(_saved_time(fired, "fired_ns"), str(data.get("fired_text", "")))
    except KeyError as missing:
        raise AlertError(f"an alert has no {missing.args[0]}") from None
    except (TypeError, ValueError, InvalidOperation) as problem:
        raise AlertError(str(problem)) from None


def _saved_reference(saved: object) -> Decimal | None:
    """A ``moves_pct`` starting price as saved: None (not yet known) or a price above zero."""
    if saved is None:
        return None
    try:
        price: Decimal | None = Decimal(str(saved))
    except InvalidOperation:
        price = None
    # A move is measured as a ratio to this price: 0 or NaN would fail on every tick.
    if price is None or not price.is_finite() or not 0 < price <= MAX_LEVEL:
        raise AlertError(f"an alert's starting price is a price above zero, not {shown(saved)}")
    return price


def _saved_time(saved: object, name: str) -> int:
    """A saved instant in nanoseconds since the epoch, within what a date can show."""
    if isinstance(saved, bool) or not isinstance(saved, int) or not 0 <= saved <= MAX_TIME_NS:
        raise AlertError(f"an alert's {name} is a time in nanoseconds, not {shown(saved)}")
    return saved


def pnl_fires(rule: AlertRule, before: Decimal, pnl: Decimal) -> str | None:
    """The message if the day's P&L going from ``before`` to ``pnl`` makes ``rule`` come true."""
    if rule.condition is Condition.PNL_BELOW and before >= rule.value > pnl:
        return f"Day P&L fell below {rupee_amount(rule.value)} ({rupee_amount(pnl)})"
    if rule.condition is Condition.PNL_ABOVE and before <= rule.value < pnl:
        return f"Day P&L rose above {rupee_amount(rule.value)} ({rupee_amount(pnl)})"
    return None


def price_fires(rule: AlertRule, before: int | None, now: int) -> str | None:
    """The message if this tick makes ``rule`` come true, else None."""
    price = rupee_amount(Decimal(now) / PAISE)
    if rule.condition is Condition.MOVES_PCT:
        assert rule.reference is not None
        moved = (Decimal(now) / PAISE / rule.reference - 1) * 100
        if abs(moved) >= rule.value:
            start = rupee_amount(rule.reference)
            return f"{rule.title} moved {moved:+.2f}% from {start} ({price})"
        return None
    if before is None:
        return None
    level = int(rule.value * PAISE)  # exact: a level finer than a paisa is refused when set
    if rule.condition is Condition.CROSSES_ABOVE and before < level <= now:
        return f"{rule.title} crossed above {rupee_amount(rule.value)} ({price})"
    if rule.condition is Condition.CROSSES_BELOW and before > level >= now:
        return f"{rule.title} crossed below {rupee_amount(rule.value)} ({price})"
    return None
