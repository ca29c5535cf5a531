"""How the desk reads a number the trader types, whatever the machine's locale: the decimal point
is ".", a comma only groups digits (Indian 1,23,45,678 or international 12,345,678), and there is
no exponent. A text that breaks the rule is refused in words that say what to write instead,
never read as another number (1,5 as 15, 1e3 as 13)."""

from __future__ import annotations

import re
from decimal import Decimal

GROUPED_DIGITS = re.compile(
    r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,2}(?:,[0-9]{2})+,[0-9]{3})(?:\.[0-9]*)?"
)
"""Commas that group digits: Indian (1,23,45,678) or international (12,345,678)."""

EXPONENT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+")


def comma_problem(shown: str) -> str:
    """A comma that does not group digits, in words."""
    if re.fullmatch(r"[^,]*[0-9],[0-9]{1,2}", shown):  # a decimal comma: 1,5 or 12,75
        return (
            f"write {shown.replace(',', '.')}, not {shown} "
            "(a comma only groups digits: 5,00,000 or 500,000)"
        )
    return f"a comma only groups digits (5,00,000 or 500,000), not {shown!r}"


def exponent_problem(plain: str, shown: str) -> str | None:
    """What to write instead of a number in exponent notation (``plain``: without its grouping
    commas), or None when it has no exponent."""
    if not EXPONENT.fullmatch(plain):
        return None
    meant = Decimal(plain)
    digits = plain_digits(meant) if abs(meant.adjusted()) <= 18 else "the number in digits"
    return f"write {digits}, not {shown} (no exponent)"


def plain_digits(number: Decimal) -> str:
    """``number`` in plain digits, without trailing zeros (3600, 0.5, 1000)."""
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
