"""Faults a backtest run must come through in words: a later day's ticks that cannot be read
(the run stops, it never waits forever), two runs of one name at once (the second is refused,
the first keeps its own book), names that do not name a run folder of their own, and a
strategy that fails partway (its result says so, on disk too)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from engine.backtest.history_bars import record_csv_ticks
from engine.backtest.results import BacktestResult, load_result, read_result
from engine.backtest.run import BacktestError, BacktestRequest
from engine.backtest.run import run_backtest as run_on
from engine.marketdata import recording as recording_module
from engine.marketdata.recording import Recording, write_bar_recording
from engine.runtime.backtests import build_backtest_desk, run_backtest
from tests.backtest_support import (
    INSTRUMENT,
    TOKEN,
    ema_cross_request,
    nifty_like_bars,
    trades_csv,
)

HANG_GUARD_S = 60.0
"""Far beyond what these small runs take: reaching it means the run hangs."""

BOOM = """
from engine.strategies.ema_cross import EmaCrossStrategy


class Boom(EmaCrossStrategy):
    strategy_id = "boom"
    title = "EMA cross that fails after some bars"
    fail_after = 0

    def on_bar(self, bar):
        super().on_bar(bar)
        if self.fail_after and self._bars >= self.fail_after:
            raise RuntimeError("bad data in my indicator")
"""


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bars")
    write_bar_recording(folder, [INSTRUMENT], nifty_like_bars(2))
    return folder


@pytest.fixture
def ticks(tmp_path: Path) -> Path:
    """Two days of ticks, as a CSV import of trades records them."""
    folder = tmp_path / "ticks"
    record_csv_ticks(trades_csv(tmp_path / "trades.csv", nifty_like_bars(2)), INSTRUMENT, folder)
    return folder


def _ticks_request(recording: Path, name: str = "ticks") -> BacktestRequest:
    return BacktestRequest(
        name, str(recording), strategy="ema_cross", params={"token": TOKEN, "quantity": 10}
    )


def _run_guarded(request: BacktestRequest, folder: Path) -> BacktestResult:
    """The run, on the runtime's desk, failed by a timeout should it hang."""

    async def guarded() -> BacktestResult:
        return await asyncio.wait_for(run_on(request, folder, build_backtest_desk), HANG_GUARD_S)

    return asyncio.run(guarded())


def _second_day_ticks(recording: Path) -> Path:
    days = Recording(recording).days()
    assert len(days) == 2
    [path] = days[1].files("ticks")
    return path


# -- a later day's ticks cannot be read --------------------------------------------------------


def test_backtest_when_a_later_days_ticks_lack_a_column_stops_naming_the_file(
    ticks: Path, tmp_path: Path
) -> None:
    broken = _second_day_ticks(ticks)
    pq.write_table(pq.read_table(broken).drop_columns(["bids"]), broken)
    folder = tmp_path / "runs" / "ticks"

    with pytest.raises(BacktestError) as stopped:
        _run_guarded(_ticks_request(ticks), folder)

    # The first day replayed whole: the run stopped at its last tick, before the second's first.
    said = str(stopped.value)
    assert said.startswith(
        f"the run stopped at 2025-01-02 15:29:20 IST market time: {broken} cannot be replayed: "
        'Field "bids" does not exist in schema. '
    )
    assert "Traceback" not in said and "\n" not in said
    # The first day ran: its book is kept, and the name is taken until the folder is removed.
    assert (folder / "book.db").exists()
    with pytest.raises(BacktestError, match="stopped before its end"):
        _run_guarded(_ticks_request(ticks), folder)


def test_backtest_when_a_later_days_ticks_are_corrupt_stops_naming_the_file(
    ticks: Path, tmp_path: Path
) -> None:
    broken = _second_day_ticks(ticks)
    data = bytearray(broken.read_bytes())
    for at in range(200, 2000):  # the data pages; the footer (the row count) stays whole
        data[at] ^= 0x5A
    broken.write_bytes(bytes(data))

    with pytest.raises(BacktestError) as stopped:
        _run_guarded(_ticks_request(ticks), tmp_path / "runs" / "ticks")

    said = str(stopped.value)
    assert said.startswith(f"the run stopped at 2025-01-02 15:29:20 IST market time: {broken} ")
    assert f"{broken} cannot be read: " in said and "\n" not in said


def test_backtest_on_ticks_when_every_day_reads_runs_to_its_end(
    ticks: Path, tmp_path: Path
) -> None:
    result = _run_guarded(_ticks_request(ticks), tmp_path / "runs" / "ticks")
    assert result.ticks == sum(day.tick_count() for day in Recording(ticks).days()) > 0


# -- two runs of one name at once --------------------------------------------------------------


def test_backtest_when_a_run_of_the_same_name_starts_while_one_reads_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = tmp_path / "bars"
    write_bar_recording(recording, [INSTRUMENT], nifty_like_bars(6))
    read = recording_module.RecordedDay.bars
    reading = threading.Event()

    def slowly(day: recording_module.RecordedDay) -> list[object]:
        reading.set()
        threading.Event().wait(0.15)
        return read(day)  # type: ignore[return-value]

    monkeypatch.setattr(recording_module.RecordedDay, "bars", slowly)
    folder = tmp_path / "runs" / "same"
    long_request = ema_cross_request(recording, "same")
    outcome: dict[str, BacktestResult | Exception] = {}

    def long_run() -> None:
        try:
            outcome["result"] = run_backtest(long_request, folder)
        except Exception as exc:  # reported by the assertions below
            outcome["error"] = exc

    first = threading.Thread(target=long_run)
    first.start()
    try:
        assert reading.wait(HANG_GUARD_S)
        one_day = replace(long_request, end=Recording(recording).days()[0].day)
        with pytest.raises(BacktestError) as refused:
            run_backtest(one_day, folder)
    finally:
        first.join(HANG_GUARD_S)
    said = str(refused.value)
    assert f"a run is going on in {folder}: choose another name than 'same'" in said
    assert "'same-2'" in said

    # The first run ran alone in its book: its result is its own, and the book holds it.
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert isinstance(result, BacktestResult)
    alone = run_backtest(ema_cross_request(recording, "alone"), tmp_path / "runs" / "alone")
    assert result.trades == alone.trades and result.fills > 0
    summary, _equity = read_result(folder / "book.db")
    assert summary["ticks"] == alone.ticks == 4 * 375 * 6


def test_backtest_when_a_book_appears_while_it_reads_does_not_build_on_it(
    bars: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = tmp_path / "kept"
    other = run_backtest(ema_cross_request(bars, "kept"), kept)
    folder = tmp_path / "runs" / "same"
    read = recording_module.RecordedDay.bars

    def then_a_book_appears(day: recording_module.RecordedDay) -> list[object]:
        # What a run of the same name that slipped past the claim would leave meanwhile.
        shutil.copyfile(kept / "book.db", folder / "book.db")
        return read(day)  # type: ignore[return-value]

    monkeypatch.setattr(recording_module.RecordedDay, "bars", then_a_book_appears)
    with pytest.raises(BacktestError, match=f"a run is already kept in {re.escape(str(folder))}"):
        run_backtest(ema_cross_request(bars, "same"), folder)

    assert load_result(folder / "book.db").net_pnl == other.net_pnl
    assert sorted(p.name for p in folder.iterdir()) == ["book.db"]


def test_backtest_when_the_name_holds_a_kept_run_is_refused_suggesting_a_free_name(
    bars: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    run_backtest(ema_cross_request(bars, "ema"), runs / "ema")
    (runs / "ema-2").mkdir()  # taken too: the suggestion is a name that is free

    with pytest.raises(BacktestError) as refused:
        run_backtest(ema_cross_request(bars, "ema"), runs / "ema")

    assert str(refused.value) == (
        f"a run is already kept in {runs / 'ema'}: choose another name than 'ema', such as 'ema-3'"
    )
    assert has_one_result(runs / "ema" / "book.db")


def has_one_result(book: Path) -> bool:
    with sqlite3.connect(book) as connection:
        kept = connection.execute("SELECT COUNT(*) FROM backtest_summary").fetchone()[0]
    connection.close()
    return bool(kept == 1)


def test_backtest_refused_before_it_ran_leaves_no_folder_and_frees_the_name(
    bars: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "runs" / "ema"
    with pytest.raises(BacktestError, match="ema_cross did not start"):
        run_backtest(ema_cross_request(bars, fast="abc"), folder)
    assert not (tmp_path / "runs").exists()  # nor the runs folder the run made
    assert run_backtest(ema_cross_request(bars), folder).fills > 0


# -- names that do not name a run folder of its own --------------------------------------------


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("", "a run needs a name"),
        ("   ", "a run needs a name"),
        (".", "a run cannot be named '.'"),
        ("..", "a run cannot be named '..'"),
        ("a/b", "cannot hold / \\ or :"),
        ("c:x", "cannot hold / \\ or :"),
        (" spaced", "cannot start or end with a space or a dot"),
        ("spaced ", "cannot start or end with a space or a dot"),
        (".hidden", "cannot start or end with a space or a dot"),
        ("trailing.", "cannot start or end with a space or a dot"),
        ("tab\there", "cannot hold a control character"),
        ("line\nbreak", "cannot hold a control character"),
        ("x" * 101, "at most 100 characters"),
    ],
)
def test_backtest_request_when_the_name_is_not_a_folder_of_its_own_is_refused(
    bars: Path, name: str, said: str
) -> None:
    with pytest.raises(BacktestError) as refused:
        ema_cross_request(bars, name)
    assert said in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("name", ["nifty 5.2", "ema-cross_10", "निफ्टी ब्रेकआउट", "x" * 100])
def test_backtest_request_with_an_ordinary_name_is_taken(bars: Path, name: str) -> None:
    assert ema_cross_request(bars, name).name == name


def test_backtest_when_the_folder_cannot_be_made_says_so_in_words(
    bars: Path, tmp_path: Path
) -> None:
    (tmp_path / "runs").write_text("a file where the runs folder would be")
    with pytest.raises(BacktestError, match=r"the folder of run 'ema' cannot be made"):
        run_backtest(ema_cross_request(bars), tmp_path / "runs" / "ema")


# -- a strategy that fails partway -------------------------------------------------------------


@pytest.fixture(scope="module")
def strategies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("strategies")
    (folder / "boom.py").write_text(BOOM, encoding="utf-8")
    return folder


def _boom(recording: Path, strategies: Path, name: str, fail_after: int) -> BacktestRequest:
    return BacktestRequest(
        name,
        str(recording),
        strategy="boom",
        params={"token": TOKEN, "quantity": 5, "fail_after": fail_after},
        mode="bars",
        strategies_dir=str(strategies),
    )


def test_backtest_when_the_strategy_fails_partway_says_when_and_why(
    bars: Path, strategies: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    failed = run_backtest(_boom(bars, strategies, "failed", 100), runs / "failed")
    clean = run_backtest(_boom(bars, strategies, "clean", 0), runs / "clean")

    assert clean.strategy_failures == ()
    [said] = failed.strategy_failures
    assert re.fullmatch(
        r"2025-01-02 \d\d:\d\d IST: strategy boom failed in on_tick: RuntimeError: "
        r"bad data in my indicator",
        said,
    ), said
    assert failed.ticks == clean.ticks  # the replay went on to its end without the strategy


def test_backtest_result_kept_on_disk_keeps_its_strategy_failures(
    bars: Path, strategies: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "runs" / "failed"
    result = run_backtest(_boom(bars, strategies, "failed", 100), folder)
    book = folder / "book.db"

    loaded = load_result(book)
    assert loaded.strategy_failures == result.strategy_failures
    assert len(loaded.strategy_failures) == 1
    assert replace(loaded, trades=result.trades) == result


def test_backtest_result_kept_before_strategy_failures_existed_still_loads(
    bars: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "runs" / "old"
    result = run_backtest(ema_cross_request(bars, "old"), folder)
    book = folder / "book.db"
    summary, _equity = read_result(book)
    del summary["strategy_failures"]
    with sqlite3.connect(book) as connection:
        connection.execute("UPDATE backtest_summary SET summary = ?", (json.dumps(summary),))
    connection.close()

    loaded = load_result(book)
    assert loaded.strategy_failures == ()
    assert (loaded.net_pnl, loaded.fills, loaded.equity) == (
        result.net_pnl,
        result.fills,
        result.equity,
    )
