"""Kite's candle history against the fake Kite on 127.0.0.1: the official client over real HTTP,
the historical limiter (3 a second), chunking, the candle cache, and the link as a history source."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.brokers.kite.history import KiteHistory, bars_from_candles
from engine.brokers.kite.link import KiteLink
from engine.brokers.kite.rest import KiteRest
from engine.brokers.kite.session import KiteSession
from engine.core.clock import IST, LiveClock, TestClock
from engine.credentials import CredentialStore
from engine.domain.bars import Bar, Timeframe
from engine.marketdata.history import CachedHistory, HistorySource, epoch_ns
from engine.runtime.history import history_source
from engine.store.candle_cache import CandleCache
from tests.kite_desk import fast_rest, redirect_url
from tests.kite_fake import FakeKite
from tests.memory_keyring import MemoryKeyring

pytestmark = pytest.mark.timeout(60)

NIFTY_FUT = 12_683_010
"""Any token serves: the fake's candles are a function of the token and the minute."""
# Thursday 26 Nov 2026 after the close; Tuesday 24 Nov was a holiday.
NOW = datetime(2026, 11, 26, 18, 0, tzinfo=IST)
MONDAY = datetime(2026, 11, 23, tzinfo=IST)
THURSDAY = datetime(2026, 11, 26, tzinfo=IST)


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with FakeKite() as fake:
        fake.rest.history.now = lambda: NOW
        yield fake


@pytest.fixture
async def rest(kite: FakeKite) -> AsyncIterator[KiteRest]:
    # A 60-day request of minutes takes the fake a moment to make: no timeout retries here.
    config = fast_rest(kite, timeout_s=5.0)
    client = KiteRest(kite.api_key, access_token=kite.login(), config=config)
    yield client
    await client.close()


def served(kite: FakeKite, token: int, interval: str, start: datetime, end: datetime) -> list[Bar]:
    """What the fake serves for ``[start, end)``, as bars."""
    naive = [m.astimezone(IST).replace(tzinfo=None) for m in (start, end - timedelta(seconds=1))]
    return bars_from_candles(token, kite.rest.history.candles(token, interval, *naive, oi=True))


def wall_clock(day: int, hh: int, mm: int, ss: int = 0) -> datetime:
    """A November 2026 IST wall-clock time without a zone: how Kite reads ``from`` and ``to``."""
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=IST).replace(tzinfo=None)


def history_requests(kite: FakeKite) -> int:
    return sum(1 for _, path in kite.rest.requests if path.startswith("/instruments/historical"))


async def test_chart_kite_history_when_fetched_is_what_kite_served_in_paise(
    kite: FakeKite, rest: KiteRest
) -> None:
    end = MONDAY + timedelta(days=4)

    bars = await KiteHistory(rest).candles(NIFTY_FUT, Timeframe.M1, MONDAY, end)

    assert bars == served(kite, NIFTY_FUT, "minute", MONDAY, end)
    assert len(bars) == 3 * 375  # Monday, Wednesday, Thursday: no candle on the holiday
    assert [r.oi for r in kite.rest.history.requests] == [True]
    first = kite.rest.history.requests[0]
    assert (first.interval, first.start, first.end) == (
        "minute",
        wall_clock(23, 0, 0),
        wall_clock(26, 23, 59, 59),
    )


async def test_chart_kite_history_when_official_mock_is_served_parses_it_exactly(
    kite: FakeKite, rest: KiteRest
) -> None:
    kite.rest.history.serve_fixture("historical_oi.json")
    day = datetime(2019, 12, 4, tzinfo=IST)

    bars = await KiteHistory(rest).candles(256265, Timeframe.M1, day, day + timedelta(days=1))

    assert [(b.start.time().isoformat(), b.open, b.close, b.oi) for b in bars[:2]] == [
        ("09:15:00", 1200990, 1200150, 13667775),
        ("09:16:00", 1200100, 1200100, 13667775),
    ]
    assert bars[2].low == 1199510 and len(bars) == 6


async def test_chart_kite_history_when_range_exceeds_kites_span_asks_in_pieces(
    kite: FakeKite, rest: KiteRest
) -> None:
    start = MONDAY - timedelta(days=150)

    bars = await KiteHistory(rest).candles(NIFTY_FUT, Timeframe.M1, start, MONDAY)

    spans = [r.end - r.start for r in kite.rest.history.requests]
    assert len(spans) == 3 and all(span < timedelta(days=60) for span in spans)
    assert [b.start_ns for b in bars] == sorted({b.start_ns for b in bars})
    assert bars[0].start.date() == (start + timedelta(days=3)).date()  # the first Monday
    assert bars == served(kite, NIFTY_FUT, "minute", start, MONDAY)


async def test_chart_kite_history_when_day_candles_asked_are_stamped_at_ist_midnight(
    kite: FakeKite, rest: KiteRest
) -> None:
    bars = await KiteHistory(rest).candles(NIFTY_FUT, Timeframe.D1, MONDAY, NOW)

    assert [b.start.date().day for b in bars] == [23, 25, 26]
    assert all(b.start_ns == Timeframe.D1.start_of(b.start_ns) for b in bars)
    minutes = served(kite, NIFTY_FUT, "minute", MONDAY, MONDAY + timedelta(days=1))
    assert bars[0].high == max(m.high for m in minutes)
    assert bars[0].volume == sum(m.volume for m in minutes)


async def test_chart_kite_history_when_ten_charts_open_at_once_paces_to_three_a_second(
    kite: FakeKite, rest: KiteRest
) -> None:
    history = KiteHistory(rest)
    # The client's limiter and Kite count the same calendar second only when a request reaches
    # Kite within the second it left; start the burst at the top of a second so that the
    # milliseconds in transit cannot carry the first three into the next one.
    await asyncio.sleep(1.02 - time.time() % 1)
    started = time.monotonic()

    charts = await asyncio.gather(
        *(
            history.candles(NIFTY_FUT + n, Timeframe.M5, MONDAY, MONDAY + timedelta(days=1))
            for n in range(10)
        )
    )

    assert kite.rest.rate_limited == 0 and rest.rate_limited == 0
    per_second = Counter(int(r.at) for r in kite.rest.history.requests)
    assert sorted(per_second.values()) == [1, 3, 3, 3]  # ten requests over four seconds
    assert time.monotonic() - started > 2.9
    assert all(len(bars) == 75 for bars in charts)


async def test_chart_kite_history_when_kite_answers_429_holds_off_and_gets_the_candles(
    kite: FakeKite, rest: KiteRest
) -> None:
    kite.rest.fail_next(
        "GET", "/instruments/historical", 429, "NetworkException", "Too many requests"
    )

    bars = await KiteHistory(rest).candles(NIFTY_FUT, Timeframe.M15, MONDAY, NOW)

    assert rest.rate_limited == 1 and rest.retries == 1
    assert history_requests(kite) == 2
    assert bars == served(kite, NIFTY_FUT, "15minute", MONDAY, NOW)


async def test_chart_kite_history_when_cached_serves_again_without_a_request(
    kite: FakeKite, rest: KiteRest, tmp_path: Path
) -> None:
    path = tmp_path / "history.sqlite"
    clock = TestClock(NOW)
    history = CachedHistory(KiteHistory(rest), CandleCache(path), name="kite", now_ns=clock.time_ns)
    first = await history.candles(NIFTY_FUT, Timeframe.M1, MONDAY, THURSDAY)
    asked = history_requests(kite)

    again = await history.candles(NIFTY_FUT, Timeframe.M1, MONDAY, THURSDAY)
    await history.close()
    restarted = CachedHistory(
        KiteHistory(rest), CandleCache(path), name="kite", now_ns=clock.time_ns
    )
    after_restart = await restarted.candles(NIFTY_FUT, Timeframe.M1, MONDAY, THURSDAY)
    await restarted.close()

    assert asked == 1 and history_requests(kite) == 1
    assert again == first and after_restart == first
    assert first == served(kite, NIFTY_FUT, "minute", MONDAY, THURSDAY)


async def test_chart_kite_history_when_range_reaches_now_asks_again_only_for_the_last_bar(
    kite: FakeKite, rest: KiteRest
) -> None:
    clock = TestClock(NOW)
    history = CachedHistory(KiteHistory(rest), CandleCache(None), name="kite", now_ns=clock.time_ns)
    first = await history.candles(NIFTY_FUT, Timeframe.M1, MONDAY, NOW)

    again = await history.candles(NIFTY_FUT, Timeframe.M1, MONDAY, NOW)

    latest = [(r.start, r.end) for r in kite.rest.history.requests[2:]]
    assert latest == [(wall_clock(26, 17, 59), wall_clock(26, 17, 59, 59))]
    assert again == first == served(kite, NIFTY_FUT, "minute", MONDAY, NOW)
    await history.close()


async def test_chart_kite_history_when_range_is_extended_asks_kite_only_for_the_new_part(
    kite: FakeKite, rest: KiteRest
) -> None:
    clock = TestClock(NOW)
    history = CachedHistory(KiteHistory(rest), CandleCache(None), name="kite", now_ns=clock.time_ns)
    await history.candles(NIFTY_FUT, Timeframe.M5, MONDAY, THURSDAY)
    earlier = MONDAY - timedelta(days=14)

    bars = await history.candles(NIFTY_FUT, Timeframe.M5, earlier, THURSDAY)

    second = kite.rest.history.requests[1:]
    assert [(r.start, r.end) for r in second] == [(wall_clock(9, 0, 0), wall_clock(22, 23, 59, 59))]
    assert bars == served(kite, NIFTY_FUT, "5minute", earlier, THURSDAY)
    await history.close()


async def test_chart_kite_link_when_logged_in_is_a_cached_history_source(
    kite: FakeKite, tmp_path: Path
) -> None:
    store = CredentialStore("chart", backend=MemoryKeyring())
    store.save_kite_keys(kite.api_key, kite.api_secret)
    clock = LiveClock()
    session = KiteSession(store, clock=clock, rest_config=fast_rest(kite))
    link = KiteLink(session, clock=clock)
    await session.complete_login(redirect_url(kite))

    source = history_source(link, tmp_path / "history.sqlite", clock=clock)
    bars = await link.candles(NIFTY_FUT, Timeframe.H1, MONDAY, NOW)

    assert isinstance(link, HistorySource) and isinstance(source, CachedHistory)
    assert bars == served(kite, NIFTY_FUT, "60minute", MONDAY, NOW)
    assert [b.start.strftime("%H:%M") for b in bars[:7]] == [
        "09:15", "10:15", "11:15", "12:15", "13:15", "14:15", "15:15",
    ]  # fmt: skip
    assert await source.candles(NIFTY_FUT, Timeframe.H1, MONDAY, NOW) == bars
    assert epoch_ns(NOW) > bars[-1].start_ns
    await source.close()
    await link.close()
