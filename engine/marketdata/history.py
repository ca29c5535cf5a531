"""Where a chart's past comes from: the history port, and a cache in front of any source.

A ``HistorySource`` answers "the bars of this instrument in this timeframe from ``start`` to
``end``": bars whose start lies in the half-open range ``[start, end)``, oldest first, prices in
paise. The bar still forming when it is asked (today's minute, today's day) is included when the
source has it; it is provisional. Implementations: the paper market's generated history
(``engine.marketdata.sim_history``), Kite's historical API (the Kite link satisfies the protocol
without importing it), and ``CachedHistory`` in front of either.

``CachedHistory`` keeps final bars in a ``CandleStore`` (``engine.store.candle_cache``): a range
the store covers is served without asking the source, only the missing parts are fetched, and
nothing at or after the bar forming ``settle_s`` ago is stored: such bars are fetched again on
every request until they are final, so a chart never freezes a half-built candle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, Protocol, TypeVar, runtime_checkable

from engine.domain.bars import Bar, Timeframe

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@runtime_checkable
class HistorySource(Protocol):
    async def candles(
        self, token: int, timeframe: Timeframe, start: datetime, end: datetime
    ) -> list[Bar]:
        """Bars starting in ``[start, end)`` (aware datetimes), oldest first, prices in paise;
        only what the source knows, the forming bar last when the range reaches it."""
        ...


class CandleStore(Protocol):
    """Final bars kept between requests, and which time ranges they are complete for.

    A store that fails (disk full, a damaged file) logs why and answers like an empty one:
    everything is missing, nothing is kept, and ``bars`` says it could not read. The chart is
    then fetched from its source; it never fails because of the cache."""

    def missing(
        self, source: str, token: int, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> list[tuple[int, int]]:
        """The parts of ``[start_ns, end_ns)`` not covered yet, oldest first."""
        ...

    def bars(
        self, source: str, token: int, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> list[Bar] | None:
        """The stored bars starting in ``[start_ns, end_ns)``, oldest first; None when the
        store cannot be read (an empty list is a range with no bars)."""
        ...

    def save(
        self,
        source: str,
        token: int,
        timeframe: Timeframe,
        bars: list[Bar],
        covered: tuple[int, int],
    ) -> None:
        """Keep ``bars`` and remember ``covered`` as complete (bars it lacks do not exist)."""
        ...

    def close(self) -> None: ...


def epoch_ns(moment: datetime) -> int:
    """Exact epoch nanoseconds of an aware datetime (no float on the way)."""
    check_aware(moment)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def moment_of(ns: int) -> datetime:
    """The aware UTC datetime of epoch nanoseconds (to the microsecond)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def check_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"history needs aware datetimes, got {moment!r}")


def check_range(start: datetime, end: datetime) -> tuple[int, int]:
    """``(start_ns, end_ns)`` of a requested range; ValueError when naive or reversed."""
    start_ns, end_ns = epoch_ns(start), epoch_ns(end)
    if end_ns < start_ns:
        raise ValueError(f"history range ends ({end}) before it starts ({start})")
    return start_ns, end_ns


class CachedHistory:
    """A ``HistorySource`` in front of another, keeping its final bars in a ``CandleStore``.

    Store calls (SQLite) run on a worker thread, one at a time, so a large read or write never
    stalls the loop the UI shares. Requests for the same series wait for each other, so two
    charts opening on one instrument fetch it once.
    """

    def __init__(
        self,
        source: HistorySource,
        store: CandleStore,
        *,
        name: str,
        now_ns: Callable[[], int],
        settle_s: float = 60.0,
    ) -> None:
        if settle_s < 0:
            raise ValueError("settle_s must be >= 0")
        self.source = source
        self.store = store
        self.name = name
        """The source's key in the store ('kite'): bars of different sources never mix."""
        self._now_ns = now_ns
        self._settle_ns = round(settle_s * _NS)
        """A bar is final once it ended this long ago: Kite publishes a minute's candle a few
        seconds after the minute, and may correct it meanwhile."""
        self._store_lock = asyncio.Lock()
        self._series_locks: dict[tuple[int, Timeframe], asyncio.Lock] = {}
        self.fetches = 0
        """Requests passed to the source (each may be several HTTP requests)."""

    async def candles(
        self, token: int, timeframe: Timeframe, start: datetime, end: datetime
    ) -> list[Bar]:
        start_ns, end_ns = check_range(start, end)
        lock = self._series_locks.setdefault((token, timeframe), asyncio.Lock())
        async with lock:
            final_end = min(end_ns, self._final_before(timeframe))
            final: list[Bar] = []
            if final_end > start_ns:
                final = await self._final(token, timeframe, start_ns, final_end)
            since = max(final_end, start_ns)
            forming: list[Bar] = []
            if end_ns > since:
                forming = await self._fetch(token, timeframe, since, epoch_ns(end))
            return final + forming

    async def close(self) -> None:
        async with self._store_lock:
            await asyncio.to_thread(self.store.close)

    def _final_before(self, timeframe: Timeframe) -> int:
        """The start of the bar that was forming ``settle`` ago: bars before it are final."""
        return timeframe.start_of(self._now_ns() - self._settle_ns)

    async def _final(
        self, token: int, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> list[Bar]:
        """The final bars of ``[start_ns, end_ns)``: the store's, its gaps fetched and kept."""
        name, store = self.name, self.store
        gaps = await self._in_store(store.missing, name, token, timeframe, start_ns, end_ns)
        fetched: list[Bar] = []
        for gap_start, gap_end in gaps:
            bars = await self._fetch(token, timeframe, gap_start, gap_end)
            await self._in_store(store.save, name, token, timeframe, bars, (gap_start, gap_end))
            fetched.extend(bars)
        if gaps == [(start_ns, end_ns)]:
            return fetched
        stored = await self._in_store(store.bars, name, token, timeframe, start_ns, end_ns)
        if stored is None:
            # The store said what it covers but cannot read it now: the source has it all.
            return await self._fetch(token, timeframe, start_ns, end_ns)
        if not fetched:
            return stored
        # What was just fetched counts even if keeping it failed (a full disk).
        merged = {bar.start_ns: bar for bar in stored} | {bar.start_ns: bar for bar in fetched}
        return [merged[key] for key in sorted(merged)]

    async def _fetch(
        self, token: int, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> list[Bar]:
        self.fetches += 1
        bars = await self.source.candles(token, timeframe, moment_of(start_ns), moment_of(end_ns))
        return [bar for bar in bars if start_ns <= bar.start_ns < end_ns]

    async def _in_store(self, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        async with self._store_lock:
            return await asyncio.to_thread(call, *args, **kwargs)
