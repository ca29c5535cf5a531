"""A chart's frame works out again only what its changed bars can move (Heikin-Ashi candles and
indicator lines from the first changed bar), and gets exactly what computing over every bar
afresh gets: the same candles to the paisa, the same indicator values to the last bit."""

from __future__ import annotations

import numpy as np
import pytest

from engine.api import CHART_INDICATORS, Bar, BarColumns
from engine.api.chart_lines import SUPERTRENDS, WINDOWS, ChartLines
from engine.api.charts import ChartService
from engine.marketdata import indicators as ind

MINUTE = 60 * 1_000_000_000
MONDAY_0915 = 1_795_406_700 * 1_000_000_000  # 23 Nov 2026 09:15 IST


def random_session(count: int, seed: int) -> list[list[Bar]]:
    """``count`` minute bars as a chart sees them: each bar forming over a few updates (its
    range widening, its close moving), then closed as the next opens. Each item is the bars
    changed at one frame: the forming bar, sometimes the next one as well."""
    rng = np.random.default_rng(seed)
    price = int(rng.integers(5_000, 5_000_000))
    frames: list[list[Bar]] = []
    for i in range(count):
        day = (i // 375) * 24 * 60 * MINUTE  # a new day every session's worth of minutes
        start = MONDAY_0915 + day + (i % 375) * MINUTE
        opened, high, low, volume = price, price, price, 0
        updates: list[Bar] = []
        for _ in range(int(rng.integers(1, 4))):
            price = max(100, price + int(rng.integers(-900, 901)))
            high, low = max(high, price), min(low, price)
            volume += int(rng.integers(0, 5000))
            updates.append(Bar(13, start, opened, high, low, price, volume))
        if frames and rng.random() < 0.3:
            frames[-1].append(updates.pop(0))  # one frame saw the old bar close and this open
        frames.extend([bar] for bar in updates)
    return [frame for frame in frames if frame]


def replay(frames: list[list[Bar]]):  # type: ignore[no-untyped-def]
    """(bars, columns, first changed index) after each frame, as a chart merges them."""
    bars: list[Bar] = []
    columns = BarColumns()
    for frame in frames:
        first = None
        for bar in frame:
            if bars and bars[-1].start_ns == bar.start_ns:
                bars[-1] = bar
            else:
                bars.append(bar)
            columns.put(len(bars) - 1, bar)
            first = len(bars) - 1 if first is None else first
        assert first is not None
        yield bars, columns, first


@pytest.mark.parametrize(("count", "seed"), [(30, 1), (460, 2), (1_000, 3)])
def test_chart_lines_when_the_forming_bar_changes_and_bars_open_equal_lines_computed_afresh(
    count: int, seed: int
) -> None:
    names = list(CHART_INDICATORS)
    lines = ChartLines(names)
    checked = 0
    for step, (bars, columns, first) in enumerate(replay(random_session(count, seed))):
        kept = lines.over(columns, first if step else 0)
        if step % 13 and len(bars) < count - 3:
            continue  # every frame is carried on; some (and the last few) compared
        fresh = ChartService.chart_indicators(BarColumns(bars), names)
        assert [(a.name, a.title, a.pane) for a in kept] == [
            (b.name, b.title, b.pane) for b in fresh
        ]
        for a, b in zip(kept, fresh, strict=True):
            assert np.array_equal(a.values, b.values, equal_nan=True), (a.name, a.title, step)
        checked += 1
    assert checked > 3


def test_chart_lines_when_asked_from_bar_0_or_past_what_they_hold_compute_afresh() -> None:
    frames = random_session(120, 5)
    lines = ChartLines(["SuperTrend 10, 3", "SMA 20"])
    states = list(replay(frames))
    bars, columns, _first = states[-1]
    fresh = ChartService.chart_indicators(BarColumns(bars), lines.names)
    for since in (0, 10_000):  # 10 000: past the bars held, so nothing kept can be trusted
        for a, b in zip(lines.over(columns, since), fresh, strict=True):
            assert np.array_equal(a.values, b.values, equal_nan=True)


def test_chart_lines_rules_when_listed_name_indicators_the_chart_offers() -> None:
    assert set(WINDOWS) | set(SUPERTRENDS) <= set(CHART_INDICATORS)


def test_chart_lines_when_an_indicator_is_unknown_refuse_it_in_words() -> None:
    with pytest.raises(ValueError, match="no indicator 'SMA 7'; there are SMA 20"):
        ChartLines(["SMA 20", "SMA 7"])


@pytest.mark.parametrize(("count", "seed"), [(40, 6), (700, 7), (1_200, 8)])
def test_chart_heikin_ashi_when_asked_from_the_first_changed_bar_equals_candles_computed_afresh(
    count: int, seed: int
) -> None:
    shown: list[Bar] = []
    for step, (bars, columns, first) in enumerate(replay(random_session(count, seed))):
        tail = ChartService.heikin_ashi(bars, columns, first)
        assert len(tail) == len(bars) - first  # only the changed bars' candles are built
        del shown[first:]
        shown.extend(tail)
        if step % 11 == 0:
            assert shown == ChartService.heikin_ashi(bars)
    assert shown == ChartService.heikin_ashi(bars)
    # The candles are the definition's, rounded to the paisa as before.
    c = BarColumns(bars)
    ho, hh, hl, hc = ind.heikin_ashi(c.open, c.high, c.low, c.close)
    assert [(b.open, b.high, b.low, b.close) for b in shown] == [
        (round(ho[i] * 100), round(hh[i] * 100), round(hl[i] * 100), round(hc[i] * 100))
        for i in range(len(bars))
    ]
    assert [(b.start_ns, b.volume) for b in shown] == [(b.start_ns, b.volume) for b in bars]


def test_chart_heikin_ashi_when_asked_from_past_the_last_bar_is_empty() -> None:
    bars = [frame[-1] for frame in random_session(5, 9)]
    assert ChartService.heikin_ashi(bars, None, len(bars)) == []


def test_chart_supertrend_when_carried_on_from_kept_bands_equals_a_walk_over_every_bar() -> None:
    rng = np.random.default_rng(10)
    for _trial in range(40):
        size, n = int(rng.integers(1, 200)), int(rng.integers(1, 15))
        mult = float(rng.uniform(0.5, 4.0))
        close = np.round(100 + np.cumsum(rng.normal(0, 1, size)), 2)
        high, low = close + rng.random(size), close - rng.random(size)
        known = None
        for end in range(1, size + 1):
            since = int(rng.integers(max(0, end - 3), end))  # a few last bars changed
            known = ind.supertrend_bands(
                high[:end], low[:end], close[:end], n, mult, since=since, known=known
            )
        walked = ind.supertrend_bands(high, low, close, n, mult)
        assert known is not None
        for part in ("line", "direction", "upper", "lower"):
            assert np.array_equal(getattr(known, part), getattr(walked, part), equal_nan=True)
        line, direction = ind.supertrend(high, low, close, n, mult)
        assert np.array_equal(line, walked.line, equal_nan=True)
        assert np.array_equal(direction, walked.direction, equal_nan=True)
