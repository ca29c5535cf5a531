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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal

from engine.core.clock import Clock, ist_date_of, ist_today
from engine.domain.events import OrderFilled, OrderStatusChanged, TradingState
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import OrderStatus, Product
from engine.domain.positions import PositionBook
from engine.domain.ticks import Tick
from engine.domain.values import ZERO, to_rupees
from engine.marketdata.quotes import QuoteCache
from engine.oms.exposure import Exposure
from engine.risk.limits import RiskLimits

Trip = Callable[[str, str, TradingState, bool, Decimal | None], None]
"""(breaker, reason, action, square off, measured value)."""

_NS = 1_000_000_000
_PAISA = Decimal("0.01")


_PRODUCTS = tuple(Product)
"""Iterating the enum itself costs more than the rest of a tick's P&L update."""


class _MovingRange:
    """High and low of a price over a trailing window (monotonic deques: O(1) amortised)."""

    __slots__ = ("highs", "lows")

    def __init__(self) -> None:
        self.highs: deque[tuple[int, int]] = deque()
        self.lows: deque[tuple[int, int]] = deque()

    def add(self, ts_ns: int, price: int, window_ns: int) -> tuple[int, int]:
        highs, lows = self.highs, self.lows
        while highs and highs[-1][1] <= price:
            highs.pop()
        highs.append((ts_ns, price))
        while lows and lows[-1][1] >= price:
            lows.pop()
        lows.append((ts_ns, price))
        start = ts_ns - window_ns
        while highs[0][0] < start:
            highs.popleft()
        while lows[0][0] < start:
            lows.popleft()
        return lows[0][1], highs[0][1]


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
        self._rejections: deque[int] = deque()
        self._day: date | None = None
        self.charges_today = ZERO
        self.peak = ZERO
        self.mtm = ZERO
        self.tripped: set[str] = set()
        self._held: set[int] = set()
        self.ticked: set[int] = set(self._spot_of)
        """Spots and held instruments, kept current: the ticks ``on_tick`` needs."""
        self._contributions: dict[int, int] = {}
        self._contribution_total = 0
        self._today = ist_today(clock)

    # -- inputs ------------------------------------------------------------------------------------

    def start(self, fills: Iterable[OrderFilled]) -> None:
        """Count today's charges from fills already booked (after a restart)."""
        self._roll_day()
        today = self._day
        for fill in fills:
            if fill.charges is not None and _ist_date(fill.ts_ns) == today:
                self.charges_today += fill.charges.total
            self._hold(fill.token)
        self.mtm = self.day_mtm()
        self.peak = max(self.peak, self.mtm)

    def on_tick(self, tick: Tick) -> None:
        token = tick.token
        underlying = self._spot_of.get(token)
        if underlying is not None:
            self._check_move(underlying, tick.ltp)
        if token in self._held:
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

    # -- the day's P&L -----------------------------------------------------------------------------

    def day_mtm(self) -> Decimal:
        """The day's P&L after charges: overnight positions from the previous close, today's
        trades from their prices, every open quantity at the last price."""
        self._contributions = {token: self._contribution(token) for token in self._held}
        self._contribution_total = sum(self._contributions.values())
        return to_rupees(self._contribution_total) - self.charges_today

    def _contribution(self, token: int) -> int:
        """Paise one instrument adds to the day's P&L (all its products) at its last price."""
        paise = 0
        tick = self._quotes.get(token)  # type: ignore[arg-type]
        ltp = None if tick is None or tick.ltp <= 0 else tick.ltp
        for product in _PRODUCTS:
            position = self._positions.get(token, product)  # type: ignore[arg-type]
            if position is None:
                continue
            day_open = position.day_buy_quantity - position.day_sell_quantity
            traded = position.day_sell_value - position.day_buy_value
            if ltp is None:
                # No price yet: count today's trades at their own prices only.
                paise += traded if day_open == 0 else 0
                continue
            paise += traded + day_open * ltp
            carried = position.net_quantity - day_open
            if carried and tick is not None and tick.close > 0:
                paise += carried * (ltp - tick.close)
        return paise

    def _mtm_after_tick(self, token: int) -> Decimal:
        """Only the ticking instrument changed: move the total by its difference (O(1), not a
        walk over every position on every tick)."""
        new = self._contribution(token)
        old = self._contributions.get(token, 0)
        if new != old:
            self._contributions[token] = new
            self._contribution_total += new - old
        return to_rupees(self._contribution_total) - self.charges_today

    # -- internals ---------------------------------------------------------------------------------

    def _roll_day(self) -> None:
        today = self._today()
        if today != self._day:
            self._day = today
            self.charges_today = ZERO
            self.peak = ZERO
            self.tripped.clear()
            self._rejections.clear()

    def _evaluate(self, ticked: int | None = None) -> None:
        """Check the P&L breakers; ``ticked`` is the one instrument whose price moved."""
        self._roll_day()
        limits = self._limits()
        mtm = self.mtm = self.day_mtm() if ticked is None else self._mtm_after_tick(ticked)
        if mtm > self.peak:
            self.peak = mtm
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

    def _check_move(self, underlying: str, price: int) -> None:
        if price <= 0:
            return
        limits = self._limits()
        if limits.underlying_move_pct is None:
            return
        now = self._clock.time_ns()
        window = limits.underlying_move_minutes * 60 * _NS
        moving = self._ranges.get(underlying)
        if moving is None:
            moving = self._ranges[underlying] = _MovingRange()
        low, high = moving.add(now, price, window)
        name = f"underlying_move:{underlying}"
        if name in self.tripped or (high - low) * 100 <= low * limits.underlying_move_pct:
            return
        if not self._exposed(underlying):
            return
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
