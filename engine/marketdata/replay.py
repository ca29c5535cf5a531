"""Replay feeds: recorded ticks, or bars, delivered on the feed port as fast as they can be read,
each at its own moment of a ``SimulatedClock`` (timers due before a tick fire before it).

The engine cannot tell a replay from the market: the same ``on_tick`` takes the ticks, so the
same gate, order manager, paper venue and strategies see them. A replay yields to the loop every
``yield_every`` ticks (so progress is shown and a cancel is heard) and stops between ticks when
``stop`` is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence

from engine.core.clock import SimulatedClock
from engine.domain.bars import Bar
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import Tick
from engine.marketdata.recording import RecordedDay, ticks_of

_MS = 1_000_000
BAR_TICKS = 4
"""The ticks a bar replays as: open, the nearer extreme, the other, close (``_bar_ticks``)."""
BAR_DEPTH = 10**9
"""The quantity a bar's price is quoted for: a bar replay fills any order at that price."""


class ReplayFeed:
    """The ticks of recorded days, in recorded order."""

    def __init__(
        self, days: Sequence[RecordedDay], clock: SimulatedClock, *, yield_every: int = 5_000
    ) -> None:
        self._days = list(days)
        self._clock = clock
        self._yield_every = yield_every
        self.total = sum(day.tick_count() for day in self._days)
        """Ticks the replay holds (for progress)."""
        self.delivered = 0
        self.finished = asyncio.Event()
        """Set once every tick was delivered (not when stopped early)."""

    async def run(self, on_tick: Callable[[Tick], None], stop: asyncio.Event) -> None:
        await _deliver(self, _recorded_ticks(self._days), on_tick, stop)


class BarReplayFeed:
    """Bars replayed as the ticks of their path (open, the nearer extreme, the other, close),
    stamped at the bar's start and quoted at their price for any quantity, so a strategy acting on a bar's close trades at the
    next bar's open: the bar closes for it when the next one opens."""

    def __init__(
        self, bars: Iterable[Bar], clock: SimulatedClock, *, yield_every: int = 4_000
    ) -> None:
        self._bars = sorted(bars, key=lambda b: (b.start_ns, str(b.key)))
        self._clock = clock
        self._yield_every = yield_every
        self.total = 4 * len(self._bars)
        self.delivered = 0
        self.finished = asyncio.Event()

    async def run(self, on_tick: Callable[[Tick], None], stop: asyncio.Event) -> None:
        await _deliver(self, _bar_ticks(self._bars), on_tick, stop)


async def _deliver(
    feed: ReplayFeed | BarReplayFeed,
    ticks: Iterable[Tick],
    on_tick: Callable[[Tick], None],
    stop: asyncio.Event,
) -> None:
    advance_to = feed._clock.advance_to
    every = feed._yield_every
    count = 0
    for tick in ticks:
        advance_to(tick.ts_ns)
        on_tick(tick)
        count += 1
        if count % every == 0:
            feed.delivered = count
            await asyncio.sleep(0)
            if stop.is_set():
                return
    feed.delivered = count
    feed.finished.set()


def _recorded_ticks(days: Sequence[RecordedDay]) -> Iterable[Tick]:
    for day in days:
        for table in day.tick_tables():
            yield from ticks_of(table)


def _bar_ticks(bars: Sequence[Bar]) -> Iterable[Tick]:
    volume: dict[object, int] = {}
    # Four ticks a bar: built as the tuples they are, without the named tuple's own __new__.
    new = tuple.__new__
    for bar in bars:
        token = InstrumentToken(int(bar.key))
        start = bar.start_ns
        oi = bar.oi
        # The path a bar most likely took: down first when it closed up, up first otherwise.
        first, second = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
        traded = volume.get(token, 0) + bar.volume
        volume[token] = traded
        # A millisecond apart at the bar's start: the minute's timers fire once, between bars.
        for ts_ns, price in (
            (start, bar.open),
            (start + _MS, first),
            (start + 2 * _MS, second),
            (start + 3 * _MS, bar.close),
        ):
            level = ((price, BAR_DEPTH, 1),)
            # In field order: token, ltp, bid, ask, bid_qty, ask_qty, volume, oi, ts_ns,
            # last_qty, bids, asks, close.
            yield new(Tick, (token, price, price, price, BAR_DEPTH, BAR_DEPTH, traded, oi, ts_ns, 0, level, level, 0))  # fmt: skip
