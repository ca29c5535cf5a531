"""CSV import of candles and ticks: every malformed row is reported with its row number and
skipped, every good row around it is imported, and nothing crashes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.backtest.csv_import import (
    CsvImportError,
    ImportReport,
    candles_frame,
    parse_timestamp,
    read_candles,
    read_ticks,
    text_source,
    ticks_frame,
)
from engine.backtest.csv_time import RowError
from engine.core.clock import IST
from engine.domain.values import to_paise

HEADER = "timestamp,open,high,low,close,volume,oi"
T0 = datetime(2026, 11, 23, 9, 15, tzinfo=IST)
T0_NS = int(T0.timestamp()) * 10**9


def _good(minute: int) -> tuple[str, tuple[int, int, int, int, int, int]]:
    """A good candle ``minute`` minutes after 09:15 (naive text: IST) and its paise values."""
    base = 2_430_000 + (minute * 37) % 5_000
    o, h, low, c = base, base + 250, base - 140, base + 45
    hour, mins = divmod(15 + minute, 60)
    text = (
        f"2026-11-23 {9 + hour:02d}:{mins:02d}:00,{o / 100:.2f},{h / 100:.2f},"
        f"{low / 100:.2f},{c / 100:.2f},{1000 + minute},{minute}"
    )
    return text, (o, h, low, c, 1000 + minute, minute)


_JUNK = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"\r\n,\x00'),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip() != "")

# Each way a row can be wrong; the timestamp (when there is one) is a good one, so a bad row is
# bad for its own reason, never for coming out of order.
_BAD_ROWS = st.one_of(
    _JUNK.map(lambda junk: f"{junk},1,2,0.5,1.5,10,0"),  # a timestamp that is not one
    st.sampled_from(
        ["31-02-2026 09:15", "2026-13-01 09:15", "1800-01-01", "99999999999999999"]
    ).map(lambda t: f"{t},1,2,0.5,1.5,10,0"),
    _JUNK.map(lambda junk: f"2026-11-23 09:15:00,{junk}x,2,0.5,1.5,10,0"),  # open not a number
    st.sampled_from(["NaN", "inf", "-1", "0", "1.005", "1e999", "sNaN", ""]).map(
        lambda p: f"2026-11-23 09:15:00,{p},2,0.5,1.5,10,0"
    ),
    st.just("2026-11-23 09:15:00,1,2,3,1.5,10,0"),  # low above the high
    st.just("2026-11-23 09:15:00,3,2,0.5,1.5,10,0"),  # open above the high
    st.sampled_from(["-5", "1.5", "abc", "1e30"]).map(
        lambda v: f"2026-11-23 09:15:00,1,2,0.5,1.5,{v},0"
    ),
    st.integers(min_value=1, max_value=6).map(lambda n: ",".join(["1"] * n)),  # too few fields
    st.just("2026-11-23 09:15:00,1,2,0.5,1.5,10,0,extra"),  # too many
)


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    bad=st.lists(_BAD_ROWS, min_size=1000, max_size=1000),
    places=st.lists(st.integers(min_value=0, max_value=400), min_size=1000, max_size=1000),
)
def test_csv_import_of_1000_malformed_rows_reports_each_by_row_and_keeps_every_good_row(
    tmp_path_factory: pytest.TempPathFactory, bad: list[str], places: list[int]
) -> None:
    good = [_good(minute) for minute in range(400)]
    # Lay the good rows in order and slot the bad ones in between at the drawn places.
    slots: dict[int, list[str]] = {}
    for row, place in zip(bad, places, strict=True):
        slots.setdefault(place, []).append(row)
    lines = [HEADER]
    expected_bad_rows: list[int] = []
    for index, (text, _values) in enumerate(good):
        for row in slots.get(index, []):
            lines.append(row)
            expected_bad_rows.append(len(lines))  # the file's row number (header = 1)
        lines.append(text)
    for row in slots.get(len(good), []):  # and after the last good row
        lines.append(row)
        expected_bad_rows.append(len(lines))
    path = tmp_path_factory.mktemp("csv") / "candles.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = ImportReport()
    bars = list(read_candles(path, key="NIFTY", report=report))

    assert [p.row for p in report.problems] == expected_bad_rows
    assert all(p.reason for p in report.problems)
    assert report.skipped == 1000 and report.imported == 400 and report.rows == 1400
    assert [(b.open, b.high, b.low, b.close, b.volume, b.oi) for b in bars] == [
        values for _text, values in good
    ]
    assert [b.start_ns for b in bars] == [T0_NS + m * 60 * 10**9 for m in range(400)]


def test_csv_import_rows_that_are_not_utf8_or_not_csv_are_reported_not_fatal(
    tmp_path: Path,
) -> None:
    good_a, _ = _good(0)
    good_b, _ = _good(1)
    raw = (
        HEADER.encode()
        + b"\n"
        + good_a.encode()
        + b"\n2026-11-23 09:15:30,\xff\xfe,2,0.5,1.5,10,0\n"
        + b"2026-11-23 09:15:40,1,2,0.5,1.5,10,0,"
        + b"x" * 200_000
        + b"\n"
        + good_b.encode()
        + b"\n"
    )
    path = tmp_path / "mixed.csv"
    path.write_bytes(raw)
    report = ImportReport()
    bars = list(read_candles(path, report=report))
    assert len(bars) == 2
    assert [p.row for p in report.problems] == [3, 4]
    assert "price" in report.problems[0].reason


def test_csv_import_timestamps_in_every_documented_form_naive_is_ist() -> None:
    expected = T0_NS
    for text in (
        "2026-11-23 09:15:00",
        "2026-11-23T09:15:00",
        "2026-11-23T09:15:00+05:30",
        "2026-11-23T03:45:00Z",
        "23-11-2026 09:15",
        "23/11/2026 09:15:00",
        "20261123 091500",
        "20261123 09:15:00",
        str(expected // 10**9),
        str(expected // 10**6),
        str(expected // 10**3),
        str(expected),
    ):
        assert parse_timestamp(text) == expected, text
    assert parse_timestamp("2026-11-23 09:15:00.250") == expected + 250_000_000
    assert parse_timestamp("2026-11-23T09:15:00.123456789+05:30") == expected + 123_456_789
    assert parse_timestamp("2026-11-23") == expected - (9 * 3600 + 15 * 60) * 10**9


@settings(max_examples=300, deadline=None)
@given(
    # Naive, as the file's text is: the import reads it as IST.
    moment=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2099, 12, 30)),  # noqa: DTZ001
    separator=st.sampled_from([" ", "T"]),
    digits=st.integers(min_value=0, max_value=9),
    seconds=st.booleans(),
)
def test_csv_import_plain_times_read_in_integers_equal_the_calendars_reading(
    moment: datetime, separator: str, digits: int, seconds: bool
) -> None:
    """The usual form (an ISO time without a zone, IST) is read without a datetime a row."""
    fraction = f"{moment.microsecond:06d}{moment.microsecond % 997:03d}"[:digits]
    text = f"{moment:%Y-%m-%d}{separator}{moment:%H:%M}"
    if seconds or digits:
        text += f":{moment:%S}" + (f".{fraction}" if digits else "")
    whole = moment.replace(microsecond=0, second=moment.second if seconds or digits else 0)
    expected = int(whole.replace(tzinfo=IST).timestamp()) * 10**9
    expected += int(fraction.ljust(9, "0")) if digits else 0
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("2026-02-30 09:15:00", r"not a real date and time \(day is out of range for month\)"),
        ("2026-11-23 24:00:00", r"not a real date and time \(hour must be in 0\.\.23\)"),
        ("2026-11-23 09:60:00", "not a real date and time"),
        ("2026-11-23 09:15:60", "not a real date and time"),
        ("1970-01-01 05:29:59", "not a moment between 1970 and 2100"),
        ("2100-01-01 05:30:00", "not a moment between 1970 and 2100"),
        ("0001-01-01 00:00:00", "is out of range"),
    ],
)
def test_csv_import_plain_times_that_are_not_moments_are_refused_in_words(
    text: str, said: str
) -> None:
    with pytest.raises(RowError, match=said):
        parse_timestamp(text)


@settings(max_examples=300, deadline=None)
@given(
    rupees=st.decimals(min_value=0, max_value=10**12 - 1, places=2, allow_nan=False),
    form=st.sampled_from(["{:f}", "{:.2f}", " {:f} ", "00{:f}"]),
)
def test_csv_import_prices_read_in_integers_equal_the_exact_decimal(
    rupees: Decimal, form: str
) -> None:
    text = form.format(rupees)
    row = f"2026-11-23 09:15:00,1,{text},1,,\n"
    report = ImportReport()
    ticks = list(read_ticks(text_source("timestamp,token,ltp,qty,bid,ask\n" + row), report=report))
    if rupees == 0:
        assert [p.reason for p in report.problems] == [f"ltp {text.strip()} must be above 0"]
    else:
        assert [t.ltp for t in ticks] == [to_paise(rupees)], report.problems


def test_csv_import_ticks_by_symbol_with_running_volume_and_a_frame() -> None:
    symbols = {"NIFTY26NOVFUT": 12_073_986, "BANKNIFTY26NOVFUT": 12_074_242}
    text = (
        "Time,Symbol,LTP,Qty,Bid,Ask\n"
        "2026-11-23 09:15:00.100,NIFTY26NOVFUT,24310.50,75,24310.00,24311.00\n"
        "2026-11-23 09:15:00.200,NOSUCH,100,1,,\n"
        "2026-11-23 09:15:00.300,NIFTY26NOVFUT,24311.00,150,24310.50,24311.50\n"
        "2026-11-23 09:15:00.050,NIFTY26NOVFUT,24311.00,150,24310.50,24311.50\n"
        "2026-11-23 09:15:00.400,BANKNIFTY26NOVFUT,52000.20,30,52001,52000\n"
        "2026-11-23 09:15:00.500,BANKNIFTY26NOVFUT,52000.20,30,,\n"
    )
    report = ImportReport()
    ticks = list(read_ticks(text_source(text), token_of=symbols.get, report=report))
    assert [(t.token, t.ltp, t.last_qty, t.volume) for t in ticks] == [
        (12_073_986, 2_431_050, 75, 75),
        (12_073_986, 2_431_100, 150, 225),
        (12_074_242, 5_200_020, 30, 30),
    ]
    assert [(p.row, p.reason) for p in report.problems] == [
        (3, "no instrument 'NOSUCH'"),
        (5, "its time is before the previous tick of the instrument"),
        (6, "the bid is above the ask"),
    ]
    frame, frame_report = ticks_frame(text_source(text), token_of=symbols.get)
    assert len(frame) == 3 and frame_report.skipped == 3
    assert str(frame["timestamp"].dt.tz) == "Asia/Kolkata"
    assert frame["ltp"].tolist() == [24310.5, 24311.0, 52000.2]


def test_csv_import_candles_frame_and_file_level_errors_in_words(tmp_path: Path) -> None:
    text = HEADER + "\n" + "\n".join(_good(m)[0] for m in range(3)) + "\n"
    frame, report = candles_frame(text_source(text))
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "oi"]
    assert frame.index[0].isoformat() == "2026-11-23T09:15:00+05:30"
    assert report.imported == 3 and report.summary() == "3 of 3 rows imported"
    with pytest.raises(CsvImportError, match="lacks high"):
        list(read_candles(text_source("timestamp,open,low,close,volume\n")))
    with pytest.raises(CsvImportError, match="empty"):
        list(read_candles(text_source("\n\n")))
    with pytest.raises(CsvImportError, match="cannot be read"):
        list(read_candles(tmp_path / "missing.csv"))
    with pytest.raises(CsvImportError, match="neither a token nor a symbol"):
        list(read_ticks(text_source("timestamp,ltp,qty\n")))
