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
NS_PER_HOUR = 3.6e12


def _round_up(value: float) -> float:
    """The nearest 1, 2 or 5 times a power of ten at or above ``value`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


class SessionAxis(pg.AxisItem):
    """A time axis over session positions (nights, weekends and holidays shortened): labels are
    the IST dates and times. Within a stretch of real time a tick reads the moment it stands
    for; a tick inside a shortened gap reads the nearer real point, never a moment of the night
    or the weekend the gap left out (a Saturday's date under a curve that never traded on one).
    """

    def __init__(self, orientation: str = "bottom", ns_per_unit: float = NS_PER_HOUR) -> None:
        super().__init__(orientation)
        self._positions = np.zeros(1)
        self._stamps = np.zeros(1)
        self._ns_per_unit = ns_per_unit
        """Real time a unit of position stands for where nothing is shortened (panels plot
        session positions in hours)."""

    def set_moments(self, positions: np.ndarray, stamps: np.ndarray) -> None:
        self._positions, self._stamps = positions, stamps

    def moments_at(self, values: list[float]) -> np.ndarray:
        """The epoch-ns moment each position stands for (see the class)."""
        positions, stamps = self._positions, self._stamps
        at = np.asarray(values, dtype=np.float64)
        moments = np.interp(at, positions, stamps)
        # The stretch each value falls in: points ``before`` and ``before + 1``.
        before = np.clip(np.searchsorted(positions, at, side="right") - 1, 0, positions.size - 2)
        after = before + 1
        span = positions[after] - positions[before]
        real = stamps[after] - stamps[before]
        # Shortened: the real time is more than the positions show (a little slack for floats).
        shortened = real > span * self._ns_per_unit * (1 + 1e-9) + 1e6
        inside = (at > positions[before]) & (at < positions[after])
        nearer = np.where(
            at - positions[before] <= positions[after] - at, stamps[before], stamps[after]
        )
        return np.where(shortened & inside, nearer, moments)

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
        moments = [datetime.fromtimestamp(t / 1e9, IST) for t in self.moments_at(values)]
        # Ticks in one shortened gap read the same point: it is labelled once.
        repeats = [i > 0 and m == moments[i - 1] for i, m in enumerate(moments)]
        distinct = [m for m, repeat in zip(moments, repeats, strict=True) if not repeat]
        if len({m.date() for m in distinct}) == len(distinct):
            labels = [m.strftime("%d %b") for m in moments]
        else:
            # Several ticks in one day (a day's curve, a zoom): the time, and the date where it
            # turns; seconds when minutes alone would repeat.
            minutes = [m.strftime("%d %H:%M") for m in distinct]
            clock = "%H:%M" if len(set(minutes)) == len(minutes) else "%H:%M:%S"
            labels = [
                m.strftime("%d %b" if i == 0 or m.date() != moments[i - 1].date() else clock)
                for i, m in enumerate(moments)
            ]
        return ["" if repeat else label for label, repeat in zip(labels, repeats, strict=True)]


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
