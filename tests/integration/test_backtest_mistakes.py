"""A run set up wrong is told in words and leaves nothing behind: a parameter the strategy
refuses, a recorded day that cannot be replayed, orders the risk gate refuses all along, a run
cancelled while its recording is read."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from engine.backtest import run as run_module
from engine.backtest.run import BacktestCancelled, BacktestError, Progress
from engine.marketdata.recording import Recording, write_bar_recording
from engine.runtime.backtests import run_backtest
from engine.store.book_lock import BookLock
from tests.backtest_support import INSTRUMENT, ema_cross_request, nifty_like_bars


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bars")
    write_bar_recording(folder, [INSTRUMENT], nifty_like_bars(2))
    return folder


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"fast": "abc"}, "fast must be a whole number, not 'abc'"),
        ({"fast": 50}, "fast (50) must be positive and below slow (30)"),
        ({"quantity": 0}, "quantity (0) must be positive"),
        ({"token": 999}, "the desk lists no instrument with token 999"),
        ({"product": "XYZ"}, "product must be one of MIS, NRML, CNC, not 'XYZ'"),
    ],
)
def test_backtest_when_a_parameter_is_refused_says_why_and_frees_the_name(
    recording: Path, tmp_path: Path, params: dict[str, object], said: str
) -> None:
    runs = tmp_path / "runs"
    with pytest.raises(BacktestError, match="ema_cross did not start") as refused:
        run_backtest(ema_cross_request(recording, "first", **params), runs / "first")
    assert said in str(refused.value)
    # Nothing ran, so nothing is kept: the same name runs once the parameter is set right.
    assert not (runs / "first").exists()
    result = run_backtest(ema_cross_request(recording, "first"), runs / "first")
    assert result.fills > 0 and (runs / "first" / "book.db").exists()


def test_backtest_cancelled_while_its_bars_are_read_keeps_nothing_and_frees_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_module, "READ_REPORT_S", 0.0)  # every day read is reported
    recording = tmp_path / "bars"
    write_bar_recording(recording, [INSTRUMENT], nifty_like_bars(8))
    steps: list[Progress] = []
    folder = tmp_path / "runs" / "ema"

    with pytest.raises(BacktestCancelled) as stopped:
        run_backtest(ema_cross_request(recording), folder, progress=steps.append, cancel=_Once(3))
    assert str(stopped.value) == (
        "cancelled while the recording was read (3 of 8 days): nothing ran and nothing was kept"
    )
    assert [s.days_read for s in steps] == [(1, 8), (2, 8), (3, 8)]
    assert all(s.done == 0 and s.eta_s is None for s in steps)
    days = [d.day for d in Recording(recording).days()]
    assert [s.market_time.date() for s in steps] == days[:3]
    assert not folder.exists()
    result = run_backtest(ema_cross_request(recording), folder)
    assert result.fills > 0 and not result.cancelled


class _Once:
    """A cancel asked at its ``after``-th look."""

    def __init__(self, after: int) -> None:
        self._looks = 0
        self._after = after

    def is_set(self) -> bool:
        self._looks += 1
        return self._looks > self._after


def test_backtest_when_the_run_folder_holds_other_files_keeps_them(
    recording: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("the trader's own")
    with pytest.raises(BacktestError):
        run_backtest(ema_cross_request(recording, "mine", fast="abc"), folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_backtest_when_a_day_has_no_instruments_file_is_refused_naming_the_day(
    recording: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(recording, copy)
    second = sorted(p for p in copy.iterdir() if p.is_dir())[1]
    (second / "instruments.parquet").unlink()
    assert Recording(copy).incomplete_days() == [second]
    assert [d.day.isoformat() for d in Recording(copy).days()] == [
        sorted(p.name for p in copy.iterdir())[0]
    ]

    with pytest.raises(BacktestError, match=f"cannot be replayed: {second.name}"):
        run_backtest(ema_cross_request(copy), tmp_path / "runs" / "ema")
    assert not (tmp_path / "runs" / "ema").exists()

    # A range that leaves the day out runs.
    within = replace(ema_cross_request(copy), end=Recording(copy).days()[0].day)
    assert run_backtest(within, tmp_path / "runs" / "ema").ticks == 4 * 375


def test_backtest_when_the_gate_refuses_every_order_counts_them_with_the_first_reason(
    recording: Path, tmp_path: Path
) -> None:
    result = run_backtest(ema_cross_request(recording, product="NRML"), tmp_path / "nrml")
    assert result.orders == 0 and result.fills == 0
    assert result.denied > 0
    assert result.first_denial == "NRML is for F&O; use CNC or MIS for NIFTYLIKE"
    assert result.row()["denied"] == result.denied


def test_ema_cross_when_no_product_is_given_trades_a_share_as_delivery(
    recording: Path, tmp_path: Path
) -> None:
    result = run_backtest(ema_cross_request(recording), tmp_path / "default")
    assert result.denied == 0 and result.fills > 0
    explicit = run_backtest(ema_cross_request(recording, "cnc", product="CNC"), tmp_path / "cnc")
    assert (result.trades, result.net_pnl) == (explicit.trades, explicit.net_pnl)


def test_backtest_when_the_name_is_taken_says_whether_the_run_ended_stopped_or_goes_on(
    recording: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "runs" / "ema"
    run_backtest(ema_cross_request(recording), folder)
    with pytest.raises(BacktestError, match=r"a run is already kept in .*: choose another name"):
        run_backtest(ema_cross_request(recording), folder)

    # A run killed before its end leaves its book without a result.
    with sqlite3.connect(folder / "book.db") as connection:
        connection.execute("DELETE FROM backtest_summary")
    connection.close()
    with pytest.raises(BacktestError, match="holds a run that stopped before its end"):
        run_backtest(ema_cross_request(recording), folder)

    with (
        BookLock.acquire(folder / "book.db"),
        pytest.raises(BacktestError, match="a run is going on in"),
    ):
        run_backtest(ema_cross_request(recording), folder)

    # Another run of the same name that begins while this one reads its recording (its book
    # not yet written): this one stops in words and leaves the other's book alone.
    other = tmp_path / "runs" / "same"
    with BookLock.acquire(other / "book.db"):
        with pytest.raises(BacktestError, match=r"a run is going on in .*same: choose another"):
            run_backtest(ema_cross_request(recording), other)
        assert sorted(p.name for p in other.iterdir()) == ["book.db.lock"]
