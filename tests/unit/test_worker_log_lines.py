"""A worker killed while it writes a log line to the desk (the OOM killer strikes whenever it
likes) leaves the shared log queue's write lock held for good. The sweep's next pool must not
share that queue: its workers would wait on the lock for ever, and the sweep with them.

The sweep runs in a child process (this file, run as a script) so that a hang fails the test
instead of holding the suite."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from engine.backtest.run import BacktestError, BacktestRequest
from engine.backtest.sweep import WORKER_DIED, FailedRun, sweep_processes

LINE = "a line from the run that lived"


def _dies_holding_the_log_lock(request: BacktestRequest, folder: str) -> None:
    """The sweep's run, in a worker: the set named "dies" takes the log queue's write lock (as
    a worker writing a log line does) and is killed holding it; the other, run after it (one
    worker), writes a log line."""
    if request.name == "dies":
        queue = logging.getLogger().handlers[0].queue  # type: ignore[attr-defined]
        queue._wlock.acquire()
        os.kill(os.getpid(), signal.SIGKILL)
    logging.getLogger("strategy").warning("%s (%s)", LINE, request.name)
    raise BacktestError(f"{request.name} ran to its end")


def _sweep(folder: Path) -> None:
    logging.basicConfig(filename=folder / "desk.log", level=logging.INFO)
    requests = [BacktestRequest(name, recording=str(folder), strategy="ema_cross") for name in ("dies", "lives")]
    outcomes = sweep_processes(requests, folder / "runs", _dies_holding_the_log_lock, workers=1)
    for outcome in outcomes:
        assert isinstance(outcome, FailedRun)
        print(f"{outcome.name}: {outcome.reason}", flush=True)


def test_sweep_when_a_worker_dies_holding_the_log_lock_finishes_and_keeps_the_others_lines(
    tmp_path: Path,
) -> None:
    line = [sys.executable, __file__, str(tmp_path)]
    cwd = Path(__file__).resolve().parents[2]

    done = subprocess.run(line, capture_output=True, text=True, timeout=120, cwd=cwd)

    assert done.returncode == 0, done.stderr
    said = dict(row.split(": ", 1) for row in done.stdout.splitlines())
    assert said["dies"].startswith(WORKER_DIED) and "twice" in said["dies"]
    assert said["lives"] == "lives ran to its end"
    assert f"{LINE} (lives)" in (tmp_path / "desk.log").read_text(encoding="utf-8")


if __name__ == "__main__":
    _sweep(Path(sys.argv[1]))
