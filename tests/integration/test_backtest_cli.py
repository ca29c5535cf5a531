"""The backtest command line, as the README tells it: a run on a recording prints its summary
as JSON on its last line; a bad parameter is an error in words and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtest_cli import main
from tests.backtest_support import INSTRUMENT, TOKEN, nifty_like_bars


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
