"""The desk's own signal audit export (``engine.signals.audit``, CSV or JSON) read back as the
alerts it received, to replay them in a backtest: what the desk was actually sent, at the times
it was sent.

Each signal's "received" row holds the alert's terms as they arrived (strategy, symbol or
portfolio, action, lots, order type, price, product, and when its sender says it fired); the
later steps and the order rows are what the desk did with it, which the replay does again. The
alert is rebuilt through the webhook's own parser, so a replayed signal is checked and keyed
(its id is the audit's signal id) exactly as it was live.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.core.clock import IST
from engine.signals.audit import COLUMNS
from engine.signals.records import SignalStep
from engine.signals.tradingview import SignalRefused, TradingViewAlert, parse_alert

NEEDED = ("time_ist", "signal", "step", "strategy", "symbol", "action", "lots", "price")
"""The columns an export must have to be replayed (older exports lack the last four of
``COLUMNS``: their alerts take the webhook's defaults for product and order type)."""
TIME_IST_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class AuditReplayError(ValueError):
    """The export cannot be replayed; the text names the row and what is wrong."""


FIRST_COLUMNS = list(COLUMNS[:8])
"""How every export's header has begun (``time_ist`` .. ``event``): what marks a CSV as one."""


def is_audit_csv(text: str) -> bool:
    first = text.lstrip("\ufeff").split("\n", 1)[0].strip()
    return first.split(",")[: len(FIRST_COLUMNS)] == FIRST_COLUMNS


def is_audit_json(items: object) -> bool:
    return (
        isinstance(items, list)
        and bool(items)
        and isinstance(items[0], dict)
        and set(NEEDED) <= set(items[0])
    )


def audit_csv_alerts(path: str | Path, text: str) -> list[TradingViewAlert]:
    """The alerts in a CSV export; rows are numbered as a spreadsheet shows them (the header is
    row 1)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in NEEDED if c not in (reader.fieldnames or ())]
    if missing:
        raise AuditReplayError(f"{path}: the audit export has no {', '.join(missing)} column")
    return _alerts(path, "row", ((n, row) for n, row in enumerate(reader, start=2)))


def audit_json_alerts(path: str | Path, items: list[Any]) -> list[TradingViewAlert]:
    return _alerts(path, "item", enumerate(items, start=1))


def _alerts(
    path: str | Path, where: str, rows: Iterator[tuple[int, Any]]
) -> list[TradingViewAlert]:
    alerts: list[TradingViewAlert] = []
    seen: set[str] = set()
    for n, row in rows:
        if not isinstance(row, Mapping):
            raise AuditReplayError(f"{path}, {where} {n}: not a row of the audit export")
        if _cell(row, "step") != SignalStep.RECEIVED.value:
            continue  # what the desk did with a signal, or one of its order's events
        signal = _cell(row, "signal")
        if not signal:
            raise AuditReplayError(f"{path}, {where} {n}: the received signal has no id")
        if signal in seen:
            continue
        seen.add(signal)
        try:
            alerts.append(_alert(row, signal))
        except (SignalRefused, AuditReplayError) as problem:
            reason = problem.reason if isinstance(problem, SignalRefused) else str(problem)
            raise AuditReplayError(f"{path}, {where} {n} (signal {signal}): {reason}") from None
    if not alerts:
        raise AuditReplayError(f"{path}: the audit export holds no received signal to replay")
    return alerts


def _alert(row: Mapping[str, Any], signal: str) -> TradingViewAlert:
    if not _cell(row, "symbol") and not _cell(row, "portfolio"):
        raise AuditReplayError("it has no symbol (nor a portfolio)")
    if not _cell(row, "action"):
        raise AuditReplayError("it has no action")
    body: dict[str, str] = {"id": signal, "fired": _fired(row)}
    for name in ("strategy", "symbol", "portfolio", "action", "lots", "order_type", "price",
                 "product"):  # fmt: skip
        value = _cell(row, name)
        if value:
            body[name] = value
    return parse_alert(json.dumps(body).encode())


def _fired(row: Mapping[str, Any]) -> str:
    """When the sender says the alert fired, else when the desk received it (IST), as UTC."""
    fired = _cell(row, "fired")
    if fired:
        return fired
    received = _cell(row, "time_ist")
    try:
        moment = datetime.strptime(received, TIME_IST_FORMAT).replace(tzinfo=IST)
    except ValueError:
        raise AuditReplayError(
            f"its time {received!r} is not a time of the export (YYYY-MM-DD HH:MM:SS.mmm, IST)"
        ) from None
    return moment.astimezone(UTC).isoformat()


def _cell(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    return "" if value is None else str(value).strip()
