"""The audit trail of signals for a date range, from the journal alone: every step of every
signal (who decided what, when), and the order events of the orders they placed (submitted,
denied, filled, cancelled), as rows for CSV and JSON exports.

SEBI's rules for retail algorithms ask that every algorithmic order be traceable to what caused
it and who approved it; the journal already links a signal's "placed" step to its order by the
order's id, and the order's own events carry the same id.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from engine.core.clock import IST
from engine.domain.cells import cell_text
from engine.domain.events import ORDER_EVENT_TYPES
from engine.domain.values import rupees_text
from engine.signals.records import SignalRecord
from engine.store.files import write_text
from engine.store.journal import Journal

COLUMNS = (
    "time_ist", "signal", "step", "strategy", "decided_by", "reason", "order", "event",
    "symbol", "action", "lots", "quantity", "price", "journal_seq",
    "product", "order_type", "portfolio", "fired",
)  # fmt: skip
"""The last four are a signal's terms as received (``fired``: when its sender says it fired,
UTC): with them a signal's "received" row rebuilds the alert, so an export replays in a
backtest (``engine.signals.audit_replay``)."""


@dataclass(frozen=True, slots=True)
class AuditRow:
    time_ist: str
    signal: str
    step: str
    strategy: str
    decided_by: str
    reason: str
    order: str
    event: str
    """For an order's own row, the order event (``order_submitted``, ``order_filled``, ...)."""
    symbol: str
    action: str
    lots: str
    quantity: str
    price: str
    journal_seq: int
    product: str = ""
    order_type: str = ""
    portfolio: str = ""
    fired: str = ""


def audit_rows(journal: Journal, start: date, end: date) -> list[AuditRow]:
    """Every signal step journaled from ``start`` to ``end`` (IST days, both included) and the
    events of the orders signals placed, in journal order (an order's submission is journaled
    just before the signal's "placed" step that names it)."""
    entries = []
    for entry in journal.read(kinds=[SignalRecord.kind, *ORDER_EVENT_TYPES]):
        moment = datetime.fromtimestamp(entry.ts_ns / 1e9, UTC).astimezone(IST)
        if start <= moment.date() <= end:
            entries.append((moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], entry))
    records = {
        entry.seq: SignalRecord.from_payload(entry.ts_ns, entry.payload)
        for _when, entry in entries
        if entry.kind == SignalRecord.kind
    }
    signal_of_order = {
        record.order_id: record.signal_id
        for record in records.values()
        if record.order_id is not None
    }
    strategy_of_signal = {r.signal_id: r.strategy for r in records.values() if r.strategy}
    rows: list[AuditRow] = []
    for when, entry in entries:
        record = records.get(entry.seq)
        if record is not None:
            rows.append(_signal_row(record, when, entry.seq))
        elif entry.order_id in signal_of_order:
            signal = signal_of_order[entry.order_id]
            rows.append(_order_row(entry.kind, entry.payload, signal, when, entry.seq,
                                   strategy_of_signal.get(signal, ""), entry.order_id))  # fmt: skip
    return rows


def _signal_row(record: SignalRecord, when: str, seq: int) -> AuditRow:
    detail = record.detail
    return AuditRow(
        when, record.signal_id, record.step.value, record.strategy, str(detail.get("by", "")),
        record.reason, record.order_id or "", "", str(detail.get("symbol", "")),
        str(detail.get("action", "")), _text(detail.get("lots")), _text(detail.get("quantity")),
        _text(detail.get("price")), seq, _text(detail.get("product")),
        _text(detail.get("order_type")), _text(detail.get("portfolio")), _text(detail.get("fired")),
    )  # fmt: skip


def _order_row(
    kind: str, payload: dict[str, Any], signal: str, when: str, seq: int, strategy: str, order: str
) -> AuditRow:
    price = payload.get("price")
    fill_price = rupees_text(price) if kind == "order_filled" and isinstance(price, int) else None
    quantity = payload.get("quantity") or (payload.get("request") or {}).get("quantity")
    status = payload.get("status")
    event = f"{kind}:{status}" if status else kind
    reason = payload.get("reason") or payload.get("message") or ""
    return AuditRow(
        when, signal, "order", strategy, "", str(reason), order, event, "", "", "",
        _text(quantity), _text(fill_price), seq,
    )  # fmt: skip


def _text(value: object) -> str:
    return "" if value is None else str(value)


def audit_csv(rows: Iterable[AuditRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([cell_text(str(value)) for value in astuple_in_order(row)])
    return out.getvalue()


def audit_json(rows: Iterable[AuditRow]) -> str:
    return json.dumps([asdict(row) for row in rows], indent=1) + "\n"


def astuple_in_order(row: AuditRow) -> tuple[object, ...]:
    return tuple(getattr(row, name) for name in COLUMNS)


def write_audit(path: Path, rows: list[AuditRow]) -> str | None:
    """Write the rows as CSV or JSON by the file's suffix; None, or why not in words."""
    if path.suffix.lower() == ".json":
        return write_text(path, audit_json(rows))
    if path.suffix.lower() == ".csv":
        return write_text(path, audit_csv(rows))
    return f"{path.name}: the audit trail is written as .csv or .json"
