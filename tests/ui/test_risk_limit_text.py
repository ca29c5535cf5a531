"""The risk limits page reads what is typed as a trader means it: commas only as digit grouping
(Indian or international), a decimal comma or an exponent refused in words rather than read as
another number,
and a limit too large for the journal refused under its field before Apply."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from engine.api import RiskLimitField
from ui.panels.risk_settings import RiskSettingsPage, limit_value

AMOUNT = RiskLimitField("capital", "", "₹", Decimal(1_000_000), "amount", False)
PERCENT = RiskLimitField("fat_finger_pct", "", "%", Decimal(5), "amount", False)
WHOLE = RiskLimitField("max_open_orders", "", "orders", 50, "integer", False)
NUMBER = RiskLimitField("duplicate_window_seconds", "", "s", 2.0, "number", False)

DECIMAL_COMMA = "a comma only groups digits: 5,00,000 or 500,000)"


@pytest.mark.parametrize(
    ("field", "typed", "value", "problem"),
    [
        (AMOUNT, "5,00,000", Decimal(500_000), ""),
        (AMOUNT, "500,000", Decimal(500_000), ""),
        (AMOUNT, "1,23,45,678", Decimal(12_345_678), ""),
        (AMOUNT, "12,345,678", Decimal(12_345_678), ""),
        (AMOUNT, "12,34,567.50", Decimal("1234567.50"), ""),
        (AMOUNT, "₹ 5,00,000", Decimal(500_000), ""),
        (AMOUNT, "500000", Decimal(500_000), ""),
        (AMOUNT, "1.5", Decimal("1.5"), ""),
        (PERCENT, "1,5", None, f"write 1.5, not 1,5 ({DECIMAL_COMMA}"),
        (PERCENT, "12,75", None, f"write 12.75, not 12,75 ({DECIMAL_COMMA}"),
        (WHOLE, "1,5", None, f"write 1.5, not 1,5 ({DECIMAL_COMMA}"),
        (NUMBER, "1,5", None, f"write 1.5, not 1,5 ({DECIMAL_COMMA}"),
        (AMOUNT, "1,0000", None, "a comma only groups digits (5,00,000 or 500,000), not '1,0000'"),
        (AMOUNT, "1,2,3", None, "a comma only groups digits (5,00,000 or 500,000), not '1,2,3'"),
        (AMOUNT, "12,34,5678", None, "a comma only groups digits (5,00,000 or 500,000), not "),
        (AMOUNT, "1,234,56,789", None, "a comma only groups digits (5,00,000 or 500,000), not "),
        (AMOUNT, ",500", None, "a comma only groups digits (5,00,000 or 500,000), not ',500'"),
        (WHOLE, "5,000", 5000, ""),
        (WHOLE, "1.5", None, "enter a whole number, not '1.5'"),
        (AMOUNT, "1e3", None, "write 1000, not 1e3 (no exponent)"),
        (AMOUNT, "1e400", None, "write the number in digits, not 1e400 (no exponent)"),
        (AMOUNT, "99999999999999999999", None, "too large: a limit must be less than 10^18"),
        (AMOUNT, "999999999999999999", Decimal("999999999999999999"), ""),
        (NUMBER, "1e400", None, "write the number in digits, not 1e400 (no exponent)"),
        (NUMBER, "1000000000000000000", None, "too large: a limit must be less than 10^18"),
        (WHOLE, "99999999999999999999", None, "too large: a limit must be less than 2^63"),
        (WHOLE, "9223372036854775807", 9223372036854775807, ""),
    ],
)
def test_limit_text_when_typed_gives_the_value_meant_or_says_what_is_wrong(
    field: RiskLimitField, typed: str, value: Any, problem: str
) -> None:
    got, said = limit_value(field, typed)
    assert got == value
    assert said.startswith(problem) and bool(said) == bool(problem), said


def test_settings_page_when_a_decimal_comma_is_typed_refuses_it_under_the_field(
    qtbot, context
) -> None:
    page = RiskSettingsPage(context)
    qtbot.addWidget(page)
    editors = page.account_form.editors
    percent, capital = editors["fat_finger_pct"].line, editors["capital"].line
    assert percent is not None and capital is not None
    percent.setText("1,5")
    assert editors["fat_finger_pct"].error.text().startswith("write 1.5, not 1,5")
    assert not page.apply_button.isEnabled()
    percent.setText("1.5")
    capital.setText("5,00,000")
    assert not any(e.error.text() for e in editors.values())
    assert page.apply_button.isEnabled()
    assert page.apply()
    limits = context.api.risk_limits().defaults
    assert limits.fat_finger_pct == Decimal("1.5") and limits.capital == Decimal(500_000)


@pytest.mark.parametrize(
    ("name", "typed"),
    [
        ("capital", "1" + "0" * 18),
        ("capital", "99999999999999999999"),
        ("max_open_orders", "1" * 20),
    ],
)
def test_settings_page_when_a_limit_is_too_large_for_the_journal_keeps_apply_off(
    qtbot, context, name: str, typed: str
) -> None:
    page = RiskSettingsPage(context)
    qtbot.addWidget(page)
    editor = page.account_form.editors[name]
    assert editor.line is not None
    editor.line.setText(typed)
    assert editor.error.text().startswith("too large: a limit must be less than "), (
        editor.error.text()
    )
    assert not page.apply_button.isEnabled()
    assert not page.apply() and page.candidate() is None
