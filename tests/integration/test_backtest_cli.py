"""The backtest command line, as the README tells it: a run on a recording prints its summary
as JSON on its last line; a bad parameter is an error in words and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.marketdata.recording import Recording, ticks_of, write_bar_recording
from engine.runtime.backtest_cli import main
from tests.backtest_support import (
    INSTRUMENT,
    TOKEN,
    nifty_like_bars,
    trades_csv,
    tradingview_alert,
)
from tests.full_disk import small_tmpfs


def test_backtest_cli_runs_a_bar_backtest_and_prints_its_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_bar_recording(tmp_path / "rec", [INSTRUMENT], nifty_like_bars(2))
    common = ["--recording", str(tmp_path / "rec"), "--runs", str(tmp_path / "runs"), "--bars"]
    params = ["--param", f"token={TOKEN}", "--param", "quantity=5", "--param", "product=CNC"]
    assert main(["run", *common, "--strategy", "ema_cross", *params, "--name", "one"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["name"] == "one" and summary["fills"] > 0 and summary["param.quantity"] == 5
    # The run's book alone: a backtest keeps no copies of it.
    assert sorted(p.name for p in (tmp_path / "runs" / "one").iterdir()) == [
        "book.db",
        "book.db.lock",
    ]

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


def test_backtest_cli_imports_csv_candles_as_a_recording_and_runs_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = nifty_like_bars(2)
    lines = ["timestamp,open,high,low,close,volume"]
    for bar in bars:
        moment = bar.start.strftime("%Y-%m-%d %H:%M")  # IST, no zone
        prices = ",".join(f"{p / 100:.2f}" for p in (bar.open, bar.high, bar.low, bar.close))
        lines.append(f"{moment},{prices},{bar.volume}")
    lines[6] = lines[6].replace(",", ",abc,", 1).rsplit(",", 1)[0]  # row 7: a bad open
    (tmp_path / "candles.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rec = tmp_path / "rec"
    imported = ["import-candles", "--csv", str(tmp_path / "candles.csv"), "--out", str(rec)]

    assert main([*imported, "--symbol", "niftylike"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["imported"] == len(bars) - 1 and summary["skipped"] == 1
    assert summary["days"] == 2
    assert "row 7: open 'abc' is not a price in rupees to the paisa" in err
    assert "NIFTYLIKE is token" in err

    # A recorded day is never overwritten.
    assert main([*imported, "--symbol", "niftylike"]) == 2
    assert "already records 2 of the file's days" in capsys.readouterr().err

    common = ["--recording", str(rec), "--runs", str(tmp_path / "runs"), "--bars"]
    params = ["--param", "quantity=5"]  # no token: the recording's one instrument
    assert main(["run", *common, "--strategy", "ema_cross", *params, "--name", "csv"]) == 0
    run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert run["fills"] > 0 and run["ticks"] == 4 * (len(bars) - 1)

    assert main([*imported, "--symbol", "x", "--out", str(tmp_path / "other"), "--lot", "0"]) == 2
    assert "--lot must be a positive number of shares, not 0" in capsys.readouterr().err


def test_backtest_cli_imports_csv_trades_as_a_tick_recording_and_runs_on_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = nifty_like_bars(2)
    trades_csv(tmp_path / "trades.csv", bars)
    rec = tmp_path / "rec"
    imported = ["import-ticks", "--csv", str(tmp_path / "trades.csv"), "--out", str(rec)]

    assert main([*imported, "--symbol", "niftylike"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["imported"] == 2 * len(bars) - 2 and summary["skipped"] == 2
    assert summary["days"] == 2
    assert "row 10: no instrument 'RELIANCE'" in err and "row 21: qty -3 is negative" in err
    recording = Recording(rec)
    days = recording.days()
    assert sum(day.tick_count() for day in days) == summary["imported"]
    assert len([bar for day in days for bar in day.bars()]) == len(bars)  # built from them
    first = next(ticks_of(next(iter(days[0].tick_tables()))))
    assert first.bid == first.ask == first.ltp and first.bid_qty == first.ask_qty == 40

    assert main([*imported, "--symbol", "niftylike"]) == 2
    assert "already records 2025-01-02, a day of the file" in capsys.readouterr().err

    runs = ["--recording", str(rec), "--runs", str(tmp_path / "runs")]
    params = ["--param", "quantity=45", "--param", "product=CNC"]  # the recording's one
    assert main(["run", *runs, "--strategy", "ema_cross", *params, "--name", "trades"]) == 0
    run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert run["ticks"] == summary["imported"] and run["orders"] > 0
    # No trade printed more than 46 shares: an order of 45 fills in one or two of them.
    assert run["orders"] <= run["fills"] <= 2 * run["orders"]

    by_token = tmp_path / "by_token.csv"
    by_token.write_text(
        "timestamp,token,ltp,qty\n2025-01-02 09:15:00,111,100.00,5\n"
        "2025-01-02 09:15:01,222,100.05,5\n",
        encoding="utf-8",
    )
    other = ["import-ticks", "--csv", str(by_token), "--out", str(tmp_path / "tok")]
    assert main([*other, "--symbol", "x", "--token", "111"]) == 0
    said = capsys.readouterr().err
    assert "row 3: instrument 222 is not one of those imported" in said


def _cli_process(
    tmp_path: Path, command: str, *args: str, days: int = 1, runs: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The command as a trader runs it: its own process, logging set up by no one else, its
    logs under ``tmp_path / "state"``, on ``days`` of bars."""
    write_bar_recording(tmp_path / "rec", [INSTRUMENT], nifty_like_bars(days))
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    line = [sys.executable, "-m", "engine.runtime.backtest_cli", command, "--bars"]
    line += ["--recording", str(tmp_path / "rec"), "--runs", str(runs or tmp_path / "runs")]
    line += ["--strategy", "ema_cross", "--profile", "clitest", *args]
    return subprocess.run(line, env=env, capture_output=True, text=True, timeout=180)


def test_backtest_cli_says_a_strategy_failure_in_words_and_keeps_its_traceback_in_the_log(
    tmp_path: Path,
) -> None:
    done = _cli_process(tmp_path, "run", "--param", "fast=abc")

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "fast must be a whole number, not 'abc'" in done.stderr
    log = next((tmp_path / "state").rglob("backtest.log"))
    assert log.parent.name == "clitest" and f"the details are in {log}" in done.stderr
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "ValueError: fast must be a whole number" in text
    # Where the command itself stopped, in the file alone.
    assert "INFO engine.runtime.backtest_cli: the command stopped: ema_cross did not start" in text
    assert "the command stopped" not in done.stderr


def test_backtest_cli_sweep_keeps_its_workers_tracebacks_in_the_log_too(tmp_path: Path) -> None:
    done = _cli_process(tmp_path, "sweep", "--grid", "fast=abc,5")

    assert done.returncode == 1  # one set refused, the other ran
    assert "Traceback" not in done.stderr
    assert "error: strategy ema_cross failed in on_start" in done.stderr  # the worker's, one line
    assert "\r" not in done.stderr and "2/2 runs\n" in done.stderr  # a pipe gets whole lines
    text = next((tmp_path / "state").rglob("backtest.log")).read_text(encoding="utf-8")
    assert "Traceback" in text and "ValueError: fast must be a whole number" in text


def test_backtest_cli_on_a_full_disk_says_the_run_stopped_in_one_line(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", size="300k") as disk:
        if not disk.tmpfs:
            pytest.skip("needs a small tmpfs (mounting is not permitted here)")
        # Room for the book's start, not for 20 days of its orders.
        done = _cli_process(tmp_path, "run", "--name", "full", days=20, runs=disk.directory)

    assert done.returncode == 2
    said = [line for line in done.stderr.splitlines() if "% at " not in line]  # progress
    assert said[0].startswith("risk limits: a new book's")  # before the run: no book yet
    assert said[1].startswith(f"error: the run stopped: its book in {disk.directory / 'full'}")
    assert "(database or disk is full)" in said[1] and said[2].startswith("(the details are in")
    assert len(said) == 3, "the live desk's words for a full disk stay in the log"
    text = next((tmp_path / "state").rglob("backtest.log")).read_text(encoding="utf-8")
    assert "order entry paused: the journal cannot write (database or disk is full)" in text


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["sweep", "--grid", "fast="], "the grid gives fast no value: 'fast='"),
        (["sweep", "--grid", "fast= , "], "the grid gives fast no value"),
        (["sweep", "--grid", "=5,10"], "a grid is name=value,value,..., not '=5,10'"),
        (["sweep", "--grid", "fast"], "a grid is name=value,value,..., not 'fast'"),
        (
            ["sweep", "--grid", "fast=5", "--grid", "fast=10"],
            "the grid names fast twice: give its values in one --grid",
        ),
        (["run", "--param", "fast=5", "--param", "fast=10"], "fast is given twice: give it once"),
        (["run", "--from", "2025-13-01"], "--from is a day as YYYY-MM-DD, not '2025-13-01'"),
        (["run", "--to", "yesterday"], "--to is a day as YYYY-MM-DD, not 'yesterday'"),
    ],
)
def test_backtest_cli_refuses_a_malformed_grid_or_day_in_words_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], said: str
) -> None:
    write_bar_recording(tmp_path / "rec", [INSTRUMENT], nifty_like_bars(1))
    command, *rest = arguments
    common = ["--recording", str(tmp_path / "rec"), "--runs", str(tmp_path / "runs"), "--bars"]
    strategy = ["--strategy", "ema_cross", "--param", f"token={TOKEN}", "--name", "bad"]
    assert main([command, *common, *strategy, *rest]) == 2
    captured = capsys.readouterr()
    assert f"error: {said}" in captured.err and "Traceback" not in captured.err
    assert captured.out == "" and not (tmp_path / "runs").exists()


def test_backtest_cli_record_on_a_disk_too_small_says_the_recording_is_incomplete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_tmpfs(tmp_path / "disk", size="100k") as disk:
        if not disk.tmpfs:
            pytest.skip("needs a small tmpfs (mounting is not permitted here)")
        out = disk.directory / "rec"
        # Room for the session's book and the day's instruments, not for a minute of ticks.
        assert main(["record", "--minutes", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"ticks could not be recorded, so the recording under {out} is incomplete" in err
    assert "No space left on device" in err


def test_backtest_cli_applies_the_limits_last_set_in_the_profiles_book_or_the_ones_it_is_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.risk.limits import RiskLimits, RiskSettings
    from engine.runtime import Engine, EngineConfig
    from engine.store.urls import default_database_path, sqlite_url

    profile = f"limits-{tmp_path.name}"
    write_bar_recording(tmp_path / "rec", [INSTRUMENT], nifty_like_bars(1))
    common = ["--recording", str(tmp_path / "rec"), "--runs", str(tmp_path / "runs"), "--bars"]
    common += ["--profile", profile, "--strategy", "ema_cross", "--param", f"token={TOKEN}"]
    common += ["--param", "quantity=5", "--param", "product=CNC"]

    # No book yet: a new book's limits, said so.
    assert main(["run", *common, "--name", "fresh"]) == 0
    outcome = capsys.readouterr()
    assert f"risk limits: a new book's (profile '{profile}' has no paper book)" in outcome.err
    assert json.loads(outcome.out.strip().splitlines()[-1])["fills"] > 0

    # The desk sets its limits and keeps its book open while the run reads them.
    book = default_database_path(profile, "paper")
    book.parent.mkdir(parents=True, exist_ok=True)
    desk = Engine.build(EngineConfig(db_url=str(sqlite_url(book))))
    try:
        desk.api.set_risk_limits(
            RiskSettings(RiskLimits(max_position_lots=40), {"paper": {"max_position_lots": 2}}),
            "two lots while I learn",
        )
        assert main(["run", *common, "--name", "desk"]) == 0
        outcome = capsys.readouterr()
        assert "risk limits: those saved in the paper book on " in outcome.err
        assert "with the overrides of account 'paper'" in outcome.err
        assert "refused by the risk gate" in outcome.err and "the limit is 2 lots" in outcome.err
        assert json.loads(outcome.out.strip().splitlines()[-1])["fills"] == 0

        # Another account's overrides are not this one's.
        assert main(["run", *common, "--account", "kite", "--name", "kite"]) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["fills"] > 0
    finally:
        desk.close()

    assert main(["run", *common, "--limits", "defaults", "--name", "defaults"]) == 0
    outcome = capsys.readouterr()
    assert "risk limits: a new book's (--limits defaults)" in outcome.err
    assert json.loads(outcome.out.strip().splitlines()[-1])["fills"] > 0

    limits = tmp_path / "limits.json"
    limits.write_text(json.dumps({"defaults": {"max_position_lots": 1}}), encoding="utf-8")
    assert main(["run", *common, "--limits", str(limits), "--name", "file"]) == 0
    outcome = capsys.readouterr()
    assert f"risk limits: those of {limits}" in outcome.err
    assert json.loads(outcome.out.strip().splitlines()[-1])["fills"] == 0

    # Refused in words, nothing run: a book the profile does not have, a limit that does not
    # exist, a file that is not JSON, a book name that cannot be one.
    limits.write_text(json.dumps({"defaults": {"max_lots": 1}}), encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    for source, said in (
        ("kite", f"profile '{profile}' has no kite book"),
        (str(limits), "unknown risk limit(s) max_lots"),
        (str(tmp_path / "broken.json"), "is not JSON"),
        ("../paper", "cannot name a directory or file"),
    ):
        assert main(["run", *common, "--limits", source, "--name", "refused"]) == 2
        assert said in capsys.readouterr().err
    assert not (tmp_path / "runs" / "refused").exists()


def test_backtest_limits_from_a_book_url_are_the_last_ones_set_and_the_url_is_said_masked(
    book_url: str,
) -> None:
    from sqlalchemy.engine import make_url

    from engine.backtest.run import BacktestError
    from engine.risk.limits import RiskLimits, RiskSettings
    from engine.runtime import Engine, EngineConfig
    from engine.runtime.backtests import run_limits

    desk = Engine.build(EngineConfig(db_url=book_url))
    try:
        for lots in (7, 3):
            desk.api.set_risk_limits(RiskSettings(RiskLimits(max_position_lots=lots)))
    finally:
        desk.close()
    limits = run_limits(book_url, "default", named=True)
    assert limits.risk is not None
    assert RiskSettings.from_mapping(limits.risk).defaults.max_position_lots == 3
    password = make_url(book_url).password
    assert limits.said.startswith("those saved in the book at ")
    assert password is None or str(password) not in limits.said
    book_file = make_url(book_url).database
    if make_url(book_url).get_backend_name() == "sqlite":  # the file itself, as a trader has it
        assert book_file is not None
        by_file = run_limits(book_file, "default", named=True)
        assert by_file.risk == limits.risk and by_file.said.startswith(
            f"those saved in the book {book_file} on "
        )
        with pytest.raises(BacktestError, match="there is no book file"):
            run_limits(book_file + ".gone.db", "default", named=True)


def test_backtest_cli_record_twice_into_one_folder_counts_each_sessions_own_ticks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rec"
    line = ["record", "--minutes", "0.5", "--out", str(out)]
    assert main([*line, "--start", "2026-11-23T09:15:00"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main([*line, "--start", "2026-11-23T11:00:00"]) == 0
    captured = capsys.readouterr()
    second = json.loads(captured.out.strip().splitlines()[-1])
    assert first["ticks"] == first["total_ticks"] > 0
    assert second["ticks"] > 0 and second["total_ticks"] == first["ticks"] + second["ticks"]
    assert f"the recording now holds {second['total_ticks']:,}" in captured.err
    [day] = Recording(out).days()
    assert day.tick_count() == second["total_ticks"], "both sessions are replayed"
