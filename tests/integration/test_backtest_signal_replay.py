"""A replay of TradingView alerts as a backtest run: each alert of the file reaches the desk's
SignalDesk at the time it fired, on the replay's clock, and trades through the gate."""

from __future__ import annotations

import json

import pytest

from engine.backtest.run import BacktestError, BacktestRequest
from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtests import run_backtest
from tests.backtest_support import INSTRUMENT, nifty_like_bars, tradingview_alert

MINUTE_NS = 60_000_000_000


def test_backtest_replay_of_tradingview_alerts_trades_each_at_its_time(tmp_path) -> None:
    bars = nifty_like_bars(1)
    write_bar_recording(tmp_path / "bars", [INSTRUMENT], bars)
    start = bars[0].start_ns
    alerts = [
        tradingview_alert("le", start + 10 * MINUTE_NS),
        tradingview_alert("exit", start + 60 * MINUTE_NS),
    ]
    signals = tmp_path / "alerts.jsonl"
    signals.write_text("\n".join(json.dumps(a) for a in alerts) + "\n", encoding="utf-8")

    result = run_backtest(
        BacktestRequest("tv", str(tmp_path / "bars"), signals=str(signals), mode="bars"),
        tmp_path / "run",
    )
    assert result.strategy == "signals alerts.jsonl" and not result.cancelled
    sides = [(side, qty) for _ts, _token, side, qty, _price in result.trades]
    assert sides == [("BUY", 40), ("SELL", 40)]
    bought, sold = (t[0] for t in result.trades)
    # Filled at the open of the bar after the alert (bar mode's next-bar fills).
    assert 10 * MINUTE_NS <= bought - start <= 11 * MINUTE_NS
    assert 60 * MINUTE_NS <= sold - start <= 61 * MINUTE_NS

    # The same alerts as a JSON array (in any order) make the same trades.
    array = tmp_path / "alerts.json"
    array.write_text(json.dumps(alerts[::-1]), encoding="utf-8")
    again = run_backtest(
        BacktestRequest("tv2", str(tmp_path / "bars"), signals=str(array), mode="bars"),
        tmp_path / "run2",
    )
    assert again.trades == result.trades


def test_backtest_replay_of_a_bad_alerts_file_is_refused_in_words(tmp_path) -> None:
    bars = nifty_like_bars(1)
    write_bar_recording(tmp_path / "bars", [INSTRUMENT], bars)
    start = bars[0].start_ns
    cases = {
        "undated.jsonl": json.dumps({"symbol": "NSE:NIFTYLIKE", "action": "buy"}),
        "early.jsonl": json.dumps(tradingview_alert("buy", start - 60 * MINUTE_NS)),
        "broken.jsonl": '{"symbol": "NSE:NIFTYLIKE", "action": ',
    }
    expected = {
        "undated.jsonl": "line 1: the alert has no 'fired' time",
        "early.jsonl": "fired before the recording starts",
        "broken.jsonl": "line 1: the message is not JSON",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        request = BacktestRequest(
            name, str(tmp_path / "bars"), signals=str(tmp_path / name), mode="bars"
        )
        with pytest.raises(BacktestError, match=expected[name]):
            run_backtest(request, tmp_path / "runs" / name)
