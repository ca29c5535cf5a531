"""A chart's indicator lines kept up to date as its bars change at the end (the forming bar
grows, a new bar opens), at the cost of what those bars can move rather than the whole series,
and with the same arithmetic as computing every line afresh: the values are identical, not close.

What each indicator computes again when the bars from ``since`` on changed:

- a moving window's average and bands (SMA, Bollinger): only the windows holding a changed bar,
  by the same function over those bars (each value reads its own window and nothing else);
- SuperTrend: its ATR over every bar (vectorised), then its ratchet from the first changed bar,
  carried on from the bands kept for the bar before (the ratchet only compares and chooses);
- EMA, RSI and VWAP: over every bar, vectorised (tens of µs for a few thousand bars). Their
  block sums start at the series' first bar, so a tail of the series would round differently.

An indicator without a rule here is computed over every bar: slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.api.charts import (
    CHART_INDICATORS,
    BarColumns,
    IndicatorLine,
    Lines,
    supertrend_lines,
)
from engine.marketdata import indicators as ind

WINDOWS: dict[str, int] = {"SMA 20": 20, "SMA 50": 50, "Bollinger 20, 2": 20}
"""Indicators whose every value reads only the last this-many bars."""
SUPERTRENDS: dict[str, tuple[int, float]] = {"SuperTrend 10, 3": (10, 3.0)}
"""SuperTrends by name: (ATR period, multiplier)."""


class ChartLines:
    """The named indicators' lines over one chart's bars (``BarColumns``), kept between
    frames."""

    def __init__(self, names: Sequence[str]) -> None:
        unknown = [name for name in names if name not in CHART_INDICATORS]
        if unknown:
            raise ValueError(
                f"no indicator {', '.join(map(repr, unknown))}; "
                f"there are {', '.join(CHART_INDICATORS)}"
            )
        self.names = list(names)
        self._size = 0
        """How many bars the kept lines cover."""
        self._kept: dict[str, Lines] = {}
        self._bands: dict[str, ind.SuperTrendBands] = {}

    def over(self, columns: BarColumns, since: int = 0) -> list[IndicatorLine]:
        """Every line over all of ``columns``' bars, one value per bar (NaN in the warm-up).

        ``since``: the first bar that changed since the last call; the bars before it must be
        those of the last call. 0 (a new history, other bars) computes everything afresh."""
        afresh = since <= 0 or since > self._size or since > columns.size
        out: list[IndicatorLine] = []
        for name in self.names:
            if afresh or name not in self._kept:
                kept = self._afresh(name, columns)
            else:
                kept = self._tail(name, columns, since)
            self._kept[name] = kept
            out.extend(IndicatorLine(name, title, pane, values) for title, pane, values in kept)
        self._size = columns.size
        return out

    def _afresh(self, name: str, columns: BarColumns) -> Lines:
        if name in SUPERTRENDS:
            return self._supertrend(name, columns, 0)
        return CHART_INDICATORS[name](columns)

    def _tail(self, name: str, columns: BarColumns, since: int) -> Lines:
        window = WINDOWS.get(name)
        if window is not None:
            start = max(0, since - window + 1)
            fresh = CHART_INDICATORS[name](columns.since(start))
            return [
                (title, pane, _spliced(old, new, since, start, columns.size))
                for (title, pane, old), (_t, _p, new) in zip(self._kept[name], fresh, strict=True)
            ]
        if name in SUPERTRENDS:
            return self._supertrend(name, columns, since)
        return CHART_INDICATORS[name](columns)

    def _supertrend(self, name: str, columns: BarColumns, since: int) -> Lines:
        n, mult = SUPERTRENDS[name]
        bands = ind.supertrend_bands(
            columns.high,
            columns.low,
            columns.close,
            n,
            mult,
            since=since,
            known=self._bands.get(name) if since else None,
        )
        self._bands[name] = bands
        return supertrend_lines(bands.line, bands.direction)


def _spliced(old: np.ndarray, new: np.ndarray, since: int, start: int, size: int) -> np.ndarray:
    """``old``'s values before ``since``, then ``new``'s (computed over the bars from
    ``start``)."""
    out = np.empty(size)
    out[:since] = old[:since]
    out[since:] = new[since - start :]
    return out
