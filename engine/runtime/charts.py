"""The desk's candles: the session's bars of whatever charts and strategies follow, where a chart's
past comes from, and the option series (straddles, portfolios, IVs) sampled once a second of
market time, so a replay samples as the live desk does."""

from __future__ import annotations

import logging
from pathlib import Path

from engine.api import EngineApi
from engine.api.series import SessionSeries
from engine.calendar import MarketCalendar
from engine.core.bus import EventBus
from engine.core.clock import Clock
from engine.domain.ticks import Tick
from engine.marketdata.candles import CandleBook
from engine.marketdata.history import CachedHistory, HistorySource
from engine.runtime.history import CACHE_FILE_NAME, history_source

log = logging.getLogger(__name__)

_SECOND_NS = 1_000_000_000


class DeskCharts:
    def __init__(
        self,
        *,
        bus: EventBus,
        market_source: object,
        clock: Clock,
        calendar: MarketCalendar,
        book_file: Path | None,
    ) -> None:
        self.candles = CandleBook()
        bus.subscribe(Tick, self.candles.on_tick, tokens=self.candles.followed)
        cache = None if book_file is None else book_file.parent / CACHE_FILE_NAME
        self.history: HistorySource | None = history_source(
            market_source, cache, clock=clock, calendar=calendar
        )
        self.series: SessionSeries | None = None
        self.next_sample_ns = 0
        """The market time at which the option series are next sampled."""

    def attach(self, api: EngineApi) -> None:
        """Sample the option series through the facade (built after these parts)."""
        self.series = SessionSeries(api, self.candles.add_value)
        api.charts_service.series = self.series

    def sample(self, ts_ns: int) -> None:
        """A tick of a new second arrived: sample the option series at it."""
        self.next_sample_ns = ts_ns - ts_ns % _SECOND_NS + _SECOND_NS
        if self.series is None:
            return
        try:
            self.series.sample(ts_ns)
        except Exception:  # a chart's series must never stop the feed
            log.exception("the option series were not sampled at %d", ts_ns)

    async def close(self) -> None:
        if isinstance(self.history, CachedHistory):
            await self.history.close()
