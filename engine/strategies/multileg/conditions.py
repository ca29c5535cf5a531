"""What a portfolio's Range breakout and Extra conditions pages do while it runs: when it may
enter (a breakout, the net premium's wait and trade, an underlying level, an indicator, the
rolling straddle, the days to expiry), which of its legs wait (for their side of the breakout,
their own wait and trade) and when they are forced in, and what exits it (the range's other
side, an underlying level).

A portfolio that uses none of this has no ``PortfolioConditions`` at all (``uses_conditions``):
its ticks pay one ``is None``. One that does pays a few dict lookups a tick.

Across a restart: the ranges measured, the sides that fired, the legs they released, the wait
and trade references and what has already held are saved with the portfolio (``snapshot``)
before anything is sent for them, so a breakout that fired never fires again and an entry it
decided is never lost (the legs' own states and the order book say what was sent).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.domain.instruments import InstrumentType
from engine.domain.ticks import Tick
from engine.strategies.multileg import breakout as rb
from engine.strategies.multileg.candle_rules import (
    TIMEFRAMES,
    Candles,
    indicator_holds,
    indicator_text,
    level_holds,
    level_text,
)
from engine.strategies.multileg.conditions_spec import (
    BreakoutCheck,
    Direction,
    IndicatorCondition,
    LevelCheck,
    LevelSource,
    RangeOn,
)
from engine.strategies.multileg.legrun import ENTRY, LegRun
from engine.strategies.multileg.status import LegState

if TYPE_CHECKING:
    pass


from engine.strategies.multileg.breakout_run import BreakoutRun
from engine.strategies.multileg.conditions_base import (
    _SOURCE_KEY,
    MINUTE,
    E,
    P,
    _rupees,
    trading_days_between,
)
from engine.strategies.multileg.leg_waits import LegWaits


class PortfolioConditions(BreakoutRun, LegWaits):
    """The running side of ``conditions_spec`` for one portfolio (this module's docstring)."""

    # -- the portfolio's hooks ---------------------------------------------------------------

    def day_problem(self) -> str | None:
        """Why today is not a day to enter (days to expiry), or None."""
        low, high = self.extra.dte_at_least, self.extra.dte_at_most
        if low is None and high is None:
            return None
        today = self.p.ctx.now().date()
        if self._dte_day == today:
            return self._dte_problem  # asked every second while it waits: once a day
        self._dte_day = today
        self._dte_problem = self._dte_refusal(today, low, high)
        return self._dte_problem

    def _dte_refusal(self, today: date, low: int | None, high: int | None) -> str | None:
        expiry = self._nearest_expiry(today)
        if expiry is None:
            return f"no listed expiry of {self.p.spec.defaults.underlying} to count days to"
        days = trading_days_between(today, expiry)
        if (low is not None and days < low) or (high is not None and days > high):
            bounds = " and ".join(
                text
                for text in (
                    None if low is None else f"at least {low}",
                    None if high is None else f"at most {high}",
                )
                if text
            )
            return f"{days} trading days to expiry ({expiry:%d %b}); it enters with {bounds}"
        return None

    def may_enter(self, now: int) -> bool:
        """Whether a monitoring portfolio may enter now (its legs wait on their own)."""
        p = self.p
        self._setup()
        rule = self.rule
        if rule is not None and not any(self.fired.values()):
            end = self._entry_end_ns(now)
            if end is not None and now >= end:
                p._step(E.WINDOW_CLOSES, f"no breakout before {self._entry_end():%H:%M}")
                p._finish()
                return False
        needs_legs = (
            rule is not None and rule.on is not RangeOn.UNDERLYING
        ) or self._needs_combined
        resolved = needs_legs and any(leg.token for leg in p.legs if not leg.spec.idle)
        if needs_legs and not resolved and not p._resolve(now):
            return False
        extra = self.extra
        if extra.combined_wait is not None and not self.combined_done:
            if self.combined_ref is None:
                premium = p._live_premium()
                if premium is not None:
                    self.combined_ref = premium
                    p._say(
                        f"{p.spec.name}: waits for its net premium to move "
                        f"{self._move_text(extra.combined_wait.move, extra.combined_wait.percent)} "
                        f"{extra.combined_wait.direction.value} from ₹{_rupees(premium)}"
                    )
                    p.ctx.save()
            return False
        if extra.underlying_entry is not None and not self.level_hit:
            return False
        if extra.indicator is not None and not self.indicator_hit:
            return False
        if extra.rolling_straddle is not None and not self.straddle_done:
            self._rolling_straddle()
            if not self.straddle_done:
                return False
        if rule is not None:
            return any(
                not self._held_by_breakout(leg) for leg in p.legs if leg.state is LegState.WAITING
            )
        return True

    def entered(self, leg: LegRun) -> None:
        """``leg`` has filled its entry (before the portfolio saves it)."""
        if not self.first_fill_ns:
            self.first_fill_ns = self.p.ctx.time_ns()
        rule = self.rule
        if rule is None or not rule.opposite_sl or rule.on is not RangeOn.LEGS:
            return
        edges = self.ranges.get(f"L{leg.n}")
        if edges is None or leg.n not in self.released:
            return
        if leg.sign > 0:
            stop = Decimal(edges.low)
            leg.stop = stop if leg.stop is None else max(leg.stop, stop)
        else:
            stop = Decimal(edges.high)
            leg.stop = stop if leg.stop is None else min(leg.stop, stop)
        leg.base_stop = leg.stop
        leg.remark = (
            f"entered on its range breakout; stop at the range's other side {_rupees(stop)}"
        )

    def on_tick(self, tick: Tick, now: int) -> None:
        if now >= self._next_minute_ns:
            self._roll(now)
        p = self.p
        token = tick.token
        price = tick.ltp
        if token == p.underlying_token:
            self._seen("u", price, tick.volume, now)
            if self._needs_synthetic:
                synthetic = self._synthetic()
                if synthetic is not None:
                    self._seen("s", synthetic, 0, now)
            return
        if token == self._future_token and token:
            self._seen("f", price, tick.volume, now)
        legs = p._by_token.get(token)
        if legs is not None:
            for leg in legs:
                self._seen(self._leg_keys[leg.n], price, 0, now)
            if self._needs_combined:
                premium = p._live_premium()
                if premium is not None:
                    self._seen("c", premium, 0, now)

    def on_clock(self, now: int) -> None:
        self._setup()
        if now >= self._next_minute_ns:
            self._roll(now)
        p = self.p
        if p.status in (P.UNDER_EXECUTION, P.STARTED):
            self._force_waiting(now)
            self._close_windows(now)

    def snapshot(self) -> dict[str, Any]:
        return {
            "ranges": rb.snapshot_ranges(self.ranges),
            "fired": self.fired,
            "released": {str(n): why for n, why in self.released.items()},
            "wait_ref": {str(n): ref for n, ref in self.wait_ref.items()},
            "wait_done": sorted(self.wait_done),
            "first_fill_ns": self.first_fill_ns,
            "combined_ref": self.combined_ref,
            "combined_done": self.combined_done,
            "level_hit": self.level_hit,
            "indicator_hit": self.indicator_hit,
            "straddle_ref": self.straddle_ref,
            "straddle_done": self.straddle_done,
        }

    def restore(self, saved: dict[str, Any] | None) -> None:
        if not saved:
            return
        self.ranges = rb.restore_ranges(saved["ranges"])
        self.fired = {key: list(sides) for key, sides in saved["fired"].items()}
        self.released = {int(n): str(why) for n, why in saved["released"].items()}
        self.wait_ref = {int(n): int(ref) for n, ref in saved["wait_ref"].items()}
        self.wait_done = {int(n) for n in saved["wait_done"]}
        self.first_fill_ns = int(saved["first_fill_ns"])
        self.combined_ref = saved["combined_ref"]
        self.combined_done = bool(saved["combined_done"])
        self.level_hit = bool(saved["level_hit"])
        self.indicator_hit = bool(saved["indicator_hit"])
        self.straddle_ref = saved["straddle_ref"]
        self.straddle_done = bool(saved["straddle_done"])

    def resumed(self) -> None:
        """After a restart: a leg sent after the portfolio had entered (its breakout side, its
        wait) is topped up to its quantity, never sent twice (``_top_up`` counts the book)."""
        p = self.p
        if p.status is not P.STARTED:
            return
        for leg in p.legs:
            if leg.state is LegState.ENTERING:
                p._top_up(leg, ENTRY)

    # -- prices ------------------------------------------------------------------------------

    def _seen(self, key: str, price: int, volume: int, now: int) -> None:
        # The tick path of every portfolio using these pages: plain comparisons, no calls
        # unless something is due.
        self._last[key] = price
        if key in self._range_keys:
            if now >= self._windows_until:
                self._windows(now)
            start, end, _entry_end = self._windows_ns
            if start <= now < end:
                edges = self.ranges.get(key)
                if edges is None:
                    edges = self.ranges[key] = rb.PriceRange()
                if not edges.count:
                    edges.high = edges.low = price
                    edges.count = 1
                    self._range_moved = True
                elif price > edges.high:
                    edges.high = price
                    self._range_moved = True
                elif price < edges.low:
                    edges.low = price
                    self._range_moved = True
            elif now >= end and self._tick_breakout:
                self._breakout(key, price, now)
                self._opposite_stop(key, price, now)
        candles = self._candles
        if candles is not None and key == self._candle_key:
            candles.add(price, volume, now)
        if key == "c":
            if self.extra.combined_wait is not None:
                self._combined_wait(price, now)
        elif self.wait_legs and key[0] == "L":
            self._leg_wait(int(key[1:]), price, now)
        if key == self._tick_entry_key:
            self._level_entry(price, now)
        if key == self._tick_exit_key:
            above, below = self._exit_bounds
            if not below < price < above:
                self._level_exit(price, now)

    def _roll(self, now: int) -> None:
        """The minute (and candles) the clock has just closed, read at their last price."""
        closed_minute = self._next_minute_ns - MINUTE
        self._next_minute_ns = (now // MINUTE + 1) * MINUTE
        p = self.p
        rule = self.rule
        if rule is not None and closed_minute > 0:
            start, end, _entry_end = self._windows(now)
            ended = closed_minute + MINUTE
            if start < ended and closed_minute < end and self._range_moved:
                self._range_moved = False
                p.ctx.save()  # what is measured so far survives a restart
            if closed_minute < end <= ended and self.ranges:
                p._say(f"{p.spec.name}: range measured — {self._ranges_text()}")
            if rule.check is BreakoutCheck.MINUTE_CLOSE and closed_minute >= end:
                for key in sorted(self._range_keys):
                    last = self._last.get(key)
                    if last is not None:
                        self._breakout(key, last, now)
                        self._opposite_stop(key, last, now)
        # A level read at a candle's close reads the last price before the candle's end.
        ended = closed_minute + MINUTE
        for name, (frame, key) in self._level_closes.items():
            close = self._last.get(key)
            if closed_minute <= 0 or close is None or frame.start_of(ended) != ended:
                continue
            if name == "entry":
                self._level_entry(close, now)
            else:
                self._level_exit(close, now)
        candles = self._candles
        if candles is not None and candles.close_due(now):
            self._indicator(candles, now)

    def _level_entry(self, price: int, now: int) -> None:
        level = self.extra.underlying_entry
        p = self.p
        if level is None or self.level_hit or p.status is not P.MONITORING:
            return
        if not level_holds(level, price):
            return
        self.level_hit = True
        p._say(f"{p.spec.name}: {level_text(level, price)}: entering")
        p.ctx.save()
        p._monitoring(now)

    def _level_exit(self, price: int, now: int) -> None:
        level = self.extra.underlying_exit
        p = self.p
        above, below = self._exit_bounds
        if level is None or (below < price < above):
            return
        if p.status in (P.UNDER_EXECUTION, P.STARTED):
            p._exit_all(level_text(level, price), now)

    def _indicator(self, candles: Candles, now: int) -> None:
        rule = self.extra.indicator
        p = self.p
        if rule is None or self.indicator_hit or p.status is not P.MONITORING:
            return
        if not indicator_holds(rule, candles):
            return
        self.indicator_hit = True
        p._say(f"{p.spec.name}: {indicator_text(rule)} at a {rule.timeframe.value} close: entering")
        p.ctx.save()
        p._monitoring(now)

    def _rolling_straddle(self) -> None:
        rule = self.extra.rolling_straddle
        p = self.p
        if rule is None:
            return
        value = self._straddle()
        if value is None:
            return
        if self.straddle_ref is None:
            self.straddle_ref = value
            p._say(f"{p.spec.name}: rolling ATM straddle starts at ₹{_rupees(value)}")
            p.ctx.save()
            return
        ref = self.straddle_ref
        amount = abs(ref) * rule.move_pct / 100
        if (value >= ref + amount) if rule.direction is Direction.UP else (value <= ref - amount):
            self.straddle_done = True
            p._say(
                f"{p.spec.name}: rolling ATM straddle moved {rule.direction.value} to "
                f"₹{_rupees(value)} from ₹{_rupees(ref)}: entering"
            )
            p.ctx.save()

    def _setup(self) -> None:
        """Once: candles for the rules read at a close, the future's token, the ATM table."""
        if self._ready:
            return
        self._ready = True
        p = self.p
        extra = self.extra
        for name, rule in (
            ("entry", extra.underlying_entry),
            ("exit", extra.underlying_exit),
            ("indicator", extra.indicator),
        ):
            if rule is None:
                continue
            if isinstance(rule, IndicatorCondition):
                self._candles = Candles(TIMEFRAMES[rule.timeframe])
                self._candle_key = _SOURCE_KEY[rule.source]
            elif rule.check is not LevelCheck.TICK:
                self._level_closes[name] = (TIMEFRAMES[rule.check], _SOURCE_KEY[rule.source])
        sources = {
            rule.source
            for rule in (extra.underlying_entry, extra.underlying_exit, extra.indicator)
            if rule is not None
        }
        if LevelSource.FUTURE in sources:
            futures = p.ctx.api.instruments.search(
                underlying=p.spec.defaults.underlying, instrument_type=InstrumentType.FUT, limit=50
            )
            if futures:
                nearest = min(futures, key=lambda f: f.expiry or date.max)
                self._future_token = int(nearest.token)
                p.ctx.watch([self._future_token])


__all__ = ["PortfolioConditions", "trading_days_between"]
