"""Charts through the facade: candles of any series (an instrument, or a value the desk derives
such as a straddle's premium), their past from the broker or the paper market's history, the
session's bars as they form, and indicators computed here with numpy (not in the page).

A chart asks for ``chart_bars`` (history joined with what the desk built this session) and then
``follow_bars`` for the forming bar; the listener is called on the loop at every update, so it
must only record (the UI coalesces to its frame).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from engine.api.options import OptionsService
from engine.api.parts import EngineParts, Service
from engine.api.straddle_history import straddle_history, straddle_key
from engine.domain.bars import Bar, SeriesKey, Timeframe
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import InstrumentType
from engine.domain.orders import Product
from engine.marketdata import indicators as ind

if TYPE_CHECKING:
    from engine.api.series import SessionSeries

log = logging.getLogger(__name__)

TIMEFRAMES = tuple(t.label for t in Timeframe)
HISTORY_DAYS = {"1m": 5, "3m": 10, "5m": 20, "15m": 45, "1h": 120, "1D": 1000}
"""How far back a chart opens, per timeframe (calendar days): a few thousand bars at most."""

_NS = 1_000_000_000
_DAY_NS = 86_400 * _NS
_IST_NS = 19_800 * _NS


@dataclass(frozen=True, slots=True)
class IndicatorLine:
    name: str
    """The indicator it belongs to ("Bollinger 20, 2")."""
    title: str
    """This line ("upper")."""
    pane: int
    """0: over the prices; 1: a pane of its own below (oscillators)."""
    values: np.ndarray
    """One value per bar (rupees, or the oscillator's own unit); NaN where none."""


class BarColumns:
    """A series' bars as numpy columns (rupees; the IST day of each), kept by a chart as its bars
    close and the forming one changes, so a frame's indicators do not read every ``Bar`` again."""

    def __init__(self, bars: Sequence[Bar] = ()) -> None:
        self.size = 0
        self._data = np.empty((6, max(64, 2 * len(bars))))
        for index, bar in enumerate(bars):
            self.put(index, bar)

    def put(self, index: int, bar: Bar) -> None:
        """Bar ``index`` is now ``bar`` (``index == size`` appends)."""
        if index > self.size:
            raise IndexError(f"bar {index} would leave a gap after {self.size} bars")
        if index == self.size:
            if self.size == self._data.shape[1]:
                self._data = np.concatenate([self._data, np.empty_like(self._data)], axis=1)
            self.size += 1
        self._data[:, index] = (
            bar.open / 100,
            bar.high / 100,
            bar.low / 100,
            bar.close / 100,
            bar.volume,
            (bar.start_ns + _IST_NS) // _DAY_NS,
        )

    def column(self, row: int) -> np.ndarray:
        return self._data[row, : self.size]

    def since(self, start: int) -> BarColumns:
        """The bars from ``start`` on, as a view (for reading: the indicators of a window)."""
        if not 0 <= start <= self.size:
            raise IndexError(f"bar {start} is outside the {self.size} bars")
        view = BarColumns()
        view._data = self._data[:, start : self.size]
        view.size = self.size - start
        return view

    @property
    def open(self) -> np.ndarray:
        return self.column(0)

    @property
    def high(self) -> np.ndarray:
        return self.column(1)

    @property
    def low(self) -> np.ndarray:
        return self.column(2)

    @property
    def close(self) -> np.ndarray:
        return self.column(3)

    @property
    def volume(self) -> np.ndarray:
        return self.column(4)

    @property
    def day(self) -> np.ndarray:
        return self.column(5)


Lines = list[tuple[str, int, np.ndarray]]


def _sma(bars: BarColumns, n: int) -> Lines:
    return [("", 0, ind.sma(bars.close, n))]


def _ema(bars: BarColumns, n: int) -> Lines:
    return [("", 0, ind.ema(bars.close, n))]


def _vwap(bars: BarColumns) -> Lines:
    return [("", 0, ind.vwap(bars.high, bars.low, bars.close, bars.volume, bars.day))]


def _bollinger(bars: BarColumns, n: int, k: float) -> Lines:
    mid, upper, lower = ind.bollinger(bars.close, n, k)
    return [("mid", 0, mid), ("upper", 0, upper), ("lower", 0, lower)]


def _supertrend(bars: BarColumns, n: int, mult: float) -> Lines:
    line, direction = ind.supertrend(bars.high, bars.low, bars.close, n, mult)
    return supertrend_lines(line, direction)


def supertrend_lines(line: np.ndarray, direction: np.ndarray) -> Lines:
    """SuperTrend drawn as two lines: under the price in an uptrend, over it in a downtrend."""
    up = np.where(direction > 0, line, np.nan)
    down = np.where(direction < 0, line, np.nan)
    return [("up", 0, up), ("down", 0, down)]


def _rsi(bars: BarColumns, n: int) -> Lines:
    return [("", 1, ind.rsi(bars.close, n))]


CHART_INDICATORS: dict[str, Callable[[BarColumns], Lines]] = {
    "SMA 20": lambda bars: _sma(bars, 20),
    "SMA 50": lambda bars: _sma(bars, 50),
    "EMA 9": lambda bars: _ema(bars, 9),
    "EMA 21": lambda bars: _ema(bars, 21),
    "VWAP": _vwap,
    "Bollinger 20, 2": lambda bars: _bollinger(bars, 20, 2.0),
    "SuperTrend 10, 3": lambda bars: _supertrend(bars, 10, 3.0),
    "RSI 14": lambda bars: _rsi(bars, 14),
}
"""The indicators a chart offers, by the name the trader picks."""


@dataclass(frozen=True, slots=True)
class ChartTarget:
    """Something a chart can show."""

    key: SeriesKey
    title: str
    kind: str
    """"instrument", "straddle", "portfolio" or "iv"."""
    token: int | None = None
    """The instrument traded from the chart (order lines, right-click); None for derived
    series."""
    tick: int = 5
    """The price step in paise (order lines snap to it)."""
    unit: str = "₹"
    traded_volume: bool = False
    """Whether the series has a volume to show (an index or a derived value has none)."""


class ChartService(Service):
    def __init__(self, parts: EngineParts, options: OptionsService) -> None:
        super().__init__(parts)
        self._options = options
        self._candles = parts.candles
        self._history = parts.history
        self.series: SessionSeries | None = None
        """The option series the desk samples (straddles, portfolios, IVs); set by the runtime
        once the facade it samples through exists."""
        self._now = parts.now

    def chart_positions(self, token: int) -> list[tuple[Product, int, Decimal]]:
        """What is held of one instrument, per product: (product, net quantity, average price
        in rupees), open positions only; a chart draws its average-price lines from these
        without a snapshot of every position."""
        held = []
        for product in Product:
            position = self._positions.get(InstrumentToken(token), product)
            if position is not None and position.net_quantity:
                held.append((product, position.net_quantity, position.average_price))
        return held

    # -- what can be charted ------------------------------------------------------------------------

    def chart_target(self, key: SeriesKey) -> ChartTarget | None:
        """The instrument or derived series a key names, or None."""
        if isinstance(key, int):
            instrument = self.instruments.find(key)
            if instrument is None:
                return None
            return ChartTarget(
                key,
                instrument.tradingsymbol,
                "instrument",
                int(key),
                int(instrument.tick_size),
                traded_volume=instrument.instrument_type is not InstrumentType.INDEX,
            )
        for choice in self.chart_choices():
            if choice.key == key:
                return choice
        return None

    def chart_choices(self) -> list[ChartTarget]:
        """The derived series the desk keeps now (straddles, portfolios, followed IVs)."""
        if self.series is None:
            return []
        return [
            ChartTarget(c.key, c.title, c.kind, unit="%" if c.kind == "iv" else "₹")
            for c in self.series.keys()  # noqa: SIM118 (the series' choices, not a dict)
        ]

    def follow_iv(self, token: int) -> Callable[[], None]:
        """Keep an option's implied volatility as a series (``iv:<token>``) from now on."""
        if self.series is None:
            return _nothing
        return self.series.follow_iv(token)

    # -- bars ----------------------------------------------------------------------------------------

    async def chart_bars(self, key: SeriesKey, timeframe: Timeframe | str) -> list[Bar]:
        """The series' bars oldest first: the source's history (broker or paper market) joined
        with the bars this desk built this session, which win where both have a bar. A past
        that cannot be had is logged and left out: the session's bars still come."""
        try:
            past = await self.chart_history(key, timeframe)
        except Exception as exc:
            log.warning("history of %s (%s) not loaded: %s", key, timeframe, exc)
            past = []
        return join_bars(past, self.session_bars(key, timeframe))

    async def chart_history(self, key: SeriesKey, timeframe: Timeframe | str) -> list[Bar]:
        """The series' past from its source (the broker's history, or the paper market's),
        oldest first; nothing for a derived series. Raises what the source raised."""
        tf = _timeframe(timeframe)
        if self._history is None:
            return []
        end = self._now()
        start = end - timedelta(days=HISTORY_DAYS[tf.label])
        if isinstance(key, int):
            return await self._history.candles(key, tf, start, end)
        chain = straddle_key(key)
        spot = None if chain is None else self.instruments.spot_tokens().get(chain[0])
        if chain is None or spot is None:
            return []  # a portfolio's or an IV's series has no past before the desk kept it
        try:
            layout = self._options.chain_layout(*chain)
        except LookupError:
            return []  # an expired chain
        return await straddle_history(self._history, key, layout, int(spot), tf, start, end)

    def session_bars(self, key: SeriesKey, timeframe: Timeframe | str) -> list[Bar]:
        """The bars this desk built this session, oldest first (the forming one last)."""
        return [] if self._candles is None else self._candles.bars(key, _timeframe(timeframe))

    def follow_bars(
        self, key: SeriesKey, timeframe: Timeframe | str, listener: Callable[[Bar], None]
    ) -> Callable[[], None]:
        """Build this series' bars from now on and call ``listener`` with the forming bar at each
        update (on the loop: record, do not draw). Returns the unfollow."""
        if self._candles is None:
            return _nothing
        tf = _timeframe(timeframe)
        unfollow = self._candles.follow(key, tf)
        unlisten = self._candles.listen(key, tf, listener)
        if isinstance(key, int) and self._parts.watcher is not None:
            self._parts.watcher([key], True)

        def stop() -> None:
            unlisten()
            unfollow()

        return stop

    # -- indicators ----------------------------------------------------------------------------------

    @staticmethod
    def chart_indicators(
        bars: Sequence[Bar] | BarColumns, names: Sequence[str]
    ) -> list[IndicatorLine]:
        """The named indicators over these bars (or a chart's columns of them), one value per
        bar (NaN in the warm-up)."""
        columns = bars if isinstance(bars, BarColumns) else BarColumns(bars)
        lines: list[IndicatorLine] = []
        for name in names:
            compute = CHART_INDICATORS.get(name)
            if compute is None:
                raise ValueError(f"no indicator {name!r}; there are {', '.join(CHART_INDICATORS)}")
            if not columns.size:
                continue
            for title, pane, values in compute(columns):
                lines.append(IndicatorLine(name, title, pane, values))
        return lines

    @staticmethod
    def heikin_ashi(
        bars: Sequence[Bar], columns: BarColumns | None = None, since: int = 0
    ) -> list[Bar]:
        """The Heikin-Ashi candles of ``bars[since:]`` (paise, rounded to the paisa); ``columns``,
        the same bars as a chart keeps them, saves reading them again.

        Each candle is computed over every bar before it, so it is the one a computation over
        all the bars gives, and a candle depends only on the bars up to its own: a chart whose
        last bars changed asks from the first of them and keeps the candles before."""
        if not bars or since >= len(bars):
            return []
        columns = columns or BarColumns(bars)
        ho, hh, hl, hc = ind.heikin_ashi(columns.open, columns.high, columns.low, columns.close)
        start = max(0, since)
        # One list per column (Python floats, then rounded): a chart asks at every frame.
        opens = [round(v) for v in (ho[start:] * 100).tolist()]
        highs = [round(v) for v in (hh[start:] * 100).tolist()]
        lows = [round(v) for v in (hl[start:] * 100).tolist()]
        closes = [round(v) for v in (hc[start:] * 100).tolist()]
        return [
            Bar(b.key, b.start_ns, opens[i], highs[i], lows[i], closes[i], b.volume, b.oi, b.ticks)
            for i, b in enumerate(bars[start:])
        ]


def join_bars(past: Sequence[Bar], session: Sequence[Bar]) -> list[Bar]:
    """History followed by the session's bars. The bar both have (the one forming when the desk
    began to build) is one bar: the history's open, the wider range, the session's close, and
    the volume of both."""
    if not session:
        return list(past)
    first = session[0].start_ns
    out = [b for b in past if b.start_ns < first]
    overlap = next((b for b in past if b.start_ns == first), None)
    head = session[0]
    out.append(head if overlap is None else join_bar(overlap, head))
    out.extend(session[1:])
    return out


def join_bar(past: Bar, session: Bar) -> Bar:
    """One bar from history's copy of a moment and the part the desk built itself: the history's
    open, the wider range, the session's close, the volume of both."""
    return Bar(
        session.key,
        session.start_ns,
        past.open,
        max(past.high, session.high),
        min(past.low, session.low),
        session.close,
        past.volume + session.volume,
        session.oi,
        past.ticks + session.ticks,
    )


def _timeframe(timeframe: Timeframe | str) -> Timeframe:
    return timeframe if isinstance(timeframe, Timeframe) else Timeframe.of(timeframe)


def _nothing() -> None:
    return None
