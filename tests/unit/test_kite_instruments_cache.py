"""The daily instruments master cache: one download a day, kept in the cache directory."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from kiteconnect import KiteConnect

from engine.brokers.kite.instruments_cache import (
    InstrumentsCache,
    kite_csv_from_rows,
    master_day,
)
from engine.brokers.kite.instruments_csv import load_kite_instruments
from engine.core.clock import IST, TestClock
from tests.kite_fake.oms import FIXTURES

MASTER = (FIXTURES / "instruments_all.csv").read_text()


class Downloads:
    def __init__(self, text: str = MASTER) -> None:
        self.text = text
        self.count = 0

    async def __call__(self) -> str:
        self.count += 1
        return self.text


@pytest.mark.parametrize(
    ("now", "day"),
    [
        (datetime(2026, 11, 23, 8, 29, tzinfo=IST), date(2026, 11, 22)),
        (datetime(2026, 11, 23, 8, 30, tzinfo=IST), date(2026, 11, 23)),
        (datetime(2026, 11, 23, 2, 59, tzinfo=UTC), date(2026, 11, 22)),  # 08:29 IST
        (datetime(2026, 11, 23, 3, 0, tzinfo=UTC), date(2026, 11, 23)),  # 08:30 IST
    ],
)
def test_master_day_when_before_0830_ist_is_the_previous_day(now: datetime, day: date) -> None:
    assert master_day(now) == day


async def test_cache_when_loaded_twice_on_a_day_downloads_once(tmp_path: Path) -> None:
    clock = TestClock(datetime(2026, 11, 23, 9, 0, tzinfo=IST))
    fetch = Downloads()
    cache = InstrumentsCache(fetch, clock=clock, directory=tmp_path)

    first = await cache.load()
    second = await cache.load()

    assert fetch.count == 1
    assert cache.cached() == tmp_path / "kite-instruments-2026-11-23.csv"
    assert len(first.instruments) == len(second.instruments) == 99
    assert first.errors == []


async def test_cache_when_a_new_day_begins_downloads_again_and_keeps_three_files(
    tmp_path: Path,
) -> None:
    clock = TestClock(datetime(2026, 11, 20, 9, 0, tzinfo=IST))
    fetch = Downloads()
    cache = InstrumentsCache(fetch, clock=clock, directory=tmp_path)

    for day in (20, 21, 22, 23):
        clock.set(datetime(2026, 11, day, 9, 0, tzinfo=IST))
        await cache.load()

    assert fetch.count == 4
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [
        "kite-instruments-2026-11-21.csv",
        "kite-instruments-2026-11-22.csv",
        "kite-instruments-2026-11-23.csv",
    ]


async def test_cache_when_the_download_is_empty_keeps_nothing(tmp_path: Path) -> None:
    cache = InstrumentsCache(
        Downloads(" \n"),
        clock=TestClock(datetime(2026, 11, 23, 9, 0, tzinfo=IST)),
        directory=tmp_path,
    )

    with pytest.raises(ValueError, match="empty instruments master"):
        await cache.load()
    assert list(tmp_path.iterdir()) == []


def test_csv_from_official_client_rows_when_reloaded_gives_the_same_instruments(
    tmp_path: Path,
) -> None:
    rows = KiteConnect("unused")._parse_instruments(MASTER.encode())

    text = kite_csv_from_rows(rows)

    original = load_kite_instruments(FIXTURES / "instruments_all.csv")
    again = load_kite_instruments(text)
    assert again.errors == []
    assert again.instruments == original.instruments


def test_cache_when_loaded_takes_freeze_quantities_from_the_table(tmp_path: Path) -> None:
    result = load_kite_instruments(MASTER, {"BANKNIFTY": 600})

    options = [i for i in result.instruments if i.underlying == "BANKNIFTY"]
    assert options and {i.freeze_quantity for i in options} == {600}
