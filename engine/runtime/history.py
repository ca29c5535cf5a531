"""Which history a chart gets: the one its desk's market data comes from.

    the simulated market  ─▶ SimulatedHistory (made up, deterministic; nothing to cache)
    a Kite link           ─▶ CachedHistory(Kite's historical API, candles in history.sqlite)
    anything else         ─▶ None (a replay, a toy feed: charts start from the live bars)

The composition lives here because the cache (``engine.store``) and the sources
(``engine.marketdata``, ``engine.brokers``) are sibling layers that do not import each other.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.calendar import MarketCalendar
from engine.core.clock import Clock, LiveClock
from engine.marketdata.history import CachedHistory, HistorySource
from engine.marketdata.sim_history import SimulatedHistory, TradingSessions
from engine.marketdata.simulated import SimulatedMarket
from engine.store.candle_cache import CACHE_FILE_NAME, CandleCache

__all__ = ["CACHE_FILE_NAME", "history_source"]


def history_source(
    feed_or_link: object,
    cache_path: Path | None,
    *,
    clock: Clock | None = None,
    calendar: TradingSessions | None = None,
) -> HistorySource | None:
    """The history source for a desk's feed (the simulated market) or live link (Kite).

    ``cache_path`` is the candle cache's file (``history.sqlite`` beside the book; None keeps
    it in memory). ``clock`` decides which bars are final (the engine's; live time by default);
    ``calendar`` gives the simulated market's trading days (the engine's; the packaged NSE
    calendar with the trader's overrides by default).
    """
    if isinstance(feed_or_link, SimulatedMarket):
        return SimulatedHistory(feed_or_link, calendar or MarketCalendar.load())
    # A Kite link exists only once its module was loaded: a paper desk or a replay never loads
    # the Kite client (half a second of a backtest run) just to be told it has none.
    kite = sys.modules.get("engine.brokers.kite.link")
    if kite is not None and isinstance(feed_or_link, kite.KiteLink):
        return CachedHistory(
            feed_or_link.history,
            CandleCache(cache_path),
            name="kite",
            now_ns=(clock or LiveClock()).time_ns,
        )
    return None
