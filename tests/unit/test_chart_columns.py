"""A chart's bar columns, kept as bars close and the forming one changes, give the indicators the
same values as the bars read afresh."""

from __future__ import annotations

import numpy as np
import pytest

from engine.api import CHART_INDICATORS, Bar, BarColumns
from engine.api.charts import ChartService

MINUTE = 60 * 1_000_000_000
MONDAY_0915 = 1_795_406_700 * 1_000_000_000  # 23 Nov 2026 09:15 IST


def walk(count: int, seed: int = 3) -> list[Bar]:
    rng = np.random.default_rng(seed)
    price, bars = 2_400_000, []
    for i in range(count):
        opened = price
        price = max(100, price + int(rng.integers(-900, 901)))
        high = max(opened, price) + int(rng.integers(0, 300))
        low = min(opened, price) - int(rng.integers(0, 300))
        day = (i // 375) * 24 * 60 * MINUTE  # a new day every session's worth of minutes
        start = MONDAY_0915 + day + (i % 375) * MINUTE
        bars.append(Bar(13, start, opened, high, low, price, int(rng.integers(0, 5000))))
    return bars


def test_chart_columns_when_the_forming_bar_changes_and_bars_close_match_columns_read_afresh() -> (
    None
):
    bars = walk(900)
    kept = BarColumns(bars[:100])
    for index in range(100, 900):
        bar = bars[index]
        for step in (3, 2, 1):  # the forming bar seen a few times before its final state
            forming = Bar(
                bar.key, bar.start_ns, bar.open, bar.high - step, bar.low + step, bar.close
            )
            kept.put(index, forming)
        kept.put(index, bar)
    fresh = BarColumns(bars)
    for column in ("open", "high", "low", "close", "volume", "day"):
        assert np.array_equal(getattr(kept, column), getattr(fresh, column)), column
    assert kept.day[374] != kept.day[375]  # the walk spans days (VWAP starts again)
    names = list(CHART_INDICATORS)
    by_columns = ChartService.chart_indicators(kept, names)
    by_bars = ChartService.chart_indicators(bars, names)
    assert [(line.name, line.title, line.pane) for line in by_columns] == [
        (line.name, line.title, line.pane) for line in by_bars
    ]
    for a, b in zip(by_columns, by_bars, strict=True):
        assert np.array_equal(a.values, b.values, equal_nan=True), a.name


def test_chart_columns_when_a_bar_would_leave_a_gap_refuse_it() -> None:
    columns = BarColumns(walk(3))
    with pytest.raises(IndexError, match="bar 5 would leave a gap after 3 bars"):
        columns.put(5, walk(1)[0])
