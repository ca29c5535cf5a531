"""Sweeps and the command line when things go wrong partway: a worker process killed mid-run
(the OOM killer, a task manager, a strategy that ends its own process), the trader's own
strategies from the profile's folder, and a strategy that fails partway through its run (in a sweep's table, the command line's summary and
the Backtest panel): each said in words, with the runs that finished kept and no traceback on
the terminal.

One file for the engine, the command line and the panel (a second file of this name under
tests/ui would clash with this one at collection)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.api.backtests import BacktestService
from engine.backtest.results import BacktestResult, has_result
from engine.backtest.run import BacktestRequest
from engine.backtest.sweep import (
    WORKER_DIED,
    FailedRun,
    results_table,
    sweep_processes,
    sweep_requests,
)
from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtest_cli import main
from engine.runtime.backtests import run_backtest
from tests.backtest_support import INSTRUMENT, TOKEN, nifty_like_bars

# The trader's own strategies, as files in a strategies folder: each an EMA cross that, in one
# parameter set, ends its own worker process (every time, or the first time only: a kill from
# outside that a second try gets past) or raises partway.
STRATEGIES = {
    "killer.py": """
import os, signal
from engine.strategies.ema_cross import EmaCrossStrategy

class Killer(EmaCrossStrategy):
    strategy_id = "killer"
    title = "EMA cross that kills its own process after some bars"
    die_after = 0
    once_marker = ""

    def on_bar(self, bar):
        super().on_bar(bar)
        if self.die_after and self._bars == self.die_after:
            if self.once_marker:
                if os.path.exists(self.once_marker):
                    return
                open(self.once_marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
""",
    "boom.py": """
from engine.strategies.ema_cross import EmaCrossStrategy

class Boom(EmaCrossStrategy):
    strategy_id = "boom"
    title = "EMA cross that fails after some bars"
    fail_after = 0

    def on_bar(self, bar):
        super().on_bar(bar)
        if self.fail_after and self._bars >= self.fail_after:
            raise ZeroDivisionError("division by zero")
""",
}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bars")
    write_bar_recording(folder, [INSTRUMENT], nifty_like_bars(2))
    return folder


def _strategies(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in STRATEGIES.items():
        (folder / name).write_text(text.lstrip(), encoding="utf-8")
    return folder


def _request(recording: Path, strategies: Path, strategy: str, name: str) -> BacktestRequest:
    return BacktestRequest(
        name,
        str(recording),
        strategy=strategy,
        params={"token": TOKEN, "quantity": 5, "product": "CNC"},
        mode="bars",
        strategies_dir=str(strategies),
    )


def test_backtest_sweep_when_a_set_kills_its_worker_every_time_reports_it_and_runs_the_rest(
    recording: Path, tmp_path: Path
) -> None:
    strategies = _strategies(tmp_path / "strategies")
    sets = [{"die_after": 0}, {"die_after": 200}, {"die_after": 0}, {"die_after": 0}]
    requests = sweep_requests(_request(recording, strategies, "killer", "kill"), sets)
    counted: list[int] = []

    outcomes = sweep_processes(
        requests,
        tmp_path / "runs",
        run_backtest,
        workers=2,
        progress=lambda done, _total: counted.append(done),
    )

    assert counted == [1, 2, 3, 4], "each set counted once, however often it ran"
    failed = outcomes[1]
    assert isinstance(failed, FailedRun) and failed.name == "kill-002"
    assert failed.reason.startswith(WORKER_DIED) and "twice" in failed.reason
    for outcome in (outcomes[0], outcomes[2], outcomes[3]):
        assert isinstance(outcome, BacktestResult) and outcome.fills > 0
        assert has_result(Path(outcome.book))
    table = results_table(outcomes)
    assert [row["name"] for row in table] == ["kill-001", "kill-002", "kill-003", "kill-004"]
    assert table[1]["error"] == failed.reason and "error" not in table[0]
    # The first interrupted attempt is kept aside; the second stays under the set's name.
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert "kill-002" in runs and "kill-002.interrupted" in runs


def test_backtest_sweep_when_a_worker_is_killed_once_runs_its_set_again_and_all_finish(
    recording: Path, tmp_path: Path
) -> None:
    strategies = _strategies(tmp_path / "strategies")
    marker = tmp_path / "killed-once"
    sets = [
        {"die_after": 0},
        {"die_after": 200, "once_marker": str(marker)},
        {"die_after": 0},
    ]
    requests = sweep_requests(_request(recording, strategies, "killer", "once"), sets)

    outcomes = sweep_processes(requests, tmp_path / "runs", run_backtest, workers=2)

    assert marker.exists(), "the worker was killed once"
    assert all(isinstance(o, BacktestResult) and o.fills > 0 for o in outcomes)
    assert [o.name for o in outcomes if o is not None] == ["once-001", "once-002", "once-003"]
    again = outcomes[1]
    assert isinstance(again, BacktestResult)
    assert Path(again.book) == tmp_path / "runs" / "once-002" / "book.db"


def test_backtest_cli_sweep_when_a_worker_is_killed_prints_the_table_and_no_traceback(
    recording: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    # The trader's strategy, where the desk keeps them: the profile's strategies folder.
    _strategies(tmp_path / "data" / "dalaldesk" / "faults" / "strategies")
    line = [sys.executable, "-m", "engine.runtime.backtest_cli", "sweep", "--bars"]
    line += ["--recording", str(recording), "--runs", str(tmp_path / "runs")]
    line += ["--strategy", "killer", "--profile", "faults", "--limits", "defaults"]
    line += ["--param", f"token={TOKEN}", "--param", "product=CNC", "--name", "sw"]
    line += ["--grid", "die_after=0,150,0", "--workers", "2"]

    done = subprocess.run(line, env=env, capture_output=True, text=True, timeout=240)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"sweep run sw-002: {WORKER_DIED}; it runs again" in done.stderr
    assert "1 of 3 runs could not run" in done.stderr
    table = json.loads(done.stdout.strip().splitlines()[-1])
    assert [row["name"] for row in table] == ["sw-001", "sw-002", "sw-003"]
    assert table[1]["error"].startswith(WORKER_DIED)
    assert table[0]["fills"] > 0 and table[2]["fills"] > 0
    log = next((tmp_path / "state").rglob("backtest.log")).read_text(encoding="utf-8")
    assert "BrokenProcessPool" in log, "the details are in the log"


def test_backtest_cli_runs_the_traders_own_strategy_from_the_profiles_folder(
    recording: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    _strategies(tmp_path / "data" / "dalaldesk" / "mine" / "strategies")
    common = ["--recording", str(recording), "--runs", str(tmp_path / "runs"), "--bars"]
    common += ["--profile", "mine", "--limits", "defaults"]
    params = ["--param", f"token={TOKEN}", "--param", "quantity=5", "--param", "product=CNC"]

    assert main(["run", *common, "--strategy", "killer", *params, "--name", "own"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["name"] == "own" and summary["fills"] > 0 and summary["failed"] == ""


def test_backtest_sweep_table_marks_a_run_whose_strategy_failed_partway(
    recording: Path, tmp_path: Path
) -> None:
    strategies = _strategies(tmp_path / "strategies")
    sets = [{"fail_after": 0}, {"fail_after": 100}]
    requests = sweep_requests(_request(recording, strategies, "boom", "boom"), sets)

    outcomes = sweep_processes(requests, tmp_path / "runs", run_backtest, workers=1)

    clean, failed = outcomes
    assert isinstance(clean, BacktestResult) and clean.strategy_failures == ()
    assert isinstance(failed, BacktestResult) and len(failed.strategy_failures) == 1
    assert "strategy boom failed in on_tick: ZeroDivisionError" in failed.strategy_failures[0]
    table = results_table(outcomes)
    assert table[0]["failed"] == ""
    assert table[1]["failed"] == failed.strategy_failures[0]
    assert "error" not in table[1], "it ran: its row has its figures, marked as partial"


def test_backtest_cli_run_says_each_strategy_failure_and_exits_1(
    recording: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    _strategies(tmp_path / "data" / "dalaldesk" / "mine" / "strategies")
    common = ["--recording", str(recording), "--runs", str(tmp_path / "runs"), "--bars"]
    common += ["--profile", "mine", "--limits", "defaults", "--param", f"token={TOKEN}"]

    assert main(["run", *common, "--strategy", "boom", "--param", "fail_after=50"]) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert "strategy boom failed in on_tick: ZeroDivisionError" in summary["failed"]
    said = captured.err.splitlines()
    at = next(
        i
        for i, text in enumerate(said)
        if "the strategy failed and stopped trading partway" in text
    )
    assert "strategy boom failed in on_tick: ZeroDivisionError: division by zero" in said[at + 1]
    assert "Traceback" not in captured.err

    assert main(["sweep", *common, "--strategy", "boom", "--grid", "fail_after=0,50"]) == 1
    captured = capsys.readouterr()
    assert "1 of 2 runs had their strategy fail partway" in captured.err
    table = json.loads(captured.out.strip().splitlines()[-1])
    assert table[0]["failed"] == "" and table[1]["failed"]


@pytest.fixture
def qloop(qapp) -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:  # type: ignore[no-untyped-def]
    """A qasync loop, as the app runs (tests/ui/conftest.py's, which this folder does not see)."""
    import qasync

    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        yield loop.run_until_complete
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def test_backtest_panel_says_in_words_that_the_strategy_failed_partway(  # type: ignore[no-untyped-def]
    qtbot, qloop, recording: Path, tmp_path: Path
) -> None:
    from ui.panels.backtest import BacktestPanel

    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / "niftylike").symlink_to(recording, target_is_directory=True)
    service = BacktestService(
        runner=run_backtest,
        runs_dir=tmp_path / "runs",
        recordings_dir=recordings,
        strategies=lambda: ["boom", "ema_cross"],
        strategies_dir=_strategies(tmp_path / "strategies"),
    )
    panel = BacktestPanel(service)
    qtbot.addWidget(panel)
    panel.resize(900, 640)
    panel.show()
    panel.strategy.setCurrentIndex(panel.strategy.findData("boom"))
    panel.params.setText(f"token={TOKEN} quantity=5 product=CNC fail_after=100")
    panel.bars.setChecked(True)

    async def run() -> None:
        panel.run_button.click()
        waited = 0.0
        while panel.result is None:
            assert waited < 60, "the run did not finish"
            await asyncio.sleep(0.05)
            waited += 0.05

    qloop(run())
    result = panel.result
    assert result is not None and len(result.strategy_failures) == 1
    assert panel.status.text().startswith("Done, but the strategy failed partway: ")
    said = panel.summary.text().splitlines()
    assert said[1] == (
        "The strategy failed and stopped trading partway, so these figures are not of its whole run:"
    )
    assert said[2] == f"  {result.strategy_failures[0]}"
    assert "strategy boom failed in on_tick: ZeroDivisionError: division by zero" in said[2]
    shots = Path(os.environ.get("DALALDESK_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    assert panel.grab().save(str(shots / "backtest_panel_strategy_failed.png"))


def test_sweep_a_set_killed_before_it_had_a_book_leaves_no_folder_behind(tmp_path: Path) -> None:
    from engine.backtest.run import CLAIM
    from engine.backtest.sweep import _only_a_claim_removed
    from engine.store.book_lock import lock_path

    claimed = tmp_path / "sweep-001"
    claimed.mkdir()
    lock_path(claimed / CLAIM).write_text("pid 1\n")  # what a worker killed while reading leaves
    assert _only_a_claim_removed(claimed) and not claimed.exists()
    booked = tmp_path / "sweep-002"
    booked.mkdir()
    lock_path(booked / CLAIM).write_text("pid 1\n")
    (booked / "book.db").write_bytes(b"a book")
    assert not _only_a_claim_removed(booked), "a run that left a book is moved aside whole"
    assert sorted(p.name for p in booked.iterdir()) == ["book.db", "run.lock"]
