"""The backtest command line, as the README tells it: a run on a recording prints its summary
as JSON on its last line; a bad parameter is an error in words and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtest_cli import main
from tests.backtest_support import INSTRUMENT, TOKEN, nifty_like_bars, tradingview_alert


def test_backtest_cli_runs_a_bar_backtest_and_prints_its_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_bar_recording(tmp_path / "rec", [INSTRUMENT], nifty_like_bars(2))
    common = ["--recording", str(tmp_path / "rec"), "--runs", str(tmp_path / "runs"), "--bars"]
    params = ["--param", f"token={TOKEN}", "--param", "quantity=5", "--param", "product=CNC"]
    assert main(["run", *common, "--strategy", "ema_cross", *params, "--name", "one"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["name"] == "one" and summary["fills"] > 0 and summary["param.quantity"] == 5
    assert (tmp_path / "runs" / "one" / "book.db").exists()

    assert main(["run", *common, "--strategy", "ema_cross", "--param", "fast"]) == 2
    assert "a parameter is name=value" in capsys.readouterr().err
    assert main(["run", *common, "--strategy", "nosuch", "--name", "two"]) == 2
    assert "no strategy named 'nosuch'" in capsys.readouterr().err


def test_backtest_cli_runs_an_algo_and_an_alerts_replay_and_refuses_bad_files_in_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = nifty_like_bars(1)
    write_bar_recording(tmp_path / "rec", [INSTRUMENT], bars)
    common = ["--recording", str(tmp_path / "rec"), "--runs", str(tmp_path / "runs"), "--bars"]
    algo = {
        "kind": "twap",
        "token": TOKEN,
        "side": "BUY",
        "quantity": 60,
        "product": "CNC",
        "duration_seconds": 300,
        "slices": 5,
        "order_type": "MARKET",
    }
    (tmp_path / "twap.json").write_text(json.dumps(algo), encoding="utf-8")
    assert main(["run", *common, "--algo", str(tmp_path / "twap.json"), "--name", "twap"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["name"] == "twap" and summary["fills"] >= 5

    fired = [bars[0].start_ns + minutes * 60_000_000_000 for minutes in (10, 40)]
    alerts = [
        tradingview_alert(action, ns, lots=20)
        for action, ns in zip(("le", "exit"), fired, strict=True)
    ]
    lines = "\n".join(json.dumps(alert) for alert in alerts) + "\n"
    (tmp_path / "alerts.jsonl").write_text(lines, encoding="utf-8")
    assert main(["run", *common, "--alerts", str(tmp_path / "alerts.jsonl"), "--name", "tv"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["name"] == "tv" and summary["fills"] == 2

    (tmp_path / "broken.json").write_text('{"kind": "twap",', encoding="utf-8")
    assert main(["run", *common, "--algo", str(tmp_path / "broken.json")]) == 2
    said = capsys.readouterr().err
    assert "the algo file" in said and "is not JSON" in said and "line 1" in said
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    assert main(["run", *common, "--algo", str(tmp_path / "list.json")]) == 2
    assert "must hold one JSON object of settings" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text('{"symbol": "NSE:NIFTYLIKE", "action": ', encoding="utf-8")
    assert main(["run", *common, "--alerts", str(tmp_path / "bad.jsonl"), "--name", "bad"]) == 2
    assert "line 1: the message is not JSON" in capsys.readouterr().err
    both = ["--algo", str(tmp_path / "twap.json"), "--alerts", str(tmp_path / "alerts.jsonl")]
    assert main(["run", *common, *both]) == 2
    assert "one of a strategy, a portfolio, an algo or a signals file" in capsys.readouterr().err
