"""A multileg portfolio running on the strategy kernel: it waits for its window, resolves its
legs to contracts, enters them in the order the trader set, watches leg and combined stops and
targets on every tick (or at a minute's close, or every N seconds), and exits.

Orders
    Every order goes through the facade (so the one risk gate) as this portfolio's strategy,
    tagged with its leg (``legrun``). Entries and exits are marketable limits (LTP ± a buffer,
    rounded to the tick) re-priced up to ``chase_retries`` times, ``chase_after`` seconds apart,
    then turned into a market order, which the gate protects. Quantities above the freeze
    quantity are sliced in whole lots, at most ``slices_per_second`` a second, exits ahead of
    entries. A refused or rejected order is never sent again by itself: the leg has failed, and
    the portfolio keeps or unwinds what filled, as set.

Across a restart
    The saved state holds the portfolio's decisions (status, resolved contracts, stops); its
    orders and fills come back from the order book, which the journal restored. Sending is
    "top up to what the leg needs, counting what is already working", so an order the journal
    holds is never sent again and one it does not hold was never sent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.domain.events import (
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
    Severity,
)
from engine.domain.orders import OrderStatus
from engine.domain.ticks import Tick
from engine.domain.values import rupees_text
from engine.strategies.multileg.base import NS, E, P, portfolio_strategy_id, start_problem
from engine.strategies.multileg.entering import PortfolioEntry
from engine.strategies.multileg.exits import Measure as PriceMeasure
from engine.strategies.multileg.exits import leg_level
from engine.strategies.multileg.halting import PortfolioHalting
from engine.strategies.multileg.legrun import ENTRY, EXIT, SETTLED, STOP, LegOrder, LegRun
from engine.strategies.multileg.reentry import PortfolioReentry
from engine.strategies.multileg.spec import Check, Measure, OnLegFailure, PortfolioSpec
from engine.strategies.multileg.status import (
    ACTIVE,
    LegEvent,
    LegState,
    PortfolioStatus,
    portfolio_step,
)
from engine.strategies.multileg.watching import PortfolioWatch


class PortfolioStrategy(PortfolioReentry, PortfolioEntry, PortfolioWatch, PortfolioHalting):
    """A multileg portfolio as one strategy on the kernel (its parts: ``base``)."""

    # -- the kernel's handlers -----------------------------------------------------------------------

    def on_start(self, state: dict[str, Any]) -> None:
        if state.get("spec"):
            # Resume with the settings it ran with, whatever the file says now.
            self._settings(PortfolioSpec.model_validate(state["spec"]))
        self.underlying_token = self._underlying_token()
        if self.underlying_token:
            self.ctx.watch([self.underlying_token])
            tick = self.ctx.api.tick(self.underlying_token)
            self.spot = 0 if tick is None else tick.ltp
        if state.get("status"):
            self._restore(state)
        else:
            self._start_fresh()
        if self.ctx.loop_running():
            self.ctx.every(1.0, "clock")
        self._on_clock(self.ctx.time_ns())

    def on_timer(self, name: str) -> None:
        self._on_clock(self.ctx.time_ns())

    def on_tick(self, tick: Tick) -> None:
        token = tick.token
        now = self.ctx.time_ns()
        if now >= self._due_ns:
            # Before this tick's price: checks due at a minute's close see that minute's close.
            self._on_clock(now)
        legs = self._by_token.get(token)
        if legs is not None:
            for leg in legs:
                leg.ltp, leg.bid, leg.ask, leg.last_tick_ns = tick.ltp, tick.bid, tick.ask, now
        spot = token == self.underlying_token
        if spot:
            self.spot = tick.ltp
        if self._halted is not None:
            return  # halted: it decides nothing (``halting``)
        guard = self._tag_guard
        if (
            guard is not None
            and legs is not None
            and guard.limited(self.spec.defaults.tag)
            and self.priced
        ):
            # Before the portfolio's own levels: the account and the tag take precedence.
            mtm = self.mtm
            if mtm != self._reported:
                self._reported = mtm
                guard.report(self.spec.defaults.tag, self.ctx.strategy_id, mtm)
        extras = self._extras
        if extras is not None:
            extras.on_tick(tick, now)
        if self.status is P.STARTED:
            monitoring = self.spec.monitoring
            if legs is not None and monitoring.leg is Check.TICK:
                self._check_legs(legs, now)
            if spot and self._underlying_rules:
                self._check_underlying(now)
            if monitoring.combined is Check.TICK and self.status is P.STARTED:
                self._check_combined(now)
            if self._lines:
                self._check_lines(now)

    def on_order(self, event: OrderEvent) -> None:
        if self._halted is not None:
            self._heard_in_halt(event)
            return
        if isinstance(event, OrderSubmitted):
            self._adopt(event.order_id, event.request, event.ts_ns)
            return
        known = self._orders.get(event.order_id)
        if isinstance(event, OrderDenied):
            if known is None and event.request is not None:
                known = self._adopt(event.order_id, event.request, event.ts_ns)
            if known is not None and known[1].status is not OrderStatus.DENIED:
                known[1].status = OrderStatus.DENIED
                self._order_dead(known[0], known[1], f"refused: {event.reason}")
            return
        if known is None:
            if isinstance(event, OrderFilled) and event.settles:
                self._on_settlement(event)
            return
        leg, order = known
        if isinstance(event, OrderFilled):
            leg.fill(order, event.quantity, event.price)
            if order.filled >= order.quantity:
                order.status = OrderStatus.COMPLETE
            self._filled(leg, order)
        elif isinstance(event, OrderStatusChanged):
            order.status = event.status
            if event.status in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
                if order.filled < order.quantity:
                    self._order_dead(leg, order, f"{event.status.value.lower()}: {event.message}")
            elif event.status is OrderStatus.COMPLETE:
                self._settle(self.ctx.time_ns())
            elif order.exiting and order.purpose == ENTRY and order.acknowledged:
                self._withdraw(order)  # acknowledged at last: now it can be cancelled
        if self._failure is not None:
            self._decide_failure()

    def on_stop(self) -> None:
        if self.status in (P.PENDING, P.MONITORING, P.FAILED):
            self.status = portfolio_step(self.status, E.STOP)
            self.reason = self._stop_reason

    def stop_refusal(self) -> str | None:
        if self.status in ACTIVE:
            return (
                f"{self.spec.name} is {self.status.value}: square it off (or let it finish) "
                "before stopping it"
            )
        return None

    def keeps_running(self) -> bool:
        return self.status in ACTIVE or (self.status is P.FAILED and self._holds_anything())

    def snapshot(self) -> dict[str, Any]:
        combined = self.combined
        return {
            "spec": self.spec.model_dump(mode="json"),
            "status": self.status.value,
            "reason": self.reason,
            "entered_ns": self.entered_ns,
            "spot_at_entry": self.spot_at_entry,
            "group": self._group,
            "halted": self._halted,
            "mtm": self.mtm,
            "premium": self.net_premium,
            "legs": [leg.snapshot() for leg in self.legs],
            **self._lines_snapshot(),
            "extras": None if self._extras is None else self._extras.snapshot(),
            "combined": None
            if combined is None
            else {
                "premium": str(combined.premium),
                "peak": str(combined.peak),
                "locked": None if combined.locked is None else str(combined.locked),
            },
        }

    # -- what the trader does ------------------------------------------------------------------------

    def square_off(self, reason: str = "squared off by the trader") -> str | None:
        """Exit every leg now; None, or why not."""
        if self._halted is not None:
            return f"{self.spec.name} was halted by {self._halted}: it waits for its square-off"
        if self.status is P.FAILED:
            self._step(E.SQUARE_OFF, reason)
            self._begin_exit(reason, self.ctx.time_ns(), already_exiting=True)
            return None
        if self.status in (P.UNDER_EXECUTION, P.STARTED):
            self._exit_all(reason, self.ctx.time_ns())
            return None
        if self.status is P.UNDER_EXIT:
            return f"{self.spec.name} is already exiting"
        return f"{self.spec.name} holds nothing to square off ({self.status.value})"

    def square_off_if_due(self) -> str | None:
        """The desk's once-a-second clock: square off now if the account's (or the portfolio's)
        square-off time has come, even with no tick or timer of its own; why, or None."""
        now = self.ctx.time_ns()
        due = self._square_off_due(now)
        if due is None or self._halted or self.status not in (P.UNDER_EXECUTION, P.STARTED):
            return None
        self._exit_all(due, now)
        return due

    def enter_now(self) -> str | None:
        """Enter at once, whatever the start time or entry condition; None, or why not."""
        if self.status is P.PENDING:
            self._step(E.WINDOW_OPENS, "entered by the trader")
        if self.status is not P.MONITORING:
            return f"{self.spec.name} is {self.status.value}, not waiting to enter"
        self._enter_asked = True  # kept: on a live feed the chains' prices may still be coming
        self._enter(self.ctx.time_ns())
        return None

    # -- the clock -----------------------------------------------------------------------------------

    def _on_clock(self, now: int) -> None:
        if self._halted is not None:
            self._end_halt()
            self._due_ns = now + NS
            return
        if self._extras is not None:
            self._extras.on_clock(now)
        if self.status is P.PENDING:
            self._pending(now)
        if self.status is P.MONITORING:
            self._monitoring(now)
        if self.status in (P.UNDER_EXECUTION, P.STARTED, P.UNDER_EXIT, P.FAILED):
            due = self._square_off_due(now)
            if due is not None and self.status in (P.UNDER_EXECUTION, P.STARTED):
                self._exit_all(due, now)
            if self.status is P.UNDER_EXECUTION:
                self._advance_entry(now)
            if self.status is P.STARTED:
                self._timed_checks(now)
                self._check_lines(now)
            if self.status is P.UNDER_EXIT:
                self._drive_exits(now)
            self._pump(now)
            self._chase(now)
        self._due_ns = self._next_due(now)

    def _next_due(self, now: int) -> int:
        status = self.status
        if (
            status in (P.UNDER_EXECUTION, P.UNDER_EXIT)
            or self._outbox_entries
            or self._outbox_exits
        ):
            return now + NS // 4
        if status is P.STARTED:
            due = now + NS
            monitoring = self.spec.monitoring
            if monitoring.leg is not Check.TICK:
                due = min(due, self._next_leg_check_ns)
            if monitoring.combined is not Check.TICK:
                due = min(due, self._next_combined_check_ns)
            return max(due, now + 1)
        if status in (P.PENDING, P.MONITORING, P.FAILED):
            return now + NS
        return now + 60 * NS

    # -- what orders come to ----------------------------------------------------------------------------

    def _filled(self, leg: LegRun, order: LegOrder) -> None:
        now = self.ctx.time_ns()
        if order.purpose == ENTRY and leg.state is LegState.ENTERING:
            if leg.entry_qty >= leg.quantity:
                self._leg_entered(leg, now)
        elif order.purpose in (EXIT, STOP):
            if order.purpose == STOP and leg.state is LegState.ENTERED:
                why = leg.exit_reason or "its stop at the broker filled"
                if self.status is not P.STARTED or not self._react(leg, "stop", why, now, True):
                    leg.step(LegEvent.CLOSE)
                    leg.exit_reason = why
                    self._say(f"leg {leg.n} {leg.symbol}: {leg.exit_reason}")
            self._settle(now)
        if self.status is P.UNDER_EXECUTION:
            self._advance_entry(now)
        elif self.status is P.UNDER_EXIT:
            self._drive_exits(now)
        elif self._lines:
            self._check_lines(now)

    def _leg_entered(self, leg: LegRun, now: int) -> None:
        leg.step(LegEvent.FILLED)
        entry = leg.average_entry
        assert entry is not None
        leg.spot_at_entry = self.spot
        leg.best = leg.entry_value // leg.entry_qty  # trailing counts from the entry
        self._set_levels(leg, entry)
        if self._extras is not None:
            self._extras.entered(leg)
        self.ctx.save()
        self._arm_broker_stop(leg)

    def _set_levels(self, leg: LegRun, entry: Decimal) -> None:
        side = leg.spec.side
        for level, stop in ((leg.spec.stop, True), (leg.spec.target, False)):
            if level is None or level.measure is Measure.UNDERLYING:
                continue
            price = leg_level(
                side, entry, level.value, PriceMeasure(level.measure.value), stop=stop
            )
            if stop:
                leg.stop = leg.base_stop = price * 100
            else:
                leg.target = price * 100

    def _order_dead(self, leg: LegRun, order: LegOrder, why: str) -> None:
        if order.purpose == STOP and not order.exiting:
            if leg.state is LegState.ENTERED:
                self._say(
                    f"leg {leg.n} {leg.symbol}: its stop at the broker was {why}; the desk "
                    "watches the stop itself",
                    Severity.WARNING,
                )
            return
        if order.purpose == ENTRY and order.exiting:
            if leg.state is LegState.ENTERING and not leg.live_orders(ENTRY):
                leg.remark = leg.remark or "entry withdrawn"
        elif order.purpose == ENTRY and leg.state is LegState.ENTERING:
            self._leg_failed(leg, f"entry order {order.order_id} {why}")
        elif order.purpose in (EXIT, STOP) and not _cancelled_by_us(order):
            leg.remark = f"exit order {order.order_id} {why}"
            self._say(
                f"{self.spec.name}: leg {leg.n}'s exit did not go through ({why}); it is not "
                "sent again by itself — square off to try again",
                Severity.ERROR,
            )
            if self.status in (P.STARTED, P.UNDER_EXIT):
                self._step(E.FAILED, f"leg {leg.n}: exit order {order.order_id} {why}")
        if leg.state is LegState.EXITING and self.status is P.UNDER_EXIT:
            self._drive_exits(self.ctx.time_ns())

    def _leg_failed(self, leg: LegRun, why: str) -> None:
        """A leg's entry failed: pull back the other legs' working entries, then (once they
        have ended) keep or unwind what filled — or, if nothing did, the portfolio is
        Rejected."""
        if leg.state is LegState.ENTERING:
            leg.step(LegEvent.FAILED)
        leg.remark = why
        self._say(f"{self.spec.name}: leg {leg.n} failed — {why}", Severity.ERROR)
        if self.status is not P.UNDER_EXECUTION:
            self.ctx.save()
            return
        if self._failure is None:
            self._failure = f"leg {leg.n}: {why}"
        self._drop_queued_entries()
        for other in self.legs:
            for order in other.live_orders(ENTRY):
                self._withdraw(order)
        self.ctx.save()
        self._decide_failure()

    def _decide_failure(self) -> None:
        why = self._failure
        if why is None or self.status is not P.UNDER_EXECUTION:
            return
        if any(leg.live_orders(ENTRY) for leg in self.legs):
            return  # pulled back, not yet ended: a late fill still counts
        self._failure = None
        for leg in self.legs:
            if leg.state is LegState.WAITING:
                leg.step(LegEvent.DISARM)
                leg.remark = "not sent: another leg failed"
        if not any(leg.entry_qty for leg in self.legs):
            self._step(E.REFUSED, why)
            self._finish()
        elif self.spec.execution.on_leg_failure is OnLegFailure.UNWIND:
            self._exit_all(f"{why}: unwinding the legs that filled", self.ctx.time_ns())
        else:
            self._step(E.FAILED, f"{why}; the filled legs are kept")

    def _on_settlement(self, fill: OrderFilled) -> None:
        """The venue settled a contract this portfolio holds at its expiry (its order, in the
        portfolio's name, carries no leg tag)."""
        venue = self.ctx.api.order(fill.order_id)
        quantity = fill.quantity if venue is None else venue.quantity
        if self._book_settlement(fill.order_id, fill.token, fill.side, quantity, fill.price):
            self._expiry_settled(self.ctx.time_ns())

    def _expiry_settled(self, now: int) -> None:
        """Legs were settled at expiry: holding nothing more, the portfolio ends as a square-off
        ends it (Completed), with the settlement as its reason; else its other legs go on."""
        settled = [leg for leg in self.legs if any(o.purpose == SETTLED for o in leg.orders)]
        words = "settled at expiry: " + ", ".join(
            f"leg {leg.n} {leg.symbol} at ₹{rupees_text(leg.ltp)}" for leg in settled
        )
        if self._holds_anything():
            self._say(f"{self.spec.name}: {words}; its other legs go on")
            self._settle(now)  # the settled legs have exited
            self.ctx.save()
        elif self.status is P.UNDER_EXIT:
            self.reason = words
            self._drive_exits(now)
        else:
            self.square_off(words)

    # -- a restart -----------------------------------------------------------------------------------

    def _restore(self, state: dict[str, Any]) -> None:
        self.status = PortfolioStatus(state["status"])
        self.reason = str(state["reason"])
        self.entered_ns = int(state["entered_ns"])
        self.spot_at_entry = int(state["spot_at_entry"])
        self._group = int(state["group"])
        self._halted = state.get("halted")
        self._restore_lines(state)
        if self._extras is not None:
            self._extras.restore(state.get("extras"))
        for leg, saved in zip(self.legs, state["legs"], strict=True):
            leg.restore(saved)
            if leg.token:
                instrument = self.ctx.api.instruments.find(leg.token)
                if instrument is not None:
                    leg.lot_size, leg.tick_size = instrument.lot_size, instrument.tick_size
                    leg.freeze = instrument.freeze_quantity
                self._track(leg)
                tick = self.ctx.api.tick(leg.token)
                if tick is not None:
                    leg.ltp, leg.bid, leg.ask = tick.ltp, tick.bid, tick.ask
                leg.last_tick_ns = self.ctx.time_ns()
        combined = state.get("combined")
        if combined is not None:
            self._entered_from(combined)
        self._groups = self._entry_groups()
        settled = self._recover_orders()
        if self._halted is not None:
            return  # halted before the restart: it still decides nothing (``halting``)
        if settled:
            self._expiry_settled(self.ctx.time_ns())  # while the desk was away
        now = self.ctx.time_ns()
        for leg in self.legs:
            if leg.state is LegState.ENTERING and leg.entry_qty >= leg.quantity:
                self._leg_entered(leg, now)
            elif leg.state is LegState.ENTERED:
                self._arm_broker_stop(leg)  # what still rests is kept; the rest is placed
        if self.status is P.UNDER_EXECUTION:
            square_off = self._at(self.spec.execution.square_off, now)
            closing = square_off is not None and now >= square_off
            for leg in self.legs:
                if leg.state is not LegState.ENTERING:
                    continue
                if not closing:
                    self._top_up(leg, ENTRY)
                elif not leg.position and not leg.live_orders(ENTRY):
                    # Back after its square-off time: nothing more is entered (the clock
                    # squares off what the legs hold), and a leg holding nothing is done.
                    leg.step(LegEvent.CLOSE)
        if self._extras is not None:
            self._extras.resumed()
        if self.status is P.UNDER_EXIT:
            self._drive_exits(now)
            return
        # A leg that was exiting by itself (its target, its stop) goes on exiting: exits for
        # what its working orders no longer cover, and one that holds nothing has exited.
        for leg in self.legs:
            if leg.state is LegState.EXITING:
                self._top_up(leg, EXIT)
        self._settle(now)

    def _entered_from(self, saved: dict[str, Any]) -> None:
        self.combined = self._combined_exit(
            Decimal(saved["premium"]),
            peak=Decimal(saved["peak"]),
            locked=None if saved["locked"] is None else Decimal(saved["locked"]),
        )


def _cancelled_by_us(order: LegOrder) -> bool:
    return order.exiting and order.status is OrderStatus.CANCELLED


__all__ = ["PortfolioStrategy", "portfolio_strategy_id", "start_problem"]
