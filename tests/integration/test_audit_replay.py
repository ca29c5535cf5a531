"""The desk's signal audit export replays as the alerts it received: a backtest of TradingView
alerts, its audit exported (CSV and JSON) and replayed, places the same orders at the same
prices; an export that lacks what an alert needs is refused naming the row."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest

from engine.backtest.run import BacktestRequest
from engine.marketdata.recording import write_bar_recording
from engine.runtime import Engine, EngineConfig
from engine.runtime.backtests import run_backtest
from engine.signals.alert_file import AlertFileError, read_alert_file
from tests.backtest_support import INSTRUMENT, nifty_like_bars, tradingview_alert

EVER = (date(2000, 1, 1), date(2100, 1, 1))


def _replay(tmp_path: Path, name: str, alerts: Path) -> list[tuple[object, ...]]:
    request = BacktestRequest(name, str(tmp_path / "rec"), signals=str(alerts), mode="bars")
    result = run_backtest(request, tmp_path / "runs" / name)
    return [(side, quantity, price) for _ts, _token, side, quantity, price in result.trades]


def _export(book: Path, path: Path) -> None:
    engine = Engine.build(EngineConfig(db_url=f"sqlite:///{book}"))
    try:
        assert engine.api.export_signal_audit(path, *EVER) is None
    finally:
        engine.close()


def test_audit_export_of_a_replay_replays_the_same_alerts_and_the_same_orders(
    tmp_path: Path,
) -> None:
    bars = nifty_like_bars(1)
    write_bar_recording(tmp_path / "rec", [INSTRUMENT], bars)
    minute = 60_000_000_000
    limit = bars[26].close // 5 * 5 + 500  # marketable: ₹5 above the next bar's close
    sent = [
        tradingview_alert("le", bars[0].start_ns + 10 * minute, lots=20),
        tradingview_alert("buy", bars[0].start_ns + 25 * minute, lots=3, order_type="LIMIT",
                          price=f"{limit / 100:.2f}", id="tv-limit-1"),
        tradingview_alert("exit", bars[0].start_ns + 40 * minute),
    ]  # fmt: skip
    original = tmp_path / "alerts.jsonl"
    original.write_text("".join(json.dumps(a) + "\n" for a in sent), encoding="utf-8")
    trades = _replay(tmp_path, "original", original)
    assert len(trades) == 3

    for suffix in ("csv", "json"):
        export = tmp_path / f"audit.{suffix}"
        _export(tmp_path / "runs" / "original" / "book.db", export)
        again = read_alert_file(export)
        before = read_alert_file(original)
        assert [a.signal_id() for a in again] == [a.signal_id() for a in before]
        fields = ("strategy", "symbol", "action", "lots", "order_type", "price", "product", "fired")
        for replayed, first in zip(again, before, strict=True):
            assert [getattr(replayed, f) for f in fields] == [getattr(first, f) for f in fields]
        assert _replay(tmp_path, f"from-{suffix}", export) == trades


def test_audit_export_that_lacks_what_an_alert_needs_is_refused_naming_the_row(
    tmp_path: Path,
) -> None:
    bars = nifty_like_bars(1)
    write_bar_recording(tmp_path / "rec", [INSTRUMENT], bars)
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text(json.dumps(tradingview_alert("le", bars[0].start_ns)) + "\n", "utf-8")
    _replay(tmp_path, "one", alerts)
    export = tmp_path / "audit.csv"
    _export(tmp_path / "runs" / "one" / "book.db", export)
    with open(export, encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    header = list(rows[0])
    received = next(n for n, row in enumerate(rows) if row["step"] == "received")

    def broken(**change: str) -> Path:
        edited = [dict(row) for row in rows]
        edited[received].update(change)
        path = tmp_path / "broken.csv"
        with open(path, "w", encoding="utf-8", newline="") as file:
            writer = csv.DictWriter(file, header)
            writer.writeheader()
            writer.writerows(edited)
        return path

    row = received + 2  # as a spreadsheet numbers it: the header is row 1
    cases = {
        "no symbol (nor a portfolio)": {"symbol": ""},
        "no action": {"action": ""},
        "action: Input should be": {"action": "sideways"},
        "lots": {"lots": "many"},
        "is not a time of the export": {"fired": "", "time_ist": "yesterday"},
    }
    for said, change in cases.items():
        with pytest.raises(AlertFileError) as refused:
            read_alert_file(broken(**change))
        assert f"row {row} (signal " in str(refused.value) and said in str(refused.value), said
    only_orders = [r for r in rows if r["step"] != "received"]
    with open(tmp_path / "orders.csv", "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, header)
        writer.writeheader()
        writer.writerows(only_orders)
    with pytest.raises(AlertFileError, match="holds no received signal to replay"):
        read_alert_file(tmp_path / "orders.csv")
