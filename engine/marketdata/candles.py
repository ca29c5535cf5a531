"""The session's candles of what the desk asked for, built on the tick path.

A chart (or a strategy) follows an instrument at a timeframe; only then are its bars built, from
the ticks that arrive after. A tick of a token nobody follows costs one dict lookup, so the book
can sit on the bus beside every tick. When an instrument's last follower at a timeframe leaves,
those bars are dropped: building again later from a gap would count the gap's volume into the
next bar, and the chart that comes back joins its history with fresh bars anyway.

A value the desk derives (a straddle's premium, a portfolio's value) is sampled by its owner
through ``add_value`` and built at every timeframe from its first sample, followed or not, so a
chart opened later shows the whole session of it.

Each series keeps at most ``max_bars`` closed bars (``MAX_BARS``, 20,000: 53 sessions of
minutes), the oldest dropped first, so a desk left running cannot grow without bound.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container

from engine.domain.bars import Bar, SeriesKey, Timeframe
from engine.domain.ticks import Tick
from engine.marketdata.bars import MAX_BARS, BarSeries

__all__ = ["BarListener", "CandleBook"]

log = logging.getLogger(__name__)

BarListener = Callable[[Bar], None]
"""Called with the forming bar at every update. The bar is the book's own and changes in place
as ticks come: keep it to show the newest state, copy it to keep a moment's."""

_Slot = tuple[SeriesKey, Timeframe]
_Built = tuple[BarSeries, list[BarListener]]


class CandleBook:
    """Bars of followed instruments and of derived series, at any timeframe, for the session."""

    def __init__(self, max_bars: int = MAX_BARS) -> None:
        self._max_bars = max_bars
        self._built: dict[_Slot, _Built] = {}
        self._followers: dict[_Slot, int] = {}
        self._listeners: dict[_Slot, list[BarListener]] = {}
        self._by_token: dict[SeriesKey, tuple[_Built, ...]] = {}
        """The tick path's one lookup: what a token's ticks build."""
        self._derived: dict[str, tuple[_Built, ...]] = {}
        self.listener_errors = 0
        """Listener calls that raised (each one logged)."""

    # ------------------------------------------------------------------------ what is built

    def follow(self, key: SeriesKey, timeframe: Timeframe) -> Callable[[], None]:
        """Build this series' bars at ``timeframe`` from now on; returns the unfollow (calling
        it again does nothing). Followers are counted: the bars stop when the last one leaves.
        A derived series is built whether followed or not."""
        slot = (key, timeframe)
        self._followers[slot] = self._followers.get(slot, 0) + 1
        if not isinstance(key, str) and slot not in self._built:
            self._built[slot] = self._new(slot)
            self._index_token(key)
        followed = [True]

        def unfollow() -> None:
            if followed[0]:
                followed[0] = False
                self._unfollow(slot)

        return unfollow

    def listen(
        self, key: SeriesKey, timeframe: Timeframe, listener: BarListener
    ) -> Callable[[], None]:
        """Call ``listener`` with the forming bar whenever the series updates at ``timeframe``
        (it does not make the bars be built: follow for that). A listener that raises is logged
        and the others are still called. Returns the unsubscribe."""
        slot = (key, timeframe)
        listeners = self._listeners.setdefault(slot, [])
        listeners.append(listener)
        listening = [True]

        def unlisten() -> None:
            if not listening[0]:
                return
            listening[0] = False
            listeners.remove(listener)
            if not listeners and slot not in self._built:
                self._forget_listeners(slot, listeners)

        return unlisten

    def bars(self, key: SeriesKey, timeframe: Timeframe) -> list[Bar]:
        """The series' bars built this session, oldest first, the forming one last."""
        built = self._built.get((key, timeframe))
        return [] if built is None else built[0].bars()

    # ------------------------------------------------------------------------ what comes in

    @property
    def followed(self) -> Container[SeriesKey]:
        """The series built now, kept current: the ticks ``on_tick`` needs."""
        return self._by_token

    def on_tick(self, tick: Tick) -> None:
        built = self._by_token.get(tick.token)
        if built is None or tick.ltp <= 0:  # not followed, or no trade yet
            return
        for series, listeners in built:
            series.add(tick.ts_ns, tick.ltp, tick.volume, tick.oi)
            if listeners:
                self._tell(listeners, series)

    def add_value(self, key: str, ts_ns: int, price_paise: int, volume_cum: int = 0) -> None:
        """One sample of a derived series (``volume_cum``: cumulative for the day, if it has a
        volume at all). Builds every timeframe from the first sample."""
        if isinstance(price_paise, bool) or not isinstance(price_paise, int):
            raise TypeError(f"{key}: a price is whole paise, got {price_paise!r}")
        built = self._derived.get(key)
        if built is None:
            if not isinstance(key, str):
                raise TypeError(f"a derived series is named by a str, got {key!r}")
            built = tuple(self._new((key, tf)) for tf in Timeframe)
            for tf, one in zip(Timeframe, built, strict=True):
                self._built[(key, tf)] = one
            self._derived[key] = built
        for series, listeners in built:
            series.add(ts_ns, price_paise, volume_cum)
            if listeners:
                self._tell(listeners, series)

    # ---------------------------------------------------------------------------- internals

    def _new(self, slot: _Slot) -> _Built:
        key, timeframe = slot
        return BarSeries(key, timeframe, self._max_bars), self._listeners.setdefault(slot, [])

    def _unfollow(self, slot: _Slot) -> None:
        left = self._followers[slot] - 1
        if left:
            self._followers[slot] = left
            return
        del self._followers[slot]
        key = slot[0]
        if isinstance(key, str):
            return  # derived series outlive their charts
        _series, listeners = self._built.pop(slot)
        if not listeners:
            self._forget_listeners(slot, listeners)
        self._index_token(key)

    def _forget_listeners(self, slot: _Slot, listeners: list[BarListener]) -> None:
        # Only this very list: a later listen may have put a new one in its place.
        if self._listeners.get(slot) is listeners:
            del self._listeners[slot]

    def _index_token(self, key: SeriesKey) -> None:
        built = tuple(b for (k, _tf), b in self._built.items() if k == key)
        if built:
            self._by_token[key] = built
        else:
            self._by_token.pop(key, None)

    def _tell(self, listeners: list[BarListener], series: BarSeries) -> None:
        bar = series.forming
        if bar is None:
            return  # nothing traded yet
        for listener in tuple(listeners):  # one may unsubscribe while being told
            try:
                listener(bar)
            except Exception:
                self.listener_errors += 1
                log.exception(
                    "chart listener %r failed on %s %s", listener, bar.key, series.timeframe.label
                )
