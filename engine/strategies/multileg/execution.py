"""How a multileg portfolio's orders go out: every order through the facade (so the one risk
gate) as the portfolio's strategy, tagged with its leg; marketable limits (LTP ± a buffer, on
the tick) re-priced up to ``chase_retries`` times ``chase_after`` seconds apart, then sent at a
market price the gate protects; quantities above the freeze quantity sliced in whole lots, at
most ``slices_per_second`` a second, exits ahead of entries; stops resting at the broker as
stop-limit orders. Sending is "top up to what the leg needs, counting what is already working",
so calling it twice, or again after a restart, never sends anything twice."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side, Validity
from engine.domain.origin import OrderSource
from engine.domain.values import Paise
from engine.strategies.multileg.base import NS, PortfolioBase
from engine.strategies.multileg.legrun import ENTRY, EXIT, STOP, LegOrder, LegRun, read_tag


class PortfolioOrders(PortfolioBase):
    """Placing, chasing, slicing and withdrawing orders (this module's docstring)."""

    def _top_up(self, leg: LegRun, purpose: str) -> None:
        """Queue orders for what the leg still needs for ``purpose``, counting what is already
        working or queued: calling it twice sends nothing twice."""
        queued = sum(
            q
            for queue in (self._outbox_entries, self._outbox_exits)
            for (other, p, q) in queue
            if other is leg and p == purpose
        )
        if purpose == ENTRY:
            need = leg.quantity - leg.entry_qty - leg.working(ENTRY) - queued
        else:
            need = abs(leg.position) - leg.working(EXIT, STOP) - queued
        if need <= 0:
            return
        outbox = self._outbox_entries if purpose == ENTRY else self._outbox_exits
        for quantity in self._slices(leg, need):
            outbox.append((leg, purpose, quantity))
        self._pump(self.ctx.time_ns())

    def _slices(self, leg: LegRun, quantity: int) -> list[int]:
        freeze = leg.freeze
        if not self.spec.execution.slice_at_freeze or freeze is None or quantity <= freeze:
            return [quantity]
        most = max(leg.lot_size, freeze // leg.lot_size * leg.lot_size)
        whole, rest = divmod(quantity, most)
        return [most] * whole + ([rest] if rest else [])

    def _pump(self, now: int) -> None:
        rate = self.spec.execution.slices_per_second
        sent = self._sent
        while sent and now - sent[0] >= NS:
            sent.popleft()
        while (self._outbox_exits or self._outbox_entries) and len(sent) < rate:
            outbox = self._outbox_exits or self._outbox_entries
            leg, purpose, quantity = outbox.popleft()
            sent.append(now)
            self._place(leg, purpose, quantity, now)

    def _place(self, leg: LegRun, purpose: str, quantity: int, now: int) -> None:
        side = leg.entry_side if purpose == ENTRY else leg.exit_side
        price = self._marketable(leg, side)
        request = OrderRequest(
            InstrumentToken(leg.token),
            side,
            quantity,
            OrderType.LIMIT if price is not None else OrderType.MARKET,
            Product(self.spec.defaults.product),
            Validity.DAY,
            None if price is None else Paise(price),
            None,
            leg.next_tag(purpose),
            OrderSource.STRATEGY,
            self.ctx.strategy_id,
            square_off=purpose != ENTRY,
        )
        self._send(request, now)

    def _send(self, request: OrderRequest, now: int) -> None:
        """Place ``request`` and count it against its leg at once: the bus tells of the order
        only after the current event, and a second look before then must see it working."""
        outcome = self.ctx.api.place(request)
        if outcome.order_id is None:
            tagged = read_tag(request.tag)
            assert tagged is not None
            self._leg_failed(self.legs[tagged[0] - 1], f"order refused: {outcome.reason}")
            return
        known = self._adopt(outcome.order_id, request, now)
        assert known is not None
        leg, order = known
        if not outcome:
            order.status = OrderStatus.DENIED
            self._order_dead(leg, order, f"refused: {outcome.reason}")

    def _marketable(self, leg: LegRun, side: Side) -> int | None:
        """A limit that crosses the spread by the buffer, on the tick; None without a price."""
        base = (leg.ask if side is Side.BUY else leg.bid) or leg.ltp
        if base <= 0:
            return None
        buffer = self.spec.execution.limit_buffer_pct
        if side is Side.BUY:
            return _on_tick(Decimal(base) * (100 + buffer) / 100, leg.tick_size, ROUND_CEILING)
        return max(
            leg.tick_size,
            _on_tick(Decimal(base) * (100 - buffer) / 100, leg.tick_size, ROUND_FLOOR),
        )

    def _adopt(
        self, order_id: OrderId, request: OrderRequest, ts_ns: int
    ) -> tuple[LegRun, LegOrder] | None:
        known = self._orders.get(order_id)
        if known is not None:
            return known
        tagged = read_tag(request.tag)
        if tagged is None or not 1 <= tagged[0] <= len(self.legs):
            return None
        leg = self.legs[tagged[0] - 1]
        order = LegOrder(order_id, tagged[1], request.quantity, request.side, since_ns=ts_ns)
        leg.orders.append(order)
        leg.numbers = max(leg.numbers, tagged[2])
        self._orders[order_id] = (leg, order)
        return leg, order

    def _chase(self, now: int) -> None:
        execution = self.spec.execution
        after = int(execution.chase_after * NS)
        for leg, order in list(self._orders.values()):
            if not order.live or not order.acknowledged or order.at_market:
                continue
            if (order.purpose == STOP) != order.exiting:
                continue  # a stop resting at the broker, or an entry being cancelled
            if now - order.since_ns < after:
                continue
            if self._ended_in_book(order):
                continue  # filled or ended while this event was handled: its news is on its way
            side = order.side
            if order.chases < execution.chase_retries:
                price = self._marketable(leg, side)
                if price is None:
                    continue
                order.chases += 1
                order.since_ns = now
                outcome = self.ctx.api.modify(order.order_id, price=Decimal(price) / 100)
                if not outcome:
                    self._say(f"leg {leg.n}: re-pricing {order.order_id} refused: {outcome.reason}")
            elif execution.then_market:
                order.at_market = True
                order.since_ns = now
                outcome = self.ctx.api.modify(order.order_id, order_type=OrderType.MARKET)
                if not outcome:
                    order.at_market = False
                    self._say(
                        f"leg {leg.n}: market order for {order.order_id} refused: {outcome.reason}"
                    )

    def _ended_in_book(self, order: LegOrder) -> bool:
        """Whether the order book has the order ended while this portfolio has not heard so
        yet: the bus tells strategies of a fill after the tick that caused it, so a stop that
        filled on this tick still looks live here, and modifying it would be refused."""
        booked = self.ctx.api.order(order.order_id)
        return booked is not None and booked.status.is_terminal

    def _withdraw(self, order: LegOrder) -> None:
        """Cancel a working order of ours; one the broker has not acknowledged yet is cancelled
        as soon as it is."""
        order.exiting = True  # its end is ours, not a failure
        if order.cancel_sent or not order.live:
            return
        if self.ctx.api.cancel(order.order_id):
            order.cancel_sent = True

    def _drop_queued_entries(self) -> None:
        self._outbox_entries.clear()

    def _arm_broker_stop(self, leg: LegRun) -> None:
        at_broker = self.spec.at_broker
        level: Decimal | None = None
        if at_broker.leg_stops and leg.stop is not None:
            level = leg.stop
        elif at_broker.catastrophe_pct is not None and leg.sign < 0:
            entry = leg.average_entry
            assert entry is not None
            level = entry * 100 * (100 + at_broker.catastrophe_pct) / 100
        # Only what no live stop covers: after a restart some slices' stops may rest at the
        # broker while others (queued by the throttle, never sent) were cancelled.
        uncovered = abs(leg.position) - leg.working(STOP)
        if level is None or uncovered <= 0:
            return
        side = leg.exit_side
        gap = at_broker.limit_gap_pct
        for quantity in self._slices(leg, uncovered):
            trigger, limit = _stop_limit(level, side, gap, leg.tick_size)
            request = OrderRequest(
                InstrumentToken(leg.token),
                side,
                quantity,
                OrderType.SL,
                Product(self.spec.defaults.product),
                Validity.DAY,
                Paise(limit),
                Paise(trigger),
                leg.next_tag(STOP),
                OrderSource.STRATEGY,
                self.ctx.strategy_id,
                square_off=True,
            )
            self._send(request, self.ctx.time_ns())

    def _move_broker_stop(self, leg: LegRun) -> None:
        if leg.stop is None:
            return
        for order in leg.live_orders(STOP):
            if order.exiting or self._ended_in_book(order):
                continue
            trigger, limit = _stop_limit(
                leg.stop, order.side, self.spec.at_broker.limit_gap_pct, leg.tick_size
            )
            self.ctx.api.modify(
                order.order_id,
                trigger_price=Decimal(trigger) / 100,
                price=Decimal(limit) / 100,
            )


def _on_tick(value: Decimal, tick: int, rounding: str) -> int:
    return int((value / tick).quantize(Decimal(1), rounding=rounding)) * tick


def _stop_limit(level: Decimal, side: Side, gap: Decimal, tick: int) -> tuple[int, int]:
    """(trigger, limit) paise of a stop-limit exit at ``level``, the limit ``gap`` % beyond."""
    if side is Side.BUY:
        trigger = _on_tick(level, tick, ROUND_CEILING)
        return trigger, _on_tick(Decimal(trigger) * (100 + gap) / 100, tick, ROUND_CEILING)
    trigger = max(tick, _on_tick(level, tick, ROUND_FLOOR))
    return trigger, max(tick, _on_tick(Decimal(trigger) * (100 - gap) / 100, tick, ROUND_FLOOR))
