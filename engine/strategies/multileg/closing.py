"""How a multileg portfolio exits: every leg at once (sold legs first when set, so the hedges
are removed last), one leg by itself, a resting stop turned into its leg's marketable exit, and
the settling of legs whose exits are done, after which the portfolio completes."""

from __future__ import annotations

from decimal import Decimal

from engine.domain.orders import OrderType
from engine.strategies.multileg.base import E, P
from engine.strategies.multileg.execution import PortfolioOrders
from engine.strategies.multileg.legrun import ENTRY, EXIT, STOP, LegRun
from engine.strategies.multileg.status import LegEvent, LegState


class PortfolioClosing(PortfolioOrders):
    """Exits of legs and of the whole portfolio (this module's docstring)."""

    def _exit_all(self, why: str, now: int) -> None:
        if self.status not in (P.UNDER_EXECUTION, P.STARTED):
            return
        self._step(E.EXIT, why)
        self._begin_exit(why, now)

    def _begin_exit(self, why: str, now: int, *, already_exiting: bool = False) -> None:
        self._drop_queued_entries()
        for leg in self.legs:
            # An entering leg exits even when it holds nothing yet (its slices were still
            # queued here): it is then exited at once, and the portfolio can complete.
            if leg.state in (LegState.ENTERING, LegState.ENTERED) or (
                leg.state is LegState.FAILED and (leg.position or leg.live_orders(ENTRY, STOP))
            ):
                leg.exit_reason = leg.exit_reason or why
                leg.step(LegEvent.CLOSE)
            elif leg.state is LegState.WAITING:
                leg.step(LegEvent.DISARM)
                leg.remark = "not sent: the portfolio exited first"
        self.ctx.save()
        self._drive_exits(now)

    def _exit_leg(self, leg: LegRun, now: int) -> None:
        leg.step(LegEvent.CLOSE)
        self._drive_exit(leg, now)

    def _drive_exits(self, now: int) -> None:
        exiting = [leg for leg in self.legs if leg.state is LegState.EXITING]
        sells_first = self.spec.exit.sells_first
        sold_open = any(leg.sign < 0 and (leg.position or leg.working(ENTRY)) for leg in exiting)
        for leg in exiting:
            if sells_first and leg.sign > 0 and sold_open:
                continue
            self._drive_exit(leg, now)
        self._settle(now)

    def _drive_exit(self, leg: LegRun, now: int) -> None:
        for order in leg.live_orders(ENTRY):
            self._withdraw(order)
        for order in leg.live_orders(STOP):
            if not order.exiting:
                order.exiting = True
                order.since_ns = now
                if self._ended_in_book(order):
                    continue  # it filled at the broker as the price crossed: it is the exit
                price = self._marketable(leg, order.side)
                outcome = self.ctx.api.modify(
                    order.order_id,
                    order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
                    price=None if price is None else Decimal(price) / 100,
                )
                if not outcome:
                    self._withdraw(order)
        if leg.live_orders(STOP) and any(not o.exiting for o in leg.live_orders(STOP)):
            return
        self._top_up(leg, EXIT)

    def _settle(self, now: int) -> None:
        """Legs whose exits are done are exited; a portfolio with nothing left completes."""
        changed = False
        for leg in self.legs:
            if (
                leg.state is LegState.EXITING
                and not leg.position
                and not leg.live_orders(ENTRY, EXIT, STOP)
            ):
                leg.step(LegEvent.CLOSED)
                changed = True
        open_legs = [
            leg
            for leg in self.legs
            if leg.state in (LegState.ENTERING, LegState.ENTERED, LegState.EXITING)
            or (leg.state is LegState.FAILED and leg.position)
        ]
        if self.status is P.STARTED and not open_legs and not self._lines_waiting():
            self._step(E.EXIT, "every leg has exited")
        if self.status is P.UNDER_EXIT and not open_legs:
            self._step(E.EXITED, self.reason)
            self._finish()
            return
        if changed:
            self.ctx.save()
