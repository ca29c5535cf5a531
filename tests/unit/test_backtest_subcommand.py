"""`dalaldesk backtest ...`: the backtest command line inside the desk's own command, so the
installed desk (which has no Python for ``python -m``) records, imports, runs and sweeps too; it
runs exactly what ``python -m engine.runtime.backtest_cli`` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.main import main as desk_main
from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtest_cli import main as module_main
from tests.backtest_support import INSTRUMENT, TOKEN, nifty_like_bars

PARAMS = ["--param", f"token={TOKEN}", "--param", "quantity=5", "--param", "product=CNC"]


def _common(tmp_path: Path) -> list[str]:
    write_bar_recording(tmp_path / "rec", [INSTRUMENT], nifty_like_bars(1))
    return ["--recording", str(tmp_path / "rec"), "--runs", str(tmp_path / "runs"), "--bars"]


def _summary(out: str) -> dict[str, object]:
    summary: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return {key: value for key, value in summary.items() if key not in ("name", "seconds")}


def test_backtest_subcommand_when_given_a_run_gives_what_the_module_command_gives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = _common(tmp_path)
    run = ["run", *common, "--strategy", "ema_cross", *PARAMS]

    assert desk_main(["backtest", *run, "--name", "desk"]) == 0
    by_desk = capsys.readouterr().out
    assert module_main([*run, "--name", "module"]) == 0
    by_module = capsys.readouterr().out

    assert json.loads(by_desk.strip().splitlines()[-1])["name"] == "desk"
    assert _summary(by_desk)["fills"], "the run traded nothing: the comparison would say little"
    assert _summary(by_desk) == _summary(by_module)
    assert (tmp_path / "runs" / "desk" / "book.db").is_file()


def test_backtest_subcommand_when_asked_for_help_names_itself_and_every_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as ended:
        desk_main(["backtest", "--help"])

    assert ended.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: dalaldesk backtest ")
    for command in ("record", "import-candles", "import-ticks", "run", "sweep"):
        assert command in shown


def test_backtest_subcommand_when_its_arguments_are_wrong_says_so_under_its_own_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = _common(tmp_path)

    assert desk_main(["backtest", "run", *common, "--strategy", "nosuch"]) == 2
    assert "no strategy named 'nosuch'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ended:
        desk_main(["backtest", "sweep", "--grid", "fast=5"])
    assert ended.value.code == 2
    said = capsys.readouterr().err
    assert "dalaldesk backtest sweep: error:" in said and "--recording" in said


@pytest.mark.parametrize(
    ("frozen", "words"),
    [
        (False, 'Dask is not installed, and a sweep on a cluster needs it: pip install "dalaldesk'),
        (True, "this installed desk does not include Dask, which a sweep on a cluster needs"),
    ],
)
def test_backtest_sweep_when_dask_is_not_installed_says_so_in_words_and_runs_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    frozen: bool,
    words: str,
) -> None:
    common = _common(tmp_path)
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an install without Dask finds
    if frozen:
        monkeypatch.setattr(sys, "frozen", True, raising=False)  # PyInstaller's mark

    sweep = ["sweep", *common, "--strategy", "ema_cross", *PARAMS, "--grid", "fast=5,8"]
    assert desk_main(["backtest", *sweep, "--dask", "tcp://127.0.0.1:8786"]) == 2

    said = capsys.readouterr().err
    assert words in said and "leave out --dask" in said and "Traceback" not in said
    assert not (tmp_path / "runs").exists()


@pytest.mark.timeout(240)
def test_backtest_sweep_when_run_as_the_desk_command_runs_its_sets_in_worker_processes(
    tmp_path: Path,
) -> None:
    """The command as a trader types it, in its own process: its workers are spawned from the
    ``dalaldesk`` command's own script (``app.launch``), as a frozen desk's are from itself."""
    common = _common(tmp_path)
    script = Path(sys.executable).with_name("dalaldesk")
    command = (
        [str(script)]
        if script.is_file()
        else [sys.executable, "-c", "import sys; from app.launch import main; sys.exit(main())"]
    )
    sweep = ["sweep", *common, "--strategy", "ema_cross", *PARAMS, "--grid", "fast=5,8"]
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}

    done = subprocess.run(
        [*command, "backtest", *sweep, "--workers", "2", "--name", "grid"],
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
    )

    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout.strip().splitlines()[-1])
    assert [row["name"] for row in table] == ["grid-001", "grid-002"]
    assert [row["param.fast"] for row in table] == [5, 8]
    assert all("error" not in row for row in table)
    assert "2/2 runs" in done.stderr
