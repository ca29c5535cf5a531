"""A portfolio's range breakout as it runs (``breakout`` holds the range itself): the side
that fires and the legs it enters or cancels, and the range's other side as their stop."""

from __future__ import annotations

from engine.strategies.multileg import breakout as rb
from engine.strategies.multileg.conditions_base import ConditionsBase, P, _rupees
from engine.strategies.multileg.conditions_spec import EntryAt, RangeOn
from engine.strategies.multileg.legrun import LegRun
from engine.strategies.multileg.status import LegEvent, LegState


class BreakoutRun(ConditionsBase):
    """The range breakout's part of ``PortfolioConditions``."""

    # -- range breakout ------------------------------------------------------------------------

    def _held_by_breakout(self, leg: LegRun) -> bool:
        rule = self.rule
        if rule is None or not self._needs_breakout(leg):
            return False
        if rule.on is RangeOn.LEGS:
            return not self.fired.get(f"L{leg.n}")
        key = "u" if rule.on is RangeOn.UNDERLYING else "c"
        wanted = rb.sides_of_leg(rule, leg.spec.instrument)
        return not any(side in wanted for side in self.fired.get(key, ()))

    def _breakout(self, key: str, price: int, now: int) -> None:
        rule = self.rule
        assert rule is not None
        p = self.p
        edges = self.ranges.get(key)
        if edges is None or p.status not in (P.MONITORING, P.UNDER_EXECUTION, P.STARTED):
            return
        end = self._entry_end_ns(now)
        if end is not None and now >= end:
            return
        fired = self.fired.get(key, [])
        if key[0] == "L":
            leg = p.legs[int(key[1:]) - 1]
            if fired or leg.state is not LegState.WAITING:
                return
            sides = frozenset({rb.HIGH if leg.sign > 0 else rb.LOW})
        else:
            two = rule.entry_at in (EntryAt.CE_HIGH_PE_LOW, EntryAt.PE_HIGH_CE_LOW)
            if fired and (rule.cancel_other_side or not two):
                return
            sides = rb.sides_of_portfolio(rule) - set(fired)
        side = edges.beyond(price, rule, sides)
        if side is None:
            return
        self.fired.setdefault(key, []).append(side)
        what = {"u": "the underlying", "c": "the net premium"}.get(key, f"leg {key[1:]}'s premium")
        p._say(
            f"{p.spec.name}: {what} broke out {'above' if side == rb.HIGH else 'below'} its range "
            f"({_rupees(edges.edge(side))}) at {_rupees(price)}"
        )
        for leg in p.legs:
            if leg.state is not LegState.WAITING or not self._needs_breakout(leg):
                continue
            if key[0] == "L":
                if leg.n == int(key[1:]):
                    self.released[leg.n] = f"{key}:{side}"
            elif side in rb.sides_of_leg(rule, leg.spec.instrument):
                self.released[leg.n] = f"{key}:{side}"
            elif rule.cancel_other_side:
                leg.step(LegEvent.DISARM)
                leg.remark = f"not sent: the range broke out on the {side} side first"
        p.ctx.save()  # the decision first: a restart never fires it again, nor loses it
        self._release(now)

    def _opposite_stop(self, key: str, price: int, now: int) -> None:
        rule = self.rule
        assert rule is not None
        p = self.p
        if not rule.opposite_sl or key[0] == "L" or p.status not in (P.UNDER_EXECUTION, P.STARTED):
            return
        edges = self.ranges.get(key)
        if edges is None:
            return
        for side in self.fired.get(key, ()):
            if not rb.crossed_back(price, side, edges):
                continue
            mine = f"{key}:{side}"
            legs = [
                leg
                for leg in p.legs
                if self.released.get(leg.n) == mine
                and leg.state in (LegState.ENTERING, LegState.ENTERED)
            ]
            if not legs:
                continue
            what = "the underlying" if key == "u" else "the net premium"
            why = (
                f"{what} at {_rupees(price)} is back at the range's other side "
                f"({_rupees(edges.edge(rb.other(side)))}), the breakout's stop"
            )
            open_legs = [
                leg for leg in p.legs if leg.state in (LegState.ENTERING, LegState.ENTERED)
            ]
            if len(legs) == len(open_legs):
                p._exit_all(why, now)
                return
            for leg in legs:
                leg.exit_reason = why
                p._exit_leg(leg, now)
            p._say(f"{p.spec.name}: {why}")
            p.ctx.save()
            p._settle(now)
