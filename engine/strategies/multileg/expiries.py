"""Which expiry a leg trades: an absolute date, or the codes traders use (``multileg_and_panels.md``
§1.2) — the current week's (CW), the next week's (W1), the one after (W2), the current month's
(CM) and the next month's (NM). A month's expiry is the last one listed in that month; "current"
means the nearest not yet expired (an expiry day counts until its close)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum

from engine.strategies.multileg.strikes import NoStrike


class ExpiryCode(StrEnum):
    CURRENT_WEEK = "CW"
    NEXT_WEEK = "W1"
    WEEK_AFTER = "W2"
    CURRENT_MONTH = "CM"
    NEXT_MONTH = "NM"


def resolve_expiry(listed: Iterable[date], code: ExpiryCode | date, today: date) -> date:
    """The listed expiry ``code`` names as of ``today``; ``NoStrike`` if none is listed."""
    live = sorted({d for d in listed if d >= today})
    if isinstance(code, date):
        if code not in live:
            raise NoStrike(f"no contract expires on {code:%d %b %Y}")
        return code
    weekly_at = {ExpiryCode.CURRENT_WEEK: 0, ExpiryCode.NEXT_WEEK: 1, ExpiryCode.WEEK_AFTER: 2}
    if code in weekly_at:
        at = weekly_at[code]
        if at >= len(live):
            raise NoStrike(f"{code.value}: only {len(live)} expiries are listed")
        return live[at]
    monthly = _month_ends(live)
    at = 0 if code is ExpiryCode.CURRENT_MONTH else 1
    if at >= len(monthly):
        raise NoStrike(f"{code.value}: only {len(monthly)} monthly expiries are listed")
    return monthly[at]


def _month_ends(live: list[date]) -> list[date]:
    last: dict[tuple[int, int], date] = {}
    for day in live:
        last[(day.year, day.month)] = day
    return [last[month] for month in sorted(last)]
