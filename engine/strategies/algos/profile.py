"""The intraday volume profile VWAP schedules follow: NSE's continuous session (09:15–15:30 IST)
trades most at the open and at the close. The shape is the one the simulated market's history
draws its minute volumes from (``engine.marketdata.sim_history``), so on the paper market the
VWAP schedule and the market's own volume agree; a profile from a live broker's history can be
handed in instead (a weight per session minute)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, time

from engine.core.clock import IST

SESSION_OPEN = time(9, 15)
SESSION_MINUTES = 375
"""09:15 to 15:30."""


def u_shape(minutes: int = SESSION_MINUTES) -> list[float]:
    """Relative volume of each session minute: busier at the open and the close."""
    last = minutes - 1
    return [1.0 + 1.5 * math.exp(-m / 30.0) + math.exp(-(last - m) / 30.0) for m in range(minutes)]


def session_minute(ns: int) -> float:
    """Minutes since 09:15 IST of the epoch-ns moment (may be negative or past the close)."""
    moment = datetime.fromtimestamp(ns / 1e9, tz=IST)
    opened = moment.replace(
        hour=SESSION_OPEN.hour, minute=SESSION_OPEN.minute, second=0, microsecond=0
    )
    return (moment - opened).total_seconds() / 60.0


def volume_between(profile: Sequence[float], start_minute: float, end_minute: float) -> float:
    """The profile's volume from ``start_minute`` to ``end_minute`` (fractions of minutes count
    pro rata; outside the session the edge minutes' rate holds)."""
    if end_minute <= start_minute:
        return 0.0
    total = 0.0
    m = start_minute
    last = len(profile) - 1
    while m < end_minute:
        whole = math.floor(m)
        upto = min(whole + 1.0, end_minute)
        total += profile[min(max(whole, 0), last)] * (upto - m)
        m = upto
    return total


def profile_from_bars(bars: Sequence[tuple[int, int]]) -> list[float] | None:
    """The mean volume of each session minute over past days, from one-minute bars given as
    (start epoch ns, volume); None when no bar falls in the session."""
    totals = [0.0] * SESSION_MINUTES
    days: set[int] = set()
    for start_ns, volume in bars:
        minute = math.floor(session_minute(start_ns) + 1e-9)
        if 0 <= minute < SESSION_MINUTES and volume > 0:
            totals[minute] += volume
            days.add(start_ns // (86_400 * 10**9))
    if not days:
        return None
    return [total / len(days) for total in totals]
