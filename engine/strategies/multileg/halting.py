"""A trading halt (the kill switch, a breaker) takes a portfolio out of its running statuses, so
that it neither knocks on the closed gate through the halt nor trades by itself after the
re-arm (``multileg_and_panels.md`` §3.4: cancel all, square off all, disable all portfolios).

One waiting to enter (Pending, Monitoring) is stopped, as the trader's Stop stops it, with why.
One that holds legs takes no decision of its own from then on (no stops, targets, re-entries,
re-executes or square-off times): it withdraws its working orders and waits to learn what the
halt did with its legs. Once the account holds none of their contracts it has completed,
"closed by the kill switch's square-off", its legs booked at their last prices; if they are
still held and no square-off is working on them, it has failed, "left open by the halt: square
off by hand" (its Square off then exits no more than the account holds). Either is journaled
as any status change is, so a restart shows the same; a re-arm starts nothing.
"""

from __future__ import annotations

from engine.domain.events import (
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
    Severity,
)
from engine.domain.orders import OrderStatus
from engine.domain.origin import OrderSource
from engine.strategies.halts import halt_reason, halted_by
from engine.strategies.multileg.base import E, P
from engine.strategies.multileg.closing import PortfolioClosing
from engine.strategies.multileg.legrun import ENTRY, EXIT, STOP
from engine.strategies.multileg.status import ACTIVE, LegEvent, LegState

_HELD = (LegState.ENTERING, LegState.ENTERED, LegState.FAILED)


class PortfolioHalting(PortfolioClosing):
    """What a portfolio does when trading halts (this module's docstring)."""

    def halt(self, source: str, reason: str) -> None:
        """Trading halted (``source`` as ``halts`` names it, ``reason`` in words)."""
        if self.status in (P.PENDING, P.MONITORING):
            self._stop_reason = halt_reason(source, reason)
            self._say(f"{self.spec.name}: {self._stop_reason}", Severity.WARNING)
            self.ctx.finish(self._stop_reason)
            return
        holds = self.status in ACTIVE or (self.status is P.FAILED and self._holds_anything())
        if self._halted is not None or not holds:
            return
        by = self._halted = halted_by(source)
        self._outbox_entries.clear()
        self._outbox_exits.clear()
        for leg in self.legs:
            if leg.state is LegState.WAITING:
                leg.step(LegEvent.DISARM)
                leg.remark = f"not sent: trading was halted by {by}"
            for order in leg.live_orders(ENTRY, EXIT, STOP):
                self._withdraw(order)
        self.reason = f"halted by {by} ({reason}): it waits for the halt's square-off"
        self.ctx.save()
        self._say(f"{self.spec.name}: {self.reason}", Severity.WARNING)
        self._end_halt()

    def _heard_in_halt(self, event: OrderEvent) -> None:
        """An order event while halted: booked, nothing decided."""
        if isinstance(event, OrderSubmitted):
            self._adopt(event.order_id, event.request, event.ts_ns)
            return
        known = self._orders.get(event.order_id)
        if known is None:
            return
        leg, order = known
        if isinstance(event, OrderFilled):
            leg.fill(order, event.quantity, event.price)
            if order.filled >= order.quantity:
                order.status = OrderStatus.COMPLETE
        elif isinstance(event, OrderStatusChanged):
            order.status = event.status
        elif isinstance(event, OrderDenied):
            order.status = OrderStatus.DENIED
        self._end_halt()

    def _end_halt(self) -> None:
        """Once its own orders have ended: completed if the account holds none of its legs'
        contracts, failed if it does and no square-off is working on them; else it waits."""
        by = self._halted
        if by is None or any(leg.live_orders(ENTRY, EXIT, STOP) for leg in self.legs):
            return
        held = {leg.token for leg in self.legs if leg.position}
        nets = [self._account_net(token) for token in held]
        if all(net == 0 for net in nets):
            self._closed_by_halt(f"closed by {by}'s square-off")
        elif not self._squaring_off(held):
            self._halted = None  # Failed, it decides nothing by itself: the trader does
            why = f"left open by the halt ({by}): square off by hand"
            if self.status in ACTIVE:
                self._step(E.FAILED, why)
            else:
                self.reason = why
                self.ctx.save()
            self._say(f"{self.spec.name}: Failed — {why}", Severity.ERROR)

    def _closed_by_halt(self, why: str) -> None:
        if self.status is P.FAILED:
            self._step(E.SQUARE_OFF, why)
        elif self.status is not P.UNDER_EXIT:
            self._step(E.EXIT, why)
        for leg in self.legs:
            if leg.state in _HELD and (leg.state is not LegState.FAILED or leg.position):
                leg.step(LegEvent.CLOSE)
            if leg.state is LegState.EXITING:
                leg.remark = leg.exit_reason = why
                if leg.position:
                    self._book_outside(leg, why)
        self._halted = None
        self._settle(self.ctx.time_ns())  # nothing held: Completed

    def _squaring_off(self, tokens: set[int]) -> bool:
        """Whether a square-off of the halt (the risk manager's) is working on ``tokens``."""
        return any(
            o.source is OrderSource.RISK
            and not o.status.is_terminal
            and int(o.instrument.token) in tokens
            for o in self.ctx.api.orders()
        )
