"""The Pine Script templates shipped for TradingView: each alert message they tell the trader to
paste, with TradingView's placeholders filled in as it would, is a signal the desk accepts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.signals.tradingview import parse_alert

PINE = Path(__file__).resolve().parents[2] / "resources" / "pine"
TEMPLATES = sorted(PINE.glob("*.pine"))


def filled(message: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {
        "{{exchange}}": "NSE", "{{ticker}}": "NIFTY1!", "{{time}}": "2026-12-04T09:20:00Z",
        "{{timenow}}": now, "EXCHANGE:TICKER": "NSE:RELIANCE", "TIMENOW": now, "TIME": "1764840000000",
        "ACTION": "le", "LOTS": "1", "PASSPHRASE": "the-passphrase",
    }  # fmt: skip
    for placeholder, value in values.items():
        message = message.replace(placeholder, value)
    return message


def test_pine_templates_are_shipped() -> None:
    assert [t.name for t in TEMPLATES] == [
        "ema_cross_strategy.pine",
        "indicator_alert.pine",
        "straddle_trigger.pine",
    ]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_pine_template_messages_are_signals_the_desk_takes(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    assert text.startswith("//@version=6")
    messages = re.findall(r"// DALALDESK-MESSAGE: (\{.*\})", text)
    assert messages, "each template shows the message to paste"
    for message in messages:
        alert = parse_alert(filled(message).encode())
        assert alert.passphrase == "the-passphrase"
        assert alert.fired is not None and alert.signal_id()
