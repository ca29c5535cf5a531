"""A file of TradingView alerts to replay: the webhook's JSON messages, each with the time it
fired (``fired``, UTC as TradingView's ``{{timenow}}`` gives it), as a JSON array or one object
a line; or the desk's own signal audit export (CSV or JSON), whose received signals are the
alerts. A backtest feeds them to the SignalDesk at those times on the replay's clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.signals.audit_replay import (
    AuditReplayError,
    audit_csv_alerts,
    audit_json_alerts,
    is_audit_csv,
    is_audit_json,
)
from engine.signals.tradingview import SignalRefused, TradingViewAlert, parse_alert


class AlertFileError(ValueError):
    """The file cannot be replayed; the text says where and why."""


def read_alert_file(path: str | Path) -> list[TradingViewAlert]:
    """The alerts in ``path``, earliest first; each must say when it fired."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise AlertFileError(f"the alerts file {path} cannot be read: {problem}") from None
    stripped = text.strip()
    if not stripped:
        raise AlertFileError(f"the alerts file {path} is empty")
    if is_audit_csv(stripped):
        return _by_time(_audit(audit_csv_alerts, path, text))
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as problem:
            raise AlertFileError(f"{path} is not a JSON array of alerts: {problem}") from None
        if is_audit_json(items):
            return _by_time(_audit(audit_json_alerts, path, items))
        bodies = [(n, json.dumps(item).encode()) for n, item in enumerate(items, start=1)]
        where = "item"
    else:
        bodies = [
            (n, line.encode()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()
        ]
        where = "line"
    alerts: list[TradingViewAlert] = []
    for n, body in bodies:
        try:
            alert = parse_alert(body)
        except SignalRefused as refused:
            raise AlertFileError(f"{path}, {where} {n}: {refused.reason}") from None
        if alert.fired is None:
            raise AlertFileError(f"{path}, {where} {n}: the alert has no 'fired' time to replay at")
        alerts.append(alert)
    return _by_time(alerts)


def _audit(
    read: Callable[[str | Path, Any], list[TradingViewAlert]], path: str | Path, data: Any
) -> list[TradingViewAlert]:
    try:
        return read(path, data)
    except AuditReplayError as problem:
        raise AlertFileError(str(problem)) from None


def _by_time(alerts: list[TradingViewAlert]) -> list[TradingViewAlert]:
    return sorted(alerts, key=lambda a: a.fired or 0)
