"""Circuit breakers: they watch the day and trip the trading state when a limit is crossed.

- daily loss: the day's MTM after charges falls to −``daily_loss_limit``;
- profit lock: once the MTM reached ``profit_lock_at``, it falls back to ``profit_lock_keep``;
- drawdown: the MTM falls ``max_drawdown_from_peak`` below the day's peak;
- underlying move: an underlying the desk holds (or has orders in) moves more than
  ``underlying_move_pct`` between its high and low of the last ``underlying_move_minutes``;
- rejections: ``max_rejections`` broker rejections within ``rejection_window_seconds``.

The MTM is re-evaluated on every tick of an instrument the desk holds and on every fill, so a
loss limit is seen on the first tick that crosses it: what is lost beyond the limit is at most
that one tick's move. Each breaker trips once and stays latched until the trader re-arms (or the
day changes); ``trip`` is the risk manager's, which journals and acts.

A tick costs integer arithmetic only. Each held instrument's share of the MTM is linear in its
price (``_Form``: paise = a + b × ltp, rebuilt when the position book changes or its previous
close does), and the P&L breakers leave a band of total paise inside which nothing can trip and the
day's peak cannot rise (``_band``, worked out exactly from the Decimal limits and charges after
each full evaluation). A tick inside the band moves the total and is done; one outside it, a
fill, a new day, a re-arm or a change of limits goes through the full evaluation in Decimal.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from engine.core.clock import Clock, ist_date_of, ist_today, next_ist_midnight_ns
from engine.domain.events import OrderFilled, OrderStatusChanged, TradingState
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import OrderStatus, Product
from engine.domain.positions import PositionBook
from engine.domain.ticks import Tick
from engine.domain.values import ZERO, to_rupees
from engine.marketdata.quotes import QuoteCache, previous_close
from engine.oms.exposure import Exposure
from engine.risk.limits import RiskLimits

Trip = Callable[[str, str, TradingState, bool, Decimal | None], None]
"""(breaker, reason, action, square off, measured value)."""

_NS = 1_000_000_000
_PAISA = Decimal("0.01")


_PRODUCTS = tuple(Product)
"""Iterating the enum itself costs more than the rest of a tick's P&L update."""


_NO_LIMIT = -(10**30)
"""A lower edge no total of paise reaches: no P&L breaker armed."""


class _Form(NamedTuple):
    """One instrument's paise of the day's P&L as a function of its last price."""

    close: int
    """The quote's close it was built with, which a tick with another one rebuilds it from;
    -1 (no tick's) when a quote from an earlier day made its last price the previous close
    (``quotes.previous_close``), so the instrument's next tick rebuilds it."""
    version: int
    """The position book's version it was built from."""
    fixed: int
    per_paisa: int
    """With a price: fixed + per_paisa × ltp."""
    unpriced: int
    """Without a price yet: today's closed trades at their own prices."""


class _MovingRange:
    """High and low of a price over a trailing window (monotonic deques: O(1) amortised)."""

    __slots__ = ("breaker", "highs", "lows", "underlying")

    def __init__(self, underlying: str) -> None:
        self.underlying = underlying
        self.breaker = f"underlying_move:{underlying}"
        self.highs: deque[tuple[int, int]] = deque()
        self.lows: deque[tuple[int, int]] = deque()

    def add(self, ts_ns: int, price: int, window_ns: int, scale: int, pct: int) -> bool:
        """Take a price; True when (high − low) / low × 100 over the window now exceeds the
        limit's percentage ``pct / scale × 100`` (in whole numbers: ``scale`` is 100 × the
        ratio's denominator)."""
        entry = (ts_ns, price)
        highs = self.highs
        while highs and highs[-1][1] <= price:
            highs.pop()
        highs.append(entry)
        lows = self.lows
        while lows and lows[-1][1] >= price:
            lows.pop()
        lows.append(entry)
        start = ts_ns - window_ns
        while highs[0][0] < start:
            highs.popleft()
        while lows[0][0] < start:
            lows.popleft()
        low = lows[0][1]
        return (highs[0][1] - low) * scale > low * pct

    def extremes(self) -> tuple[int, int]:
        """The window's low and high as of the last price taken."""
        return self.lows[0][1], self.highs[0][1]


class CircuitBreakers:
    def __init__(
        self,
        *,
        limits: Callable[[], RiskLimits],
        positions: PositionBook,
        quotes: QuoteCache,
        clock: Clock,
        exposure: Exposure,
        instruments: Iterable[Instrument],
        trip: Trip,
    ) -> None:
        self._limits = limits
        self._positions = positions
        self._quotes = quotes
        self._clock = clock
        self._exposure = exposure
        self._trip = trip
        self._spot_of: dict[int, str] = {
            i.token: i.underlying
            for i in instruments
            if i.instrument_type in (InstrumentType.INDEX, InstrumentType.EQ)
        }
        self._ranges: dict[str, _MovingRange] = {}
        self._range_of: dict[int, _MovingRange] = {}
        self._rejections: deque[int] = deque()
        self._day: date | None = None
        self.charges_today = ZERO
        self.peak = ZERO
        self.tripped: set[str] = set()
        self._held: set[int] = set()
        self.ticked: set[int] = set(self._spot_of)
        """Spots and held instruments, kept current: the ticks ``on_tick`` needs."""
        self._contributions: dict[int, int] = {}
        self._contribution_total = 0
        self._forms: dict[int, _Form] = {}
        self._today = ist_today(clock)
        # The band of total paise a tick may move within without a full evaluation; empty
        # until the first one, and again whenever what it was worked out from changes.
        self._band_low = 0
        self._band_high = _NO_LIMIT
        self._band_until_ns = 0
        self._band_limits: RiskLimits | None = None
        # The underlying-move limit as integers, for the limits object it was read from.
        self._move_limits: RiskLimits | None = None
        self._move_window_ns = 0
        self._move_pct = 0
        """The limit's percentage as the numerator of a whole ratio ..."""
        self._move_scale = 0
        """... over ``_move_scale``, 100 × its denominator (0: no limit; ``_MovingRange.add``)."""

    @property
    def mtm(self) -> Decimal:
        """The day's MTM after charges as of the last tick or fill of a held instrument."""
        return to_rupees(self._contribution_total) - self.charges_today

    # -- inputs ------------------------------------------------------------------------------------

    def start(self, fills: Iterable[OrderFilled]) -> None:
        """Count today's charges from fills already booked (after a restart)."""
        self._roll_day()
        today = self._day
        for fill in fills:
            if fill.charges is not None and _ist_date(fill.ts_ns) == today:
                self.charges_today += fill.charges.total
            self._hold(fill.token)
        self._forms.clear()
        self.peak = max(self.peak, self.day_mtm())
        self._band_until_ns = 0

    def on_tick(self, tick: Tick) -> None:
        token = tick.token
        limits = self._limits()
        now = self._clock.time_ns()
        moving = self._range_of.get(token)
        if moving is None and token in self._spot_of:
            moving = self._range_for(token)
        ltp = tick.ltp
        if moving is not None and ltp > 0:
            if limits is not self._move_limits:
                self._read_move_limits(limits)
            if self._move_scale and moving.add(
                now, ltp, self._move_window_ns, self._move_scale, self._move_pct
            ):
                self._moved(moving, limits)
        if token not in self._held:
            return
        # Only the ticking instrument changed: move the total by its difference (O(1), not a
        # walk over every position on every tick).
        form = self._forms.get(token)
        if form is None or form.close != tick.close or form.version != self._positions.version:
            form = self._form(token)
        new = form.fixed + form.per_paisa * ltp if ltp > 0 else form.unpriced
        old = self._contributions.get(token, 0)
        if new != old:
            self._contributions[token] = new
            self._contribution_total += new - old
        total = self._contribution_total
        if (
            self._band_low < total <= self._band_high
            and now < self._band_until_ns
            and limits is self._band_limits
        ):
            return  # nothing can trip and the peak stands
        self._evaluate(token)

    def on_fill(self, fill: OrderFilled) -> None:
        self._roll_day()
        if fill.charges is not None:
            self.charges_today += fill.charges.total
        self._hold(fill.token)
        self._evaluate()

    def _hold(self, token: int) -> None:
        self._held.add(token)
        self.ticked.add(token)

    def on_status(self, change: OrderStatusChanged) -> None:
        if change.status is not OrderStatus.REJECTED:
            return
        limits = self._limits()
        if limits.max_rejections is None or "rejections" in self.tripped:
            return
        now = self._clock.time_ns()
        window = int(limits.rejection_window_seconds * _NS)
        rejections = self._rejections
        rejections.append(now)
        while rejections and rejections[0] < now - window:
            rejections.popleft()
        if len(rejections) >= limits.max_rejections:
            self._fire(
                "rejections",
                f"{len(rejections)} orders rejected by the broker within "
                f"{limits.rejection_window_seconds:g} s (limit {limits.max_rejections}); last: "
                f"{change.message or 'no reason given'}",
                limits.breaker_action,
                limits.square_off_on_breaker,
                Decimal(len(rejections)),
            )

    def rearm(self) -> None:
        self.tripped.clear()
        self._rejections.clear()
        self._band_until_ns = 0

    # -- the day's P&L -----------------------------------------------------------------------------

    def day_mtm(self) -> Decimal:
        """The day's P&L after charges: overnight positions from the previous close, today's
        trades from their prices, every open quantity at the last price. Read on a new day
        before any held instrument ticked (what is held expired, or has not traded yet), it
        starts that day first: yesterday's charges are not today's loss."""
        self._roll_day()
        self._contributions = {token: self._contribution(token) for token in self._held}
        self._contribution_total = sum(self._contributions.values())
        return to_rupees(self._contribution_total) - self.charges_today

    def _contribution(self, token: int) -> int:
        """Paise one instrument adds to the day's P&L (all its products) at its last price."""
        tick = self._quotes.get(token)  # type: ignore[arg-type]
        form = self._form(token)
        if tick is None or tick.ltp <= 0:
            return form.unpriced
        return form.fixed + form.per_paisa * tick.ltp

    def _form(self, token: int) -> _Form:
        """The instrument's share of the P&L, linear in its price, at its previous close now."""
        tick = self._quotes.get(token)  # type: ignore[arg-type]
        close = 0 if tick is None else previous_close(tick, self._positions.today)
        fixed = per_paisa = unpriced = 0
        for product in _PRODUCTS:
            position = self._positions.get(token, product)  # type: ignore[arg-type]
            if position is None:
                continue
            day_open = position.day_buy_quantity - position.day_sell_quantity
            traded = position.day_sell_value - position.day_buy_value
            # No price yet: count today's trades at their own prices only.
            unpriced += traded if day_open == 0 else 0
            fixed += traded
            per_paisa += day_open
            carried = position.net_quantity - day_open
            if carried and close > 0:
                per_paisa += carried
                fixed -= carried * close
        version = self._positions.version
        key = close if tick is None or close == tick.close else -1
        form = self._forms[token] = _Form(key, version, fixed, per_paisa, unpriced)
        return form

    # -- internals ---------------------------------------------------------------------------------

    def _roll_day(self) -> bool:
        """A new IST day: the position book starts it too (before the housekeeping beat would),
        so its first tick is measured against the new day's figures, never yesterday's; whether
        the day's figures changed.

        Only a later day starts the breakers' day again (its charges, peak and trips): a clock
        set back a day and put right again must not give the day a second loss limit. The book
        follows the clock either way, keeping every fill of the day in its figures
        (``PositionBook.roll``)."""
        today = self._today()
        if today == self._day and today == self._positions.today:
            return False
        restated = self._positions.roll(today)
        if self._day is not None and today <= self._day:
            return restated
        self._day = today
        self.charges_today = ZERO
        self.peak = ZERO
        self.tripped.clear()
        self._rejections.clear()
        return True

    def _evaluate(self, ticked: int | None = None) -> None:
        """Check the P&L breakers; ``ticked`` is the one instrument whose price moved (its
        share of the total is current already, unless the day has just changed)."""
        if self._roll_day():
            ticked = None  # every position's day figures started again: all worked out anew
        limits = self._limits()
        mtm = self.day_mtm() if ticked is None else self.mtm
        if mtm > self.peak:
            self.peak = mtm
        self._check_pnl(limits, mtm)
        self._band(limits)

    def _band(self, limits: RiskLimits) -> None:
        """The totals of paise the next ticks may reach with no breaker tripping and the peak
        standing, from the limits, the day's charges and peak and what has tripped: a breaker
        trips at a total T when T / 100 − charges crosses its level, and T is whole paise."""
        charges, peak, tripped = self.charges_today, self.peak, self.tripped
        low = _NO_LIMIT
        if limits.daily_loss_limit is not None and "daily_loss" not in tripped:
            low = max(low, math.floor((charges - limits.daily_loss_limit) * 100))
        if (
            limits.profit_lock_at is not None
            and "profit_lock" not in tripped
            and peak >= limits.profit_lock_at
        ):
            low = max(low, math.floor((limits.profit_lock_keep + charges) * 100))
        if limits.max_drawdown_from_peak is not None and "drawdown" not in tripped:
            low = max(low, math.floor((peak - limits.max_drawdown_from_peak + charges) * 100))
        self._band_low = low
        self._band_high = math.floor((peak + charges) * 100)
        self._band_limits = limits
        self._band_until_ns = next_ist_midnight_ns(self._clock.time_ns())

    def _check_pnl(self, limits: RiskLimits, mtm: Decimal) -> None:
        tripped = self.tripped
        if (
            limits.daily_loss_limit is not None
            and "daily_loss" not in tripped
            and mtm <= -limits.daily_loss_limit
        ):
            self._fire(
                "daily_loss",
                f"daily loss limit: MTM after charges is ₹{mtm:,.2f}, at or below the limit of "
                f"−₹{limits.daily_loss_limit:,}",
                limits.daily_loss_action,
                limits.square_off_on_daily_loss,
                mtm.quantize(_PAISA),
            )
            return
        if (
            limits.profit_lock_at is not None
            and "profit_lock" not in tripped
            and self.peak >= limits.profit_lock_at
            and mtm <= limits.profit_lock_keep
        ):
            self._fire(
                "profit_lock",
                f"profit lock: MTM reached ₹{self.peak:,.2f} and fell back to ₹{mtm:,.2f} "
                f"(locked ₹{limits.profit_lock_keep:,})",
                limits.breaker_action,
                limits.square_off_on_breaker,
                mtm.quantize(_PAISA),
            )
            return
        if (
            limits.max_drawdown_from_peak is not None
            and "drawdown" not in tripped
            and self.peak - mtm >= limits.max_drawdown_from_peak
        ):
            self._fire(
                "drawdown",
                f"drawdown: MTM ₹{mtm:,.2f} is ₹{self.peak - mtm:,.2f} below the day's peak "
                f"₹{self.peak:,.2f} (limit ₹{limits.max_drawdown_from_peak:,})",
                limits.breaker_action,
                limits.square_off_on_breaker,
                (self.peak - mtm).quantize(_PAISA),
            )

    def _range_for(self, token: int) -> _MovingRange:
        underlying = self._spot_of[token]
        moving = self._ranges.get(underlying)
        if moving is None:
            moving = self._ranges[underlying] = _MovingRange(underlying)
        self._range_of[token] = moving
        return moving

    def _moved(self, moving: _MovingRange, limits: RiskLimits) -> None:
        """The underlying moved past the limit within the window: trip if the desk is in it."""
        name = moving.breaker
        underlying = moving.underlying
        if name in self.tripped or not self._exposed(underlying):
            return
        low, high = moving.extremes()
        move = Decimal((high - low) * 100) / Decimal(low)
        self._fire(
            name,
            f"{underlying} moved {move:.2f} % (from {to_rupees(low)} to {to_rupees(high)}) "
            f"within {limits.underlying_move_minutes} min; the limit is "
            f"{limits.underlying_move_pct} %",
            limits.breaker_action,
            limits.square_off_on_breaker,
            move.quantize(Decimal("0.01")),
        )

    def _read_move_limits(self, limits: RiskLimits) -> None:
        self._move_limits = limits
        self._move_window_ns = limits.underlying_move_minutes * 60 * _NS
        pct = limits.underlying_move_pct
        numerator, denominator = (0, 0) if pct is None else pct.as_integer_ratio()
        self._move_pct, self._move_scale = numerator, 100 * denominator

    def _exposed(self, underlying: str) -> bool:
        exposure = self._exposure
        return any(
            exposure.token_net.get(t, 0)
            or exposure.token_buys.get(t, 0)
            or exposure.token_sells.get(t, 0)
            for t in exposure.tokens_of(underlying)
        )

    def _fire(
        self, name: str, reason: str, action: TradingState, square_off: bool, value: Decimal
    ) -> None:
        self.tripped.add(name)
        self._trip(name, reason, action, square_off, value)

    def held_tokens(self) -> set[InstrumentToken]:
        return {InstrumentToken(t) for t in self._held}


def _ist_date(ns: int) -> date:
    return ist_date_of(ns).date()
