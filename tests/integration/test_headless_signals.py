"""Ctrl+C (SIGINT) and SIGTERM end `dalaldesk --headless` the way its --duration does: the engine
stops, the closing marks and backup are written and the summary prints, with no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.headless import run_session
from engine.runtime import EngineConfig
from engine.store.book_lock import book_holder

ROOT = Path(__file__).resolve().parents[2]

posix_signals = pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")


class Desk:
    """A real headless desk on a throwaway HOME, its stderr read line by line as it comes."""

    def __init__(self, home: Path) -> None:
        env = dict(os.environ)
        env.update(
            HOME=str(home),
            XDG_DATA_HOME=str(home / "data"),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_STATE_HOME=str(home / "state"),
            XDG_CACHE_HOME=str(home / "cache"),
            PYTHONPATH=str(ROOT),
            PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        )
        self.data = home / "data" / "dalaldesk"
        command = ["-m", "app.main", "--headless", "--demo", "--always-open", "--duration", "300"]
        self.process = subprocess.Popen(
            [sys.executable, *command],
            env=env,
            cwd=home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.err_lines: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.err_lines.append(line)

    def wait_until_trading(self) -> None:
        """The book is held and the demo strategy has had a few seconds to trade."""
        deadline = time.monotonic() + 60
        while book_holder(self.data / "dalaldesk.db") is None:
            assert self.process.poll() is None, self.finish()
            assert time.monotonic() < deadline, "the desk never took its book"
            time.sleep(0.2)
        time.sleep(4)
        assert self.process.poll() is None, self.finish()

    def wait_for_err(self, text: str) -> None:
        deadline = time.monotonic() + 30
        while not any(text in line for line in self.err_lines):
            assert time.monotonic() < deadline, f"never said {text!r}: {self.err_lines}"
            time.sleep(0.01)

    def finish(self) -> tuple[int, str, str]:
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        code = self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        return code, out, "".join(self.err_lines)

    def close_backups(self) -> list[Path]:
        return sorted((self.data / "backups").glob("*-close.db"))


@pytest.fixture
def desk(tmp_path: Path):  # type: ignore[no-untyped-def]
    started = Desk(tmp_path)
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait(timeout=30)


def summary_of(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@posix_signals
@pytest.mark.parametrize(
    ("sent", "words", "stopped_by"),
    [
        (signal.SIGINT, "stopped by Ctrl+C", "Ctrl+C"),
        (signal.SIGTERM, "stopped (SIGTERM)", "SIGTERM"),
    ],
    ids=["sigint", "sigterm"],
)
def test_headless_when_signalled_closes_the_book_and_prints_the_summary(
    desk: Desk, sent: signal.Signals, words: str, stopped_by: str
) -> None:
    desk.wait_until_trading()
    desk.process.send_signal(sent)
    code, out, err = desk.finish()

    assert "Traceback" not in err + out
    assert code == 0, err[-3000:]
    assert words in err
    summary = summary_of(out)
    assert summary["stopped_by"] == stopped_by
    assert summary["seconds"] < 300
    assert summary["ticks"] > 0
    # The closing marks are journaled whenever a position is held, and the close copy is made.
    assert summary["marks_seq"] is not None or not summary["positions"]
    assert len(desk.close_backups()) == 1
    assert book_holder(desk.data / "dalaldesk.db") is None


@posix_signals
def test_headless_when_ctrl_c_pressed_twice_says_it_is_already_stopping(desk: Desk) -> None:
    desk.wait_until_trading()
    desk.process.send_signal(signal.SIGINT)
    desk.wait_for_err("stopped by Ctrl+C")
    desk.process.send_signal(signal.SIGINT)
    code, out, err = desk.finish()

    assert "Traceback" not in err + out
    assert code == 0, err[-3000:]
    assert "already stopping" in err
    assert summary_of(out)["stopped_by"] == "Ctrl+C"
    assert len(desk.close_backups()) == 1


async def test_headless_session_run_to_its_duration_puts_the_signal_handlers_back(
    tmp_path: Path,
) -> None:
    watched = (signal.SIGINT, signal.SIGTERM)
    before = {number: signal.getsignal(number) for number in watched}
    config = EngineConfig(
        db_url=f"sqlite:///{tmp_path / 'book.db'}", always_open=True, var_interval_seconds=0
    )
    summary = await run_session(config, 0.5, demo=False)

    assert summary["stopped_by"] is None
    assert summary["seconds"] == 0.5
    assert {number: signal.getsignal(number) for number in watched} == before
