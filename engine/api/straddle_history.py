"""The past of an ATM straddle chart, made from its legs' history, so a straddle chart opened at noon
shows the morning (the desk samples the live straddle only from the moment it starts).

At each minute the straddle is the call and the put of the strike nearest the underlying's close
that minute, as the live sampler takes the strike nearest the forward; a leg with no trade in a
minute counts at its last price. The sum's high and low within a minute are not known from the
legs' own (they need not happen together), so a minute's bar spans its open and close only.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import date, datetime

from engine.domain.bars import Bar, Timeframe, resample
from engine.marketdata.history import HistorySource
from engine.options.chain_layout import ChainLayout


def straddle_key(key: str) -> tuple[str, date] | None:
    """The (underlying, expiry) of a ``straddle:NIFTY:2026-12-08`` key, or None."""
    kind, _, rest = key.partition(":")
    underlying, _, day = rest.partition(":")
    if kind != "straddle" or not underlying:
        return None
    try:
        return underlying, date.fromisoformat(day)
    except ValueError:
        return None


async def straddle_history(
    history: HistorySource,
    key: str,
    layout: ChainLayout,
    spot: int,
    timeframe: Timeframe,
    start: datetime,
    end: datetime,
) -> list[Bar]:
    """The straddle's bars between ``start`` and ``end`` from the history of the underlying
    (``spot``, its index or shares) and of the strikes its closes came near."""
    underlying = await history.candles(spot, Timeframe.M1, start, end)
    rows = [
        (int(strike), int(call), int(put))
        for strike, call, put in zip(layout.strikes, layout.calls, layout.puts, strict=True)
        if call is not None and put is not None
    ]
    if not underlying or not rows:
        return []
    strikes = [strike for strike, _, _ in rows]
    low = nearest_strike(strikes, min(b.close for b in underlying))
    high = nearest_strike(strikes, max(b.close for b in underlying))
    legs: dict[int, dict[int, Bar]] = {}
    for _strike, call, put in rows[low : high + 1]:
        for token in (call, put):
            fetched = await history.candles(token, Timeframe.M1, start, end)
            legs[token] = {b.start_ns: b for b in fetched}
    last: dict[int, Bar] = {}
    minutes: list[Bar] = []
    for moment in underlying:
        for token, by_start in legs.items():
            bar = by_start.get(moment.start_ns)
            if bar is not None:
                last[token] = bar
        _, call, put = rows[nearest_strike(strikes, moment.close)]
        pair = [legs[leg].get(moment.start_ns) or last.get(leg) for leg in (call, put)]
        if pair[0] is None or pair[1] is None:
            continue  # a leg that has not traded yet
        opened = pair[0].open + pair[1].open
        closed = pair[0].close + pair[1].close
        minutes.append(
            Bar(key, moment.start_ns, opened, max(opened, closed), min(opened, closed), closed)
        )
    return minutes if timeframe is Timeframe.M1 else resample(minutes, timeframe)


def nearest_strike(strikes: Sequence[int], price: float) -> int:
    """Index of the strike nearest ``price`` (paise); exactly between two, the higher."""
    above = bisect.bisect_left(strikes, price)
    if above == 0:
        return 0
    if above == len(strikes):
        return above - 1
    return above if strikes[above] - price <= price - strikes[above - 1] else above - 1
