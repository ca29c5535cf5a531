"""What a recording is kept under and read from, when the trader's input is odd: a symbol that
is no folder name of its own (``..``, a slash) is refused before anything is written; a CSV
header that is megabytes long, or UTF-16, is refused in a short message; a bar file that cannot
be read, or has bars with no close, stops the run in words naming it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.api.backtests import BacktestError, BacktestService
from engine.backtest.csv_import import CsvImportError, file_kind, read_candles
from engine.backtest.run import BacktestRequest
from engine.domain.bars import Bar, Timeframe
from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtests import run_backtest
from tests.backtest_support import INSTRUMENT, ema_cross_request, nifty_like_bars

CANDLES = (
    "timestamp,open,high,low,close,volume\n"
    "2025-01-02 09:15:00,100,101,99,100.5,10\n"
    "2025-01-02 09:16:00,100,101,99,100.5,10\n"
)


class _NoHistory:
    """A history source that must not be asked: the symbol is refused first."""

    async def candles(
        self, token: int, timeframe: Timeframe, start: datetime, end: datetime
    ) -> list[Bar]:
        raise AssertionError("the history was asked for a symbol that names no folder")


def _service(tmp_path: Path, symbol: str = "") -> BacktestService:
    listed = replace(INSTRUMENT, tradingsymbol=symbol)
    return BacktestService(
        runner=run_backtest,
        runs_dir=tmp_path / "desk" / "runs",
        recordings_dir=tmp_path / "desk" / "recordings",
        strategies=lambda: ["ema_cross"],
        history=_NoHistory(),
        find_instrument=lambda text: listed if symbol else None,
        now=lambda: datetime(2025, 1, 10, 10, 0, tzinfo=UTC),
    )


def _everything(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))


@pytest.mark.parametrize(
    ("symbol", "said"),
    [
        ("..", "cannot be '..': that is not a folder of its own"),
        ("../../OUTSIDE", "cannot hold / \\ or :"),
        ("NIFTY/BEES", "cannot hold / \\ or :"),
        ("NIFTY\\BEES", "cannot hold / \\ or :"),
        ("C:NIFTY", "cannot hold / \\ or :"),
        ("NIFTY\tBEES", "cannot hold a control character"),
        ("A" * 300, "at most 100 characters"),
    ],
)
def test_csv_import_when_the_symbol_names_no_folder_of_its_own_is_refused_and_writes_nothing(
    tmp_path: Path, symbol: str, said: str
) -> None:
    source = tmp_path / "candles.csv"
    source.write_text(CANDLES, encoding="utf-8")
    before = _everything(tmp_path)
    service = _service(tmp_path)

    with pytest.raises(BacktestError, match="the instrument's symbol") as refused:
        asyncio.run(service.import_csv(source, symbol))

    assert said in str(refused.value)
    assert _everything(tmp_path) == before
    assert service.recordings() == []


def test_csv_import_keeps_a_symbol_with_an_ampersand_in_its_own_folder(tmp_path: Path) -> None:
    source = tmp_path / "candles.csv"
    source.write_text(CANDLES, encoding="utf-8")
    service = _service(tmp_path)

    done = asyncio.run(service.import_csv(source, "m&m"))

    assert done.recording.path == service.recordings_dir / "M&M"
    assert [info.path.name for info in service.recordings()] == ["M&M"]


def test_record_history_when_the_listed_symbol_names_no_folder_of_its_own_is_refused(
    tmp_path: Path,
) -> None:
    service = _service(tmp_path, symbol="../ESCAPE")
    before = _everything(tmp_path)

    with pytest.raises(BacktestError, match=r"cannot hold / \\ or :"):
        asyncio.run(service.record_history("escape", 5))

    assert _everything(tmp_path) == before


# -- headers ---------------------------------------------------------------------------------------


def test_file_kind_when_the_file_has_no_line_break_refuses_it_quickly_in_a_short_message(
    tmp_path: Path,
) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"lorem,ipsum,dolor " * 600_000)  # 10 MB, one line

    started = time.perf_counter()
    with pytest.raises(CsvImportError, match="hold no line break") as refused:
        file_kind(junk)

    assert time.perf_counter() - started < 2.0
    assert len(str(refused.value)) < 500
    assert str(refused.value).endswith("…')")


@pytest.mark.parametrize(
    ("header", "said"),
    [
        (",".join(f"column{n}" for n in range(5_000)), "is neither of candles"),
        ("timestamp,open," + ",".join(f"c{n}" for n in range(50_000)), "lacks high, low"),
        (";".join(f"column{n}" for n in range(5_000)), "separated by semicolons"),
    ],
)
def test_csv_header_errors_echo_a_long_header_cut_short(
    tmp_path: Path, header: str, said: str
) -> None:
    source = tmp_path / "wide.csv"
    source.write_text(header + "\n", encoding="utf-8")

    with pytest.raises(CsvImportError, match=said) as refused:
        if said == "lacks high, low":
            list(read_candles(source))
        else:
            file_kind(source)

    assert len(str(refused.value)) < 600
    assert "…" in str(refused.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_csv_in_utf16_is_refused_saying_to_save_it_as_utf8(tmp_path: Path, encoding: str) -> None:
    source = tmp_path / "excel.csv"
    source.write_bytes(CANDLES.encode(encoding))

    with pytest.raises(CsvImportError) as refused:
        file_kind(source)

    assert str(refused.value) == "the file is UTF-16: save it as UTF-8 (CSV UTF-8 in Excel)"


# -- bar files that cannot be replayed ---------------------------------------------------------


def _recording(tmp_path: Path) -> tuple[Path, Path]:
    """A three-day bar recording and its second day's bar file."""
    folder = tmp_path / "recordings" / "niftylike"
    write_bar_recording(folder, [INSTRUMENT], nifty_like_bars(3))
    second = sorted(p for p in folder.iterdir() if p.is_dir())[1]
    return folder, second / "bars.parquet"


def _run(recording: Path, tmp_path: Path) -> tuple[BacktestRequest, Path]:
    return ema_cross_request(recording, "damaged"), tmp_path / "runs" / "damaged"


def test_backtest_when_a_bar_file_is_cut_short_says_which_in_a_backtest_error(
    tmp_path: Path,
) -> None:
    recording, bars = _recording(tmp_path)
    whole = bars.read_bytes()
    bars.write_bytes(whole[: len(whole) // 2])
    request, folder = _run(recording, tmp_path)

    with pytest.raises(BacktestError, match="cannot be read") as refused:
        run_backtest(request, folder)

    assert str(bars) in str(refused.value)
    assert not folder.exists()


def test_backtest_when_a_bar_has_no_close_says_which_file_and_keeps_no_run(
    tmp_path: Path,
) -> None:
    recording, bars = _recording(tmp_path)
    table = pq.read_table(bars)
    closes = table.column("close").to_pylist()
    closes[5] = None
    index = table.schema.get_field_index("close")
    pq.write_table(table.set_column(index, "close", pa.array(closes, pa.int64())), bars)
    request, folder = _run(recording, tmp_path)

    with pytest.raises(BacktestError, match="has bars with no close") as refused:
        run_backtest(request, folder)

    assert str(bars) in str(refused.value)
    assert not folder.exists()
