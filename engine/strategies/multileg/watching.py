"""What a started multileg portfolio watches: each leg's stop (trailing, moved to cost) and
target, on every tick, at a minute's close or every N seconds; the underlying's move; the
combined target, stop and lock-and-trail on its MTM; legs that stop ticking."""

from __future__ import annotations

from decimal import Decimal

from engine.domain.events import Severity
from engine.strategies.multileg.base import NS, P, PortfolioBase
from engine.strategies.multileg.legrun import LegRun
from engine.strategies.multileg.spec import Check, Instrument, LegAction, Measure
from engine.strategies.multileg.status import LegState


class PortfolioWatch(PortfolioBase):
    """Leg and combined stops and targets (this module's docstring)."""

    def _check_legs(self, legs: list[LegRun], now: int) -> None:
        for leg in legs:
            if leg.state is not LegState.ENTERED:
                continue
            price = leg.ltp
            if leg.spec.trail is not None and leg.stop is not None:
                self._trail(leg, price)
            stop = leg.stop
            if stop is not None and (price >= stop if leg.sign < 0 else price <= stop):
                wait = self.spec.stop_loss.wait_seconds
                if wait:
                    if leg.stop_breach_ns is None:
                        leg.stop_breach_ns = now
                    if now - leg.stop_breach_ns < wait * NS:
                        continue
                self._leg_hit(
                    leg, "stop", f"stop hit at {price / 100:.2f} (stop {_rupees(stop)})", now
                )
                continue
            leg.stop_breach_ns = None
            target = leg.target
            if target is not None and (price <= target if leg.sign < 0 else price >= target):
                self._leg_hit(leg, "target", f"target reached at {price / 100:.2f}", now)

    def _trail(self, leg: LegRun, price: int) -> None:
        trail = leg.spec.trail
        assert trail is not None and leg.base_stop is not None
        better = price < leg.best if leg.sign < 0 else price > leg.best
        if not better or leg.moved_to_cost:
            return
        leg.best = price
        entry = leg.average_entry
        assert entry is not None
        moved = (entry * 100 - price) if leg.sign < 0 else (price - entry * 100)
        steps = int(moved / (trail.every * 100))
        if steps <= 0:
            return
        stop = leg.base_stop + (-steps if leg.sign < 0 else steps) * trail.by * 100
        if stop != leg.stop:
            leg.stop = stop
            self._move_broker_stop(leg)

    def _check_underlying(self, now: int) -> None:
        spot = self.spot
        if not spot or not self.spot_at_entry:
            return
        move = self.spec.exit.underlying_move
        if move is not None and abs(spot - self.spot_at_entry) >= move * 100:
            self._exit_all(f"the underlying moved {(spot - self.spot_at_entry) / 100:+.2f}", now)
            return
        for leg in self.legs:
            if leg.state is not LegState.ENTERED or not leg.spot_at_entry:
                continue
            against = _adverse(leg) * (spot - leg.spot_at_entry)
            for level, kind in ((leg.spec.stop, "stop"), (leg.spec.target, "target")):
                if level is None or level.measure is not Measure.UNDERLYING:
                    continue
                if kind == "stop" and against >= level.value * 100:
                    self._leg_hit(leg, "stop", f"underlying moved {against / 100:.2f} against", now)
                    break
                if kind == "target" and -against >= level.value * 100:
                    self._leg_hit(leg, "target", f"underlying moved {-against / 100:.2f} for", now)
                    break

    def _check_combined(self, now: int) -> None:
        combined = self.combined
        if combined is None:
            return
        mtm = self._round_mtm()
        if mtm is None:  # a held leg has no price yet: nothing to judge the levels by
            return
        if self._combined_breach_ns is None:
            if mtm == self._last_mtm:
                return
            held, low, high = self._quiet
            if held is combined and low < mtm <= high:
                self._last_mtm = mtm
                return
        self._last_mtm = mtm
        hit = combined.hit(Decimal(mtm) / 100)
        if hit is None:
            self._combined_breach_ns = None
            self._quiet = (combined, *combined.quiet_band())
            return
        kind, why = hit
        wait = self.spec.stop_loss.wait_seconds
        if kind == "stop" and wait:
            if self._combined_breach_ns is None:
                self._combined_breach_ns = now
            if now - self._combined_breach_ns < wait * NS:
                return
        if kind in ("stop", "target") and self._combined_react(kind, why, now):
            return
        self._exit_all(why, now)

    def _timed_checks(self, now: int) -> None:
        """Checks not made on every tick: at each minute's close (anchored to the clock's
        minutes, so to 09:15) or every N seconds; stops that must hold for a while; staleness."""
        monitoring = self.spec.monitoring
        if monitoring.leg is not Check.TICK and now >= self._next_leg_check_ns:
            first = not self._next_leg_check_ns
            self._next_leg_check_ns = self._next_check(monitoring.leg, now)
            if not first:
                self._check_legs(self.legs, now)
        if monitoring.combined is not Check.TICK and now >= self._next_combined_check_ns:
            first = not self._next_combined_check_ns
            self._next_combined_check_ns = self._next_check(monitoring.combined, now)
            if not first and self.status is P.STARTED:
                self._check_combined(now)
        if self.spec.stop_loss.wait_seconds and self.status is P.STARTED:
            if monitoring.leg is Check.TICK:
                self._check_legs(self.legs, now)
            if monitoring.combined is Check.TICK and self.status is P.STARTED:
                self._check_combined(now)
        if self.status is P.STARTED:
            self._watch_staleness(now)

    def _next_check(self, check: Check, now: int) -> int:
        if check is Check.INTERVAL:
            return now + int(self.spec.monitoring.interval_seconds * NS)
        minute = 60 * NS
        return (now // minute + 1) * minute

    def _watch_staleness(self, now: int) -> None:
        limit = int(self.spec.monitoring.stale_after * NS)
        for leg in self.legs:
            if leg.state is not LegState.ENTERED:
                continue
            quiet = now - leg.last_tick_ns
            if quiet < limit:
                self._stale_told.discard(leg.n)
                continue
            if leg.n in self._stale_told:
                continue
            self._stale_told.add(leg.n)
            self._say(
                f"{self.spec.name}: no price for leg {leg.n} {leg.symbol} for {quiet / NS:.0f} s",
                Severity.WARNING,
            )
            if self.spec.monitoring.exit_when_stale and self.status is P.STARTED:
                self._exit_all(f"leg {leg.n} has had no price for {quiet / NS:.0f} s", now)
                return

    def _leg_hit(self, leg: LegRun, kind: str, why: str, now: int) -> None:
        if self._react(leg, kind, why, now):
            return  # the leg's own action (``reentry``)
        action = self.spec.exit.on_leg_stop if kind == "stop" else self.spec.exit.on_leg_target
        text = f"leg {leg.n} {leg.symbol}: {why}"
        if action is LegAction.NONE:
            if leg.remark != text:
                leg.remark = text
                self._say(text)
            return
        if kind == "stop" and self.spec.stop_loss.move_to_cost:
            self._move_to_cost(leg)
        if action is LegAction.ALL:
            self._exit_all(text, now)
            return
        leg.exit_reason = why
        self._exit_leg(leg, now)
        self._say(text)
        self.ctx.save()

    def _move_to_cost(self, hit: LegRun) -> None:
        for leg in self.legs:
            if leg is hit or leg.state is not LegState.ENTERED or leg.moved_to_cost:
                continue
            entry = leg.average_entry
            assert entry is not None
            leg.stop = entry * 100
            leg.moved_to_cost = True
            leg.remark = f"stop moved to cost after leg {hit.n}'s stop"
            self._move_broker_stop(leg)


def _adverse(leg: LegRun) -> int:
    """+1 when the underlying rising hurts the leg, −1 when falling does."""
    rising_helps = leg.spec.instrument in (Instrument.CE, Instrument.FUT)
    return -leg.sign if rising_helps else leg.sign


def _rupees(paise: Decimal) -> str:
    return f"{paise / 100:.2f}"
