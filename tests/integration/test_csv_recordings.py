"""CSV files kept as recordings: the trades stream through the recorder, are reported as they
are read, and a cancelled or refused import leaves the recording folder as it was."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.backtest import history_bars
from engine.backtest.csv_import import CsvImportError
from engine.backtest.history_bars import csv_instrument, record_csv_ticks
from engine.marketdata.recording import Recording
from engine.store.book_lock import BookLock
from tests.backtest_support import nifty_like_bars, trades_csv


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_csv_trades_import_reports_rows_read_and_a_cancel_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_bars, "IMPORT_REPORT_ROWS", 500)
    instrument = csv_instrument("NIFTYLIKE")
    root = tmp_path / "NIFTYLIKE"
    first = trades_csv(tmp_path / "first.csv", nifty_like_bars(2))
    report, days = record_csv_ticks(first, instrument, root)
    assert days == 2 and report.imported == 1_498
    kept = _listing(root)

    later = nifty_like_bars(6)[2 * 375 :]  # four more days
    heard: list[int] = []
    with pytest.raises(CsvImportError) as stopped:
        record_csv_ticks(
            trades_csv(tmp_path / "later.csv", later),
            instrument,
            root,
            progress=heard.append,
            cancelled=lambda: len(heard) >= 3,
        )
    assert str(stopped.value) == "the import was cancelled after 1,500 rows: nothing was kept"
    assert heard == [500, 1_000, 1_500]
    assert _listing(root) == kept, "the recording is as it was, with nothing of the import"

    # The whole file, then: the four days join the two.
    record_csv_ticks(tmp_path / "later.csv", instrument, root)
    assert len(Recording(root).days()) == 6


def test_csv_trades_import_that_would_overwrite_a_day_or_names_no_trade_keeps_nothing(
    tmp_path: Path,
) -> None:
    instrument = csv_instrument("NIFTYLIKE")
    root = tmp_path / "NIFTYLIKE"
    bars = nifty_like_bars(3)
    record_csv_ticks(trades_csv(tmp_path / "first.csv", bars[:375]), instrument, root)
    kept = _listing(root)

    with pytest.raises(CsvImportError, match="already records 2025-01-02, a day of the file"):
        record_csv_ticks(trades_csv(tmp_path / "all.csv", bars), instrument, root)
    assert _listing(root) == kept

    other = csv_instrument("OTHER")
    with pytest.raises(CsvImportError, match="no trade could be imported: 0 of 2250 rows"):
        record_csv_ticks(tmp_path / "all.csv", other, tmp_path / "OTHER")
    assert not (tmp_path / "OTHER").exists(), "no empty recording is left to list"


def test_csv_trades_import_removes_what_killed_imports_left_and_nothing_of_one_going_on(
    tmp_path: Path,
) -> None:
    root = tmp_path / "NIFTYLIKE"
    day = "2025-01-01"

    def staging(name: str) -> Path:
        folder = root / f".importing-{name}"
        (folder / day).mkdir(parents=True)
        (folder / day / "ticks.parquet").write_bytes(b"a day half written")  # counted nowhere
        return folder

    killed = staging("killed")
    BookLock.acquire(killed / "import").release()  # its process died holding it
    going_on = staging("going-on")
    staging("just-made")  # the moment before its import takes its lock
    old = staging("old")  # no lock, and an hour old
    an_hour_ago = time.time() - 3700
    os.utime(old, (an_hour_ago, an_hour_ago))

    with BookLock.acquire(going_on / "import"):
        record_csv_ticks(
            trades_csv(tmp_path / "trades.csv", nifty_like_bars(1)),
            csv_instrument("NIFTYLIKE"),
            root,
        )
        assert sorted(p.name for p in root.iterdir()) == [
            ".importing-going-on",
            ".importing-just-made",
            "2025-01-02",
        ]
    assert not killed.exists() and not old.exists()
    assert (going_on / day / "ticks.parquet").read_bytes() == b"a day half written"
    recording = Recording(root)
    assert len(recording.days()) == 1, "a staging folder is never a recorded day"
    day_files = (root / "2025-01-02").glob("*.parquet")
    assert recording.size_bytes() == sum(p.stat().st_size for p in day_files)
