"""CSV imports that are stopped or handed an unusual file: `import-candles` interrupted (Ctrl+C,
or killed) keeps nothing and runs again; a file with separate Date and Time columns is read as
one timestamp; a header naming a column twice, or split by semicolons or tabs, is refused in
words naming what is wrong."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.backtest.csv_import import (
    CsvImportError,
    ImportReport,
    file_kind,
    read_candles,
    read_ticks,
    text_source,
)
from engine.backtest.history_bars import csv_instrument, record_csv_candles
from engine.marketdata.recording import Recording
from tests.backtest_support import TOKEN, nifty_like_bars

ROOT = Path(__file__).resolve().parents[2]


def _candles_csv(path: Path, sessions: int) -> Path:
    lines = ["timestamp,open,high,low,close,volume"]
    for bar in nifty_like_bars(sessions):
        prices = ",".join(f"{p / 100:.2f}" for p in (bar.open, bar.high, bar.low, bar.close))
        lines.append(f"{bar.start:%Y-%m-%d %H:%M:%S},{prices},{bar.volume}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _days_written(out: Path) -> int:
    """Day folders written so far, in the recording or in an import's staging folder in it."""
    try:
        return sum(1 for d in [*out.glob("20*"), *out.glob(".importing-*/20*")] if d.is_dir())
    except OSError:  # a folder removed as it was listed
        return 0


SESSIONS = 120


@pytest.fixture(scope="module")
def candles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _candles_csv(tmp_path_factory.mktemp("csv") / "candles.csv", SESSIONS)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_candle_import_interrupted_while_writing_keeps_nothing_and_runs_again(
    tmp_path: Path, candles: Path, stop: signal.Signals
) -> None:
    csv = candles
    out = tmp_path / "rec"
    command = [sys.executable, "-m", "engine.runtime.backtest_cli", "import-candles"]
    command += ["--csv", str(csv), "--symbol", "NIFTYLIKE", "--token", str(TOKEN)]
    command += ["--out", str(out)]
    importing = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while _days_written(out) < 20:  # well into writing its days
        assert importing.poll() is None, "the import ended before it could be stopped"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    importing.send_signal(stop)
    _out, err = importing.communicate(timeout=60)

    if stop == signal.SIGINT:
        assert importing.returncode == 130 and "an import keeps nothing" in err
        assert not out.exists(), "a new recording folder that got nothing is not left"
    else:
        assert importing.returncode == -signal.SIGKILL
        assert [p.name for p in out.iterdir() if not p.name.startswith(".importing-")] == []
        assert Recording(out).days() == []

    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["days"] == SESSIONS
    assert len(Recording(out).days()) == SESSIONS
    assert not list(out.glob(".importing-*")), "what the stopped import left is removed"


def test_candle_import_refused_or_stopped_while_moving_in_leaves_the_recording_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instrument = csv_instrument("NIFTYLIKE")
    root = tmp_path / "NIFTYLIKE"
    record_csv_candles(_candles_csv(tmp_path / "two.csv", 2), instrument, root)
    kept = sorted(p.name for p in root.iterdir())
    assert kept == ["2025-01-02", "2025-01-03"]
    with pytest.raises(CsvImportError, match="already records 2 of the file's days"):
        record_csv_candles(_candles_csv(tmp_path / "three.csv", 3), instrument, root)
    assert sorted(p.name for p in root.iterdir()) == kept

    # Ctrl+C between two days moving in: the one moved goes back, nothing is kept.
    other = tmp_path / "OTHER"
    rename = Path.rename
    moved: list[str] = []

    def interrupted(self: Path, target: Path) -> Path:
        if Path(target).parent == other and not self.name.startswith("."):
            if moved:
                raise KeyboardInterrupt
            moved.append(self.name)
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        record_csv_candles(tmp_path / "three.csv", instrument, other)
    assert moved == ["2025-01-02"] and not other.exists()


VENDOR = "Date,Time,Open,High,Low,Close,Volume\n"


def test_csv_import_joins_separate_date_and_time_columns_into_one_timestamp() -> None:
    rows = [f"2026-11-23,{t},100,101,99,100.5,10" for t in ("09:15:00", "9:16", "09:17:00")]
    rows.append("23/11/2026,09:18,100,101,99,100.5,10")  # a day-first date joins as well
    rows.append("2026-11-23,,100,101,99,100.5,10")
    report = ImportReport()
    bars = list(read_candles(text_source(VENDOR + "\n".join(rows) + "\n"), report=report))
    assert [b.start.strftime("%Y-%m-%d %H:%M") for b in bars] == [
        "2026-11-23 09:15",
        "2026-11-23 09:16",
        "2026-11-23 09:17",
        "2026-11-23 09:18",
    ]
    assert str(report.problems[0]) == "row 6: the time is empty"
    assert report.imported == 4 and report.skipped == 1 and report.ignored_columns == []

    odd = VENDOR + "2026-11-23,quarter past nine,100,101,99,100.5,10\n"
    report = ImportReport()
    assert list(read_candles(text_source(odd), report=report)) == []
    assert str(report.problems[0]) == (
        "row 2: date '2026-11-23' and time 'quarter past nine' do not make a timestamp this "
        "import reads"
    )

    trades = "date,time,symbol,price,qty\n2026-11-23,09:15:00.250,ACME,100.5,7\n"
    [tick] = read_ticks(text_source(trades), token_of=lambda _symbol: 5)
    assert tick.ts_ns % 10**9 == 250_000_000 and tick.ltp == 10_050

    # Either alone is the timestamp, as before.
    alone = "Date,Open,High,Low,Close,Volume\n2026-11-23 09:15,100,101,99,100.5,10\n"
    [bar] = read_candles(text_source(alone))
    assert bar.start.strftime("%H:%M") == "09:15"


def test_candle_import_of_a_date_and_time_file_keeps_every_candle(tmp_path: Path) -> None:
    lines = [VENDOR.strip()]
    for day in ("2026-11-23", "2026-11-24"):
        for minute in range(375):
            hour, mins = divmod(9 * 60 + 15 + minute, 60)
            lines.append(f"{day},{hour:02d}:{mins:02d}:00,100,101,99,100.5,10")
    (tmp_path / "vendor.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report, days = record_csv_candles(
        tmp_path / "vendor.csv", csv_instrument("ACME"), tmp_path / "rec"
    )
    assert (report.imported, report.skipped, days) == (750, 0, 2)
    for day in Recording(tmp_path / "rec").days():
        bars = day.bars()
        assert len(bars) == 375 and bars[0].start.strftime("%H:%M") == "09:15"


@pytest.mark.parametrize(
    ("header", "said"),
    [
        (
            "Timestamp,Date,Open,High,Low,Close,Volume",
            "the header gives the time of a row more than once (Timestamp, Date): keep one "
            "timestamp column, or a date and a time column",
        ),
        (
            "DateTime,Time,Open,High,Low,Close,Volume",
            "the header gives the time of a row more than once (DateTime, Time)",
        ),
        (
            "timestamp,open,high,low,close,Volume,vol",
            "the header names the volume more than once (Volume, vol): keep one",
        ),
    ],
)
def test_csv_import_refuses_an_ambiguous_header_naming_its_columns(header: str, said: str) -> None:
    with pytest.raises(CsvImportError) as refused:
        list(read_candles(text_source(header + "\n")))
    assert said in str(refused.value)


def test_csv_import_refuses_a_ticks_header_naming_the_price_twice() -> None:
    with pytest.raises(CsvImportError, match=r"names the ltp more than once \(Price, LTP\)"):
        list(read_ticks(text_source("timestamp,token,Price,LTP,qty\n")))


@pytest.mark.parametrize(
    ("separator", "said"), [(";", "separated by semicolons (;)"), ("\t", "separated by tabs")]
)
def test_csv_import_of_a_file_split_by_another_separator_says_which(
    tmp_path: Path, separator: str, said: str
) -> None:
    header = separator.join(["timestamp", "open", "high", "low", "close", "volume"])
    row = separator.join(["2026-11-23 09:15:00", "100", "101", "99", "100.5", "10"])
    path = tmp_path / "semicolons.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    for read in (lambda: list(read_candles(path)), lambda: file_kind(path)):
        with pytest.raises(CsvImportError) as refused:
            read()
        assert said in str(refused.value) and "not commas" in str(refused.value)
