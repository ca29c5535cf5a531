"""Plot axes the panels share: time over trading sessions (nights shortened, IST labels) and
rupees as traders write them."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pyqtgraph as pg

from engine.api import IST

_LABEL_PX = 80
"""The width a time label ("14:05:30", "07 Dec") takes with room around it."""


def _round_up(value: float) -> float:
    """The nearest 1, 2 or 5 times a power of ten at or above ``value`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


class SessionAxis(pg.AxisItem):
    """A time axis over session positions (nights shortened): labels are the IST dates."""

    def __init__(self, orientation: str = "bottom") -> None:
        super().__init__(orientation)
        self._positions = np.zeros(1)
        self._stamps = np.zeros(1)

    def set_moments(self, positions: np.ndarray, stamps: np.ndarray) -> None:
        self._positions, self._stamps = positions, stamps

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        # pyqtgraph spaces ticks for short numbers; a label here is a time or a date, so only
        # the levels whose labels fit side by side are kept (a curve of a few seconds in a
        # narrow plot would otherwise print its times over one another).
        span = abs(maxVal - minVal)
        levels = super().tickSpacing(minVal, maxVal, size)
        if not span or not levels:
            return levels
        most = max(int(size // _LABEL_PX), 2)
        fitting = [(spacing, offset) for spacing, offset in levels if span / spacing <= most]
        return fitting or [(_round_up(span / most), 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if self._positions.size < 2:
            return ["" for _ in values]
        stamps = np.interp(values, self._positions, self._stamps)
        moments = [datetime.fromtimestamp(t / 1e9, IST) for t in stamps]
        if len({m.date() for m in moments}) == len(moments):
            return [m.strftime("%d %b") for m in moments]
        # Several ticks in one day (a day's curve, a zoom): the time, and the date where it turns;
        # seconds when minutes alone would repeat.
        minutes = [m.strftime("%d %H:%M") for m in moments]
        clock = "%H:%M" if len(set(minutes)) == len(minutes) else "%H:%M:%S"
        return [
            m.strftime("%d %b" if i == 0 or m.date() != moments[i - 1].date() else clock)
            for i, m in enumerate(moments)
        ]


class RupeeAxis(pg.AxisItem):
    """A value axis in rupees, lakh and crore as traders write them (₹9.98L), no SI prefix."""

    def __init__(self, orientation: str = "left") -> None:
        super().__init__(orientation)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        # Ticks closer than a rupee (an empty or flat curve) show paise, not ₹0 ₹0 ₹1 ₹1.
        decimals = 0 if spacing >= 1 else 2
        out = []
        for value in values:
            size = abs(value)
            sign = "-" if value < 0 else ""
            if size >= 1e7:
                out.append(f"{sign}₹{size / 1e7:.3g}Cr")
            elif size >= 1e5:
                out.append(f"{sign}₹{size / 1e5:.4g}L")
            elif size >= 1e3:
                out.append(f"{sign}₹{size / 1e3:.3g}K")
            else:
                out.append(f"{sign}₹{size:.{decimals}f}")
        return out
