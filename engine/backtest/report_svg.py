"""Charts as inline SVG text, drawn in Python: a report opens anywhere, offline, with no script.

Each chart is one ``<svg>`` with a viewBox (it scales with the page), light gridlines at round
values, the y axis in rupees (lakh/crore grouping) or percent, and dates along the x axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date, datetime
from html import escape
from itertools import pairwise

from engine.core.clock import IST

WIDTH = 900
HEIGHT = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 78, 12, 14, 28

UP = "#1b9e5a"
DOWN = "#d2413a"
LINE = "#2563c9"
GRID = "#e3e6ea"
MAX_GAP_NS = 30 * 60 * 10**9
"""A pause longer than this (a night, a weekend) takes this much room on a time axis."""
TEXT = "#4b5563"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        span = abs(high) or 1.0
        low, high = low - span / 2, high + span / 2
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = [round(first, 10)]
    while ticks[-1] < high:  # the last tick at or above the highest value
        ticks.append(round(first + len(ticks) * step, 10))
    return ticks


def rupees_label(value: float) -> str:
    """Axis text: ₹1.2L, ₹3.4Cr, ₹850, -₹12.5K."""
    sign = "-" if value < 0 else ""
    size = abs(value)
    if size >= 1e7:
        text = f"{size / 1e7:.2f}".rstrip("0").rstrip(".") + "Cr"
    elif size >= 1e5:
        text = f"{size / 1e5:.2f}".rstrip("0").rstrip(".") + "L"
    elif size >= 1e3:
        text = f"{size / 1e3:.1f}".rstrip("0").rstrip(".") + "K"
    else:
        text = f"{size:.0f}"
    return f"{sign}₹{text}"


def percent_label(value: float) -> str:
    return f"{value * 100:.1f}%"


def _frame(title: str, body: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>{body}</svg>'
    )


def _y_axis(
    ticks: Sequence[float], y: Callable[[float], float], label: Callable[[float], str]
) -> str:
    parts = []
    for value in ticks:
        at = y(value)
        parts.append(
            f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{at:.1f}" y2="{at:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{_LEFT - 6}" y="{at + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{TEXT}">{escape(label(value))}</text>'
        )
    return "".join(parts)


def _x_labels(moments: Sequence[int], places: Sequence[float], fmt: str) -> str:
    """Up to six dates along the bottom, at evenly spread points of the line."""
    if not moments:
        return ""
    count = min(6, len(moments))
    first, last = places[0], places[-1]
    picked: list[int] = []
    for i in range(count):
        target = first + (last - first) * (i / (count - 1) if count > 1 else 0)
        index = min(range(len(places)), key=lambda j: abs(places[j] - target))
        if index not in picked:
            picked.append(index)
    parts = []
    seen: set[str] = set()
    for index in picked:
        text = datetime.fromtimestamp(moments[index] / 1e9, IST).strftime(fmt)
        if text in seen:
            continue
        seen.add(text)
        at = places[index]
        anchor = "start" if at <= _LEFT + 20 else "end" if at >= WIDTH - _RIGHT - 20 else "middle"
        parts.append(
            f'<text x="{at:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" font-size="11" '
            f'fill="{TEXT}">{escape(text)}</text>'
        )
    return "".join(parts)


def session_positions(ts_ns: Sequence[int]) -> list[float]:
    """Where each moment sits along the x axis: time, with nights, weekends and holidays (any
    gap over ``MAX_GAP_NS``) shortened to ``MAX_GAP_NS``, so sessions sit side by side."""
    out = [0.0]
    for before, after in pairwise(ts_ns):
        out.append(out[-1] + min(after - before, MAX_GAP_NS))
    return out


def line_chart(
    title: str,
    ts_ns: Sequence[int],
    values: Sequence[float],
    *,
    label: Callable[[float], str] = rupees_label,
    colour: str = LINE,
    fill_to: float | None = None,
) -> str:
    """A line through (time, value); ``fill_to`` shades between the line and that level."""
    points = [(t, v) for t, v in zip(ts_ns, values, strict=True) if math.isfinite(v)]
    if not points:
        return _frame(title, _empty())
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    if fill_to is not None:
        low, high = min(low, fill_to), max(high, fill_to)
    ticks = nice_ticks(low, high)
    low, high = min(ticks[0], low), max(ticks[-1], high)
    start, end = points[0][0], points[-1][0]
    along = session_positions([t for t, _ in points])
    span = along[-1] or 1.0
    xs = [_LEFT + a / span * (WIDTH - _LEFT - _RIGHT) for a in along]

    def y(v: float) -> float:
        return _TOP + (high - v) / ((high - low) or 1) * (HEIGHT - _TOP - _BOTTOM)

    path = " ".join(f"{x:.1f},{y(v):.1f}" for x, (_, v) in zip(xs, points, strict=True))
    body = _y_axis(ticks, y, label)
    if fill_to is not None:
        base = y(fill_to)
        area = f"{xs[0]:.1f},{base:.1f} {path} {xs[-1]:.1f},{base:.1f}"
        body += f'<polygon points="{area}" fill="{colour}" fill-opacity="0.18" stroke="none"/>'
    body += (
        f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8" '
        'stroke-linejoin="round"/>'
    )
    fmt = "%d %b" if end - start > 2 * 86_400 * 10**9 else "%d %b %H:%M"
    body += _x_labels([t for t, _ in points], xs, fmt)
    return _frame(title, body)


def bar_chart(title: str, days: Sequence[date], values: Sequence[float]) -> str:
    """One bar a day, green above zero and red below."""
    if not days:
        return _frame(title, _empty())
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values))
    low, high = ticks[0], ticks[-1]
    slot = (WIDTH - _LEFT - _RIGHT) / len(days)

    def y(v: float) -> float:
        return _TOP + (high - v) / ((high - low) or 1) * (HEIGHT - _TOP - _BOTTOM)

    body = _y_axis(ticks, y, rupees_label)
    zero = y(0.0)
    width = max(1.0, slot * 0.7)
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        left = _LEFT + index * slot + (slot - width) / 2
        top, bottom = sorted((y(value), zero))
        colour = UP if value >= 0 else DOWN
        body += (
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" '
            f'height="{max(bottom - top, 0.5):.1f}" fill="{colour}">'
            f"<title>{day.isoformat()}: {escape(rupees_label(value))}</title></rect>"
        )
    body += f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="{TEXT}"/>'
    step = max(1, math.ceil(len(days) / 8))
    for index in range(0, len(days), step):
        centre = _LEFT + (index + 0.5) * slot
        body += (
            f'<text x="{centre:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11" '
            f'fill="{TEXT}">{days[index].strftime("%d %b")}</text>'
        )
    return _frame(title, body)


def _empty() -> str:
    return (
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="13" '
        f'fill="{TEXT}">No data yet</text>'
    )
