"""How each key of a leg's text is read (``leg_text`` has the grammar): one reader per key,
turning the value into what the ``Leg`` field holds, plus where in the value each part the spec
may object to starts, so that a problem points at the very number it is about.

Words are matched in any case but only in ASCII: ``str.lower`` alone would let look-alikes (the
Kelvin sign for a k) pass for a key. Numbers are ASCII digits with an optional decimal part: no
sign where the value cannot be negative, no exponent, so that the text of a number is its digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from engine.domain.orders import Side
from engine.strategies.multileg.expiries import ExpiryCode
from engine.strategies.multileg.leg_reaction_text import ReactionProblem, read_reaction
from engine.strategies.multileg.spec import Instrument, Measure
from engine.strategies.multileg.strikes import Moneyness, PremiumRule

KEYS = (
    "Strike",
    "Scan",
    "MaxDepth",
    "Txn",
    "Ins",
    "Expiry",
    "Lots",
    "Hedge",
    "Idle",
    "Target",
    "SL",
    "Trail",
    "OnTarget",
    "OnSL",
)
"""Every key, in the order the canonical text writes them."""
FIELD_OF = {
    "Txn": "side",
    "Ins": "instrument",
    "Expiry": "expiry",
    "Lots": "lots",
    "Hedge": "hedge",
    "Idle": "idle",
    "Target": "target",
    "SL": "stop",
    "Trail": "trail",
    "OnTarget": "on_target",
    "OnSL": "on_stop",
}
"""The Leg field each key sets; Strike, Scan and MaxDepth together make up ``strike``."""
STRIKE_PARTS = {"Scan": "side", "MaxDepth": "depth"}
"""The keys that say more of a premium strike: its fields they set."""
NOT_YET = {"wt": "WT (wait and trade) is not a leg setting here yet"}
"""Stoxxo's keys our legs have no setting for: refused by name, never dropped."""
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PREMIUM_OPS = {"~": PremiumRule.NEAREST, ">=": PremiumRule.AT_LEAST, "<=": PremiumRule.AT_MOST}
LEVEL_WORDS = {
    Measure.POINTS: ("Premium", ""),
    Measure.PERCENT: ("Premium", "%"),
    Measure.PREMIUM: ("AbsolutePremium", ""),
    Measure.UNDERLYING: ("Underlying", ""),
}
"""A leg target's or stop's measure as Stoxxo's type and the amount's suffix."""
LEVELS_NOT_YET = ("Strike", "Delta", "Theta")

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_WHOLE = r"[0-9]{1,9}"
"""Nine digits at most: enough for any count here, and ``int`` refuses very long digit strings."""
_WORDS = re.IGNORECASE | re.ASCII
_ATM = re.compile(rf"ATM(?:[+-]{_WHOLE})?", _WORDS)
_PREMIUM = re.compile(rf"Premium(~|>=|<=)({_NUMBER})", _WORDS)
_PREMIUM_RANGE = re.compile(rf"Premium=({_NUMBER})\.\.({_NUMBER})", _WORDS)
_DELTA = re.compile(rf"Delta~({_NUMBER})", _WORDS)
_WIDTH = re.compile(rf"Width\*([+-]?{_NUMBER})", _WORDS)
_DATE = re.compile(r"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
_AMOUNT = re.compile(rf"({_NUMBER})([%Pp]?)")
"""Stoxxo sends a percent as ``20P``; we write ``20%``."""
_STRIKE_FORMS = (
    "ATM, ATM+n, ATM-n, a strike (24800), Premium~n, Premium>=n, Premium<=n, Premium=n..m, "
    "Delta~n or Width*k"
)

Read = tuple[Any, dict[str, int]]
"""What a value says, and where each field path it sets starts (offsets into the value). A
strike's paths leave out its kind (``strike.value``, where the spec says ``strike.premium.value``)."""


class ValueProblem(Exception):
    """A value that cannot be read: why, and how far into the value the problem starts."""

    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


def same_word(written: str, word: str) -> bool:
    return written.isascii() and written.lower() == word.lower()


def listing(words: Sequence[str], conjunction: str = "and") -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def quoted(value: str, most: int = 24) -> str:
    return repr(value if len(value) <= most else value[: most - 1] + "…")


def _read_strike(value: str) -> Read:
    if _ATM.fullmatch(value):
        return {"kind": "atm", "offset": int(value[3:] or 0)}, {"strike": 0}
    if re.fullmatch(_NUMBER, value):
        return {"kind": "fixed", "strike": Decimal(value)}, {"strike": 0}
    if premium := _PREMIUM.fullmatch(value):
        read = {"kind": "premium", "rule": PREMIUM_OPS[premium[1]], "value": Decimal(premium[2])}
        return read, {"strike": 0, "strike.value": premium.start(2)}
    if premium := _PREMIUM_RANGE.fullmatch(value):
        lower, upper = Decimal(premium[1]), Decimal(premium[2])
        read = {"kind": "premium", "rule": PremiumRule.BETWEEN, "value": lower, "upper": upper}
        parts = {"strike.value": premium.start(1), "strike.upper": premium.start(2)}
        return read, {"strike": 0, **parts}
    if delta := _DELTA.fullmatch(value):
        read = {"kind": "delta", "delta": float(delta[1])}
        return read, {"strike": 0, "strike.delta": delta.start(1)}
    if width := _WIDTH.fullmatch(value):
        read = {"kind": "straddle_width", "multiple": Decimal(width[1])}
        return read, {"strike": 0, "strike.multiple": width.start(1)}
    raise ValueProblem(f"Strike is {_STRIKE_FORMS}; got {quoted(value)}")


def _choice(key: str, words: dict[str, Any], path: str) -> Callable[[str], Read]:
    """A reader for a key whose value is one of ``words``."""
    spelled = listing(list(words), "or")

    def read(value: str) -> Read:
        for word, meaning in words.items():
            if same_word(value, word):
                return meaning, {path: 0}
        raise ValueProblem(f"{key} is {spelled}, got {quoted(value)}")

    return read


def _read_expiry(value: str) -> Read:
    code = next((c for c in ExpiryCode if same_word(value, c.value)), None)
    if code is not None:
        return code, {"expiry": 0}
    day = _DATE.fullmatch(value)
    month = next((n for n, m in enumerate(MONTHS, 1) if day and same_word(day[2], m)), 0)
    if day is None or not month:
        codes = ", ".join(c.value for c in ExpiryCode)
        raise ValueProblem(f"Expiry is {codes} or a date like 11-Jan-2024, got {quoted(value)}")
    try:
        return date(int(day[3]), month, int(day[1])), {"expiry": 0}
    except ValueError:
        raise ValueProblem(f"Expiry {quoted(value)} is not a day of the calendar") from None


def _whole(key: str, path: str) -> Callable[[str], Read]:
    def read(value: str) -> Read:
        if not re.fullmatch(_WHOLE, value) or int(value) < 1:
            raise ValueProblem(f"{key} must be a whole number ≥ 1, got {quoted(value)}")
        return int(value), {path: 0}

    return read


def _level(key: str, path: str) -> Callable[[str], Read]:
    types = listing(list(dict.fromkeys(word for word, _ in LEVEL_WORDS.values())), "or")

    def read(value: str) -> Read:
        kind, colon, amount = value.partition(":")
        kind = kind.rstrip()
        if not colon or not kind:
            raise ValueProblem(
                f"{key} is Type:Value, such as Premium:10, Premium:10%, AbsolutePremium:150 or "
                f"Underlying:50; got {quoted(value)}"
            )
        not_yet = next((word for word in LEVELS_NOT_YET if same_word(kind, word)), None)
        if not_yet is not None:
            raise ValueProblem(f"{key} type {not_yet} is not a leg setting here yet")
        word = next((w for w, _ in LEVEL_WORDS.values() if same_word(kind, w)), None)
        if word is None:
            raise ValueProblem(f"{key} type is {types}; got {quoted(kind)}")
        amount_at = value.index(":") + 1 + len(amount) - len(amount.lstrip())
        measured = _AMOUNT.fullmatch(amount.strip())
        if measured is None:
            raise ValueProblem(
                f"{key} wants points or a percent (10%), got {quoted(amount.strip())}", amount_at
            )
        suffix = "%" if measured[2] else ""
        measure = next((m for m, said in LEVEL_WORDS.items() if said == (word, suffix)), None)
        if measure is None:
            raise ValueProblem(f"{key} type {word} is in points, not a percent", amount_at)
        read_level = {"measure": measure, "value": Decimal(measured[1])}
        return read_level, {path: 0, f"{path}.value": amount_at}

    return read


def _read_trail(value: str) -> Read:
    every, colon, by = value.partition(":")
    numbers = (every.rstrip(), by.lstrip())
    if not colon or not all(re.fullmatch(_NUMBER, number) for number in numbers):
        raise ValueProblem(f"Trail is <every>:<by> in points, such as 5:2; got {quoted(value)}")
    by_at = len(every) + 1 + len(by) - len(by.lstrip())
    read = {"every": Decimal(numbers[0]), "by": Decimal(numbers[1])}
    return read, {"trail": 0, "trail.by": by_at}


def _reaction(key: str, path: str) -> Callable[[str], Read]:
    """A target or stop action (``leg_reaction_text`` has its grammar)."""

    def read(value: str) -> Read:
        try:
            return read_reaction(key, path, value)
        except ReactionProblem as bad:
            raise ValueProblem(bad.reason, bad.offset) from None

    return read


_YES_NO = {"YES": True, "NO": False}
READERS: dict[str, Callable[[str], Read]] = {
    "Strike": _read_strike,
    "Scan": _choice("Scan", {m.value.upper(): m for m in Moneyness}, "strike.side"),
    "MaxDepth": _whole("MaxDepth", "strike.depth"),
    "Txn": _choice("Txn", {s.value: s for s in Side}, "side"),
    "Ins": _choice("Ins", {i.value: i for i in Instrument}, "instrument"),
    "Expiry": _read_expiry,
    "Lots": _whole("Lots", "lots"),
    "Hedge": _choice("Hedge", _YES_NO, "hedge"),
    "Idle": _choice("Idle", _YES_NO, "idle"),
    "Target": _level("Target", "target"),
    "SL": _level("SL", "stop"),
    "Trail": _read_trail,
    "OnTarget": _reaction("OnTarget", "on_target"),
    "OnSL": _reaction("OnSL", "on_stop"),
}
