"""Recordings that went through more than one session or a hand's edit: a recorder started again
the same day adds to the day (its parts folded into the merged file, read until then), a kill
mid-merge loses nothing and reads nothing twice, and a folder named like a day that is not a date
is skipped and said by name while the rest is listed and replayed."""

from __future__ import annotations

import dataclasses
import logging
import signal
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from engine.api.backtests import BacktestService
from engine.core.clock import IST
from engine.domain.ticks import EMPTY_DEPTH, Tick
from engine.marketdata.recorder import Recorder
from engine.marketdata.recording import (
    Recording,
    RecordingError,
    instruments_table,
    listed_instruments,
    merged_through,
    ticks_of,
    write_bar_recording,
    write_whole,
)
from tests.backtest_support import INSTRUMENT, TOKEN, nifty_like_bars

ROOT = Path(__file__).resolve().parents[2]


def _ticks(hour: int, minute: int, count: int) -> list[Tick]:
    """``count`` ticks a second apart from ``hour:minute`` IST on 23 Nov 2026."""
    t0 = int(datetime(2026, 11, 23, hour, minute, tzinfo=IST).timestamp()) * 10**9
    empty = (EMPTY_DEPTH, EMPTY_DEPTH, 0)  # bids, asks, close
    return [
        # token, ltp, bid, ask, bid_qty, ask_qty, volume, oi, ts_ns, last_qty, then ``empty``
        Tick._make(
            (TOKEN, 24_000 + i, 23_995 + i, 24_005 + i, 10, 10, i, 0, t0 + i * 10**9, 1, *empty)
        )
        for i in range(count)
    ]


def _session(root: Path, ticks: list[Tick], *, merge: bool = True) -> None:
    recorder = Recorder(root, lambda: [INSTRUMENT], batch_ticks=200)
    recorder.record(ticks)
    recorder.close(merge=merge)


def _replayed(root: Path) -> list[Tick]:
    [day] = Recording(root).days()
    return [t for table in day.tick_tables() for t in ticks_of(table)]


def _names(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "2026-11-23").iterdir())


def test_recorder_restarted_the_same_day_folds_the_new_ticks_into_the_day(tmp_path: Path) -> None:
    morning, afternoon, evening = _ticks(9, 15, 600), _ticks(13, 0, 900), _ticks(15, 0, 300)
    _session(tmp_path, morning)
    _session(tmp_path, afternoon)
    assert _names(tmp_path) == ["bars.parquet", "instruments.parquet", "ticks.parquet"]
    [day] = Recording(tmp_path).days()
    assert day.tick_count() == 1_500 and _replayed(tmp_path) == morning + afternoon
    assert len(day.bars()) == 10 + 15
    through = merged_through(day.folder / "ticks.parquet")
    assert through >= 2, "the parts folded in are counted, so numbers go on after them"

    # A third session's parts are numbered after those and read before they are merged.
    _session(tmp_path, evening, merge=False)
    parts = [p.name for p in day.files("ticks")[1:]]
    assert day.files("ticks")[0].name == "ticks.parquet"
    assert parts and all(int(p[6:12]) > through for p in parts)
    assert _replayed(tmp_path) == morning + afternoon + evening
    assert day.tick_count() == 1_800 and len(day.bars()) == 10 + 15 + 5


def _killed_while_merging(root: Path, ticks_from: tuple[int, int, int], kill_on: str) -> None:
    """A recorder in its own process records a session and is SIGKILLed in its merge: before
    the merged file is renamed into place (``replace``) or right after it (``unlink``)."""
    script = textwrap.dedent(
        f"""
        import os, pathlib, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.integration.test_recording_faults import _ticks
        from tests.backtest_support import INSTRUMENT
        from engine.marketdata.recorder import Recorder

        real_replace = os.replace
        def replace(source, target):
            if {kill_on!r} == "replace" and pathlib.Path(target).name == "ticks.parquet":
                os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(source, target)
        def unlink(self, missing_ok=False):
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace = replace
        if {kill_on!r} == "unlink":
            pathlib.Path.unlink = unlink
        recorder = Recorder({str(root)!r}, lambda: [INSTRUMENT], batch_ticks=200)
        recorder.record(_ticks(*{ticks_from!r}))
        recorder.close()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL


@pytest.mark.parametrize("kill_on", ["replace", "unlink"])
def test_recorder_killed_mid_merge_loses_no_tick_and_reads_none_twice(
    tmp_path: Path, kill_on: str
) -> None:
    morning, afternoon, evening = _ticks(9, 15, 600), _ticks(13, 0, 900), _ticks(15, 0, 300)
    _session(tmp_path, morning)
    _killed_while_merging(tmp_path, (13, 0, 900), kill_on)
    left = _names(tmp_path)
    assert any(name.startswith("ticks-") for name in left), "the kill left parts behind"
    if kill_on == "replace":
        assert any(name.endswith(".part") for name in left), "and the unrenamed merged file"
    assert _replayed(tmp_path) == morning + afternoon

    # The next session of the day folds everything in and removes what the kill left.
    _session(tmp_path, evening)
    assert _names(tmp_path) == ["bars.parquet", "instruments.parquet", "ticks.parquet"]
    assert _replayed(tmp_path) == morning + afternoon + evening


def test_recording_with_a_folder_that_is_not_a_date_skips_it_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recordings = tmp_path / "recordings"
    write_bar_recording(recordings / "GOOD", [INSTRUMENT], nifty_like_bars(2))
    write_bar_recording(recordings / "OTHER", [INSTRUMENT], nifty_like_bars(1))
    (recordings / "OTHER" / "2026-02-30").mkdir()
    said = f"folder 2026-02-30 in recording {recordings / 'OTHER'} is not a date: skipped"

    recording = Recording(recordings / "OTHER")
    with caplog.at_level(logging.WARNING):
        days = recording.days()
        recording.days()
    assert [d.day.isoformat() for d in days] == ["2025-01-02"]
    assert recording.incomplete_days() == [] and recording.size_bytes() > 0
    assert recording.skipped_folders() == [said]
    assert [r.getMessage() for r in caplog.records] == [said], "said once, by name"

    service = BacktestService(
        runner=lambda *a, **k: None,
        runs_dir=tmp_path / "runs",
        recordings_dir=recordings,
        strategies=lambda: ["ema_cross"],
    )
    listed = {info.path.name: info for info in service.recordings()}
    assert sorted(listed) == ["GOOD", "OTHER"]
    assert len(listed["GOOD"].days) == 2 and listed["GOOD"].notes == ()
    assert len(listed["OTHER"].days) == 1 and listed["OTHER"].notes == (said,)


def test_recording_whose_days_name_two_contracts_by_one_token_is_refused_in_words(
    tmp_path: Path,
) -> None:
    """A recording made while the simulated market numbered its contracts in listing order: the
    token of an expired contract names another one the next day. Replaying it would trade the
    wrong contract, so it is refused, naming both and their days."""
    for day, symbol in (("2026-11-23", "NIFTY26NOVFUT"), ("2026-11-24", "NIFTY26DECFUT")):
        folder = tmp_path / day
        folder.mkdir()
        listed = dataclasses.replace(INSTRUMENT, tradingsymbol=symbol)
        write_whole(instruments_table([listed]), folder / "instruments.parquet")
    days = Recording(tmp_path).days()
    assert len(days) == 2
    with pytest.raises(RecordingError, match="NIFTY26NOVFUT on 2026-11-23 and NIFTY26DECFUT on"):
        listed_instruments(days)
    assert listed_instruments(days[:1]) == [
        dataclasses.replace(INSTRUMENT, tradingsymbol="NIFTY26NOVFUT")
    ]


def test_recorder_restarted_the_same_day_keeps_the_listing_its_earlier_ticks_name(
    tmp_path: Path,
) -> None:
    """A session of the day after an expiry closed lists fewer contracts than the morning's:
    the day keeps both listings, so no tick of the morning is left naming no instrument."""
    later = dataclasses.replace(INSTRUMENT, token=TOKEN + 256, tradingsymbol="NIFTYLIKE26DECFUT")
    for listing in ([INSTRUMENT], [later]):
        recorder = Recorder(tmp_path, lambda listing=listing: listing, batch_ticks=200)
        recorder.record(_ticks(9, 15, 10))
        recorder.close()
    [day] = Recording(tmp_path).days()
    assert sorted(i.tradingsymbol for i in day.instruments()) == [
        "NIFTYLIKE",
        "NIFTYLIKE26DECFUT",
    ]
