"""Legs that wait while a portfolio runs: for their side of a breakout or their own wait and
trade, forced in after another leg filled, dropped when their window closes; and the net
premium's wait and trade before the portfolio enters."""

from __future__ import annotations

from engine.strategies.multileg.conditions_base import NS, ConditionsBase, P, _rupees
from engine.strategies.multileg.conditions_spec import (
    Direction,
)
from engine.strategies.multileg.legrun import ENTRY, LegRun
from engine.strategies.multileg.status import LegEvent, LegState


class LegWaits(ConditionsBase):
    """The waiting legs' part of ``PortfolioConditions``."""

    def holds(self, leg: LegRun, now: int) -> bool:
        """Whether a waiting leg must not be sent yet."""
        if self.p._enter_asked:
            return False  # the trader said enter now: every leg, whatever it waited for
        if self._held_by_breakout(leg):
            return True
        n = leg.n
        if n in self.wait_legs and n not in self.wait_done:
            if n not in self.wait_ref and leg.ltp:
                self.wait_ref[n] = leg.ltp
                wait = self.extra.leg_wait
                assert wait is not None
                leg.remark = (
                    f"waits for its premium to move {self._move_text(wait.move, wait.percent)} "
                    f"{wait.direction.value} from {_rupees(leg.ltp)}"
                )
                self.p.ctx.save()
            return True
        return False

    # -- legs that wait --------------------------------------------------------------------------

    def _release(self, now: int) -> None:
        """Something a leg waited for has happened: send what may go now."""
        p = self.p
        if p.status is P.MONITORING:
            p._monitoring(now)
            return
        if p.status not in (P.UNDER_EXECUTION, P.STARTED):
            return
        passed = {n for group in p._groups[: p._group] for n in group}
        for leg in p.legs:
            if leg.state is not LegState.WAITING or self.holds(leg, now):
                continue
            if p.status is P.STARTED or leg.n in passed:
                leg.step(LegEvent.SEND)
                p.ctx.save()  # the decision first: a restart tops the leg up, never doubles it
                p._top_up(leg, ENTRY)
        if p.status is P.UNDER_EXECUTION:
            p._advance_entry(now)

    def _leg_wait(self, n: int, price: int, now: int) -> None:
        wait = self.extra.leg_wait
        p = self.p
        if wait is None or n not in self.wait_legs or n in self.wait_done:
            return
        ref = self.wait_ref.get(n)
        leg = p.legs[n - 1]
        if ref is None or leg.state is not LegState.WAITING:
            return
        amount = self._amount(ref, wait.move, wait.percent)
        up = wait.direction is Direction.UP
        if (price >= ref + amount) if up else (price <= ref - amount):
            leg.remark = f"waited: premium moved {wait.direction.value} to {_rupees(price)} from {_rupees(ref)}"
        elif (
            self.first_fill_ns
            and wait.force_at_move is not None
            and (
                (price <= ref - wait.force_at_move * 100)
                if up
                else (price >= ref + wait.force_at_move * 100)
            )
        ):
            leg.remark = f"forced in at {_rupees(price)}: moved {wait.force_at_move} the other way"
        else:
            return
        self.wait_done.add(n)
        p._say(f"{p.spec.name}: leg {n} {leg.symbol} {leg.remark}")
        p.ctx.save()
        self._release(now)

    def _force_waiting(self, now: int) -> None:
        wait = self.extra.leg_wait
        if wait is None or wait.force_after_seconds is None or not self.first_fill_ns:
            return
        if now - self.first_fill_ns < wait.force_after_seconds * NS:
            return
        p = self.p
        forced = [
            leg
            for leg in p.legs
            if leg.n in self.wait_legs
            and leg.n not in self.wait_done
            and leg.state is LegState.WAITING
            and not self._held_by_breakout(leg)
        ]
        if not forced:
            return
        for leg in forced:
            self.wait_done.add(leg.n)
            leg.remark = f"forced in {wait.force_after_seconds:g} s after another leg filled"
        p._say(f"{p.spec.name}: legs {', '.join(str(leg.n) for leg in forced)} forced in")
        p.ctx.save()
        self._release(now)

    def _close_windows(self, now: int) -> None:
        """Legs still waiting when their window closes are never sent; a portfolio that then
        entered nothing has nothing to do."""
        p = self.p
        end = self._entry_end_ns(now)
        if end is None or now < end:
            return
        dropped = False
        for leg in p.legs:
            if leg.state is LegState.WAITING and self.holds(leg, now):
                leg.step(LegEvent.DISARM)
                leg.remark = (
                    f"not sent: its condition did not come before {self._entry_end():%H:%M}"
                )
                dropped = True
        if not dropped:
            return
        p.ctx.save()
        busy = any(
            leg.state in (LegState.ENTERING, LegState.ENTERED, LegState.EXITING) for leg in p.legs
        )
        if p.status is P.UNDER_EXECUTION:
            if busy:
                p._advance_entry(now)
            else:
                p._exit_all("no leg's condition came in its entry window", now)

    # -- extra conditions -------------------------------------------------------------------------

    def _combined_wait(self, premium: int, now: int) -> None:
        wait = self.extra.combined_wait
        p = self.p
        if wait is None or self.combined_done or p.status is not P.MONITORING:
            return
        ref = self.combined_ref
        if ref is None:
            return  # set when the window opens (may_enter)
        amount = self._amount(ref, wait.move, wait.percent)
        moved = (
            premium >= ref + amount if wait.direction is Direction.UP else premium <= ref - amount
        )
        if not moved:
            return
        self.combined_done = True
        p._say(
            f"{p.spec.name}: net premium moved {wait.direction.value} to ₹{_rupees(premium)} "
            f"from ₹{_rupees(ref)}: entering"
        )
        p.ctx.save()
        p._monitoring(now)
