"""Kite's funds as the gate reads them: the equity segment's net and debits, from the official
mock response; a row that cannot be read is logged and skipped."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest

from engine.brokers.kite.funds import funds_changed
from tests.support import KITE_FIXTURES

FIXTURES = KITE_FIXTURES


def test_funds_when_read_from_the_official_equity_margins_are_net_and_debits() -> None:
    segment = json.loads((FIXTURES / "margins_equity.json").read_text())["data"]
    event = funds_changed(segment, 123)
    assert event is not None
    assert (event.available, event.used, event.broker, event.ts_ns) == (
        Decimal("99725.05"),
        Decimal("145706.55"),
        "kite",
        123,
    )


@pytest.mark.parametrize(
    "segment",
    [
        {},
        {"net": 100.0},
        {"net": "lots", "utilised": {"debits": 0}},
        {"net": float("nan"), "utilised": {"debits": 0}},
        {"net": True, "utilised": {"debits": 0}},
        {"net": 100.0, "utilised": None},
    ],
    ids=["empty", "no debits", "text", "nan", "bool", "no utilised"],
)
def test_funds_when_the_row_is_unreadable_are_skipped_and_logged(
    segment: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="engine.brokers.kite.funds"):
        assert funds_changed(segment, 1) is None
    assert "Kite margins without a readable net" in caplog.text
