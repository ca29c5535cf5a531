"""How a multileg portfolio's orders go out: every order through the facade (so the one risk
gate) as the portfolio's strategy, tagged with its leg; marketable limits (LTP ± a buffer, on
the tick) re-priced up to ``chase_retries`` times ``chase_after`` seconds apart, then sent at a
market price the gate protects; quantities above the freeze quantity sliced in whole lots, at
most ``slices_per_second`` a second, exits ahead of entries; stops resting at the broker as
stop-limit orders. Sending is "top up to what the leg needs, counting what is already working",
so calling it twice, or again after a restart, never sends anything twice.

A contract a leg still holds at its expiry is closed by the venue, not by the leg: the paper
venue's settlement order comes in the portfolio's name (``engine.brokers.paper.settlement``),
live or, after a restart, from the order book, and is booked as the exit of every leg holding
the contract at the settlement price."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from engine.brokers.paper.settlement import SETTLEMENT_TAG
from engine.domain.events import Severity
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side, Validity
from engine.domain.origin import OrderSource
from engine.domain.values import Paise, rupees_text
from engine.strategies.multileg.base import NS, PortfolioBase
from engine.strategies.multileg.legrun import (
    ENTRY,
    EXIT,
    OUTSIDE,
    SETTLED,
    STOP,
    LegOrder,
    LegRun,
    read_tag,
)
from engine.strategies.multileg.status import LegEvent, LegState


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
            if need > 0:
                need = self._within_account(leg, need)
        if need <= 0:
            return
        outbox = self._outbox_entries if purpose == ENTRY else self._outbox_exits
        for quantity in self._slices(leg, need):
            outbox.append((leg, purpose, quantity))
        self._pump(self.ctx.time_ns())

    def _within_account(self, leg: LegRun, need: int) -> int:
        """``need`` units of exit, capped to what the account holds of the leg's contract in the
        exiting direction less the exits already working or queued on it: an exit never opens a
        position. Flat, the leg was closed outside the portfolio: booked so, and said."""
        net = self._account_net(leg.token)
        if net is None:
            return need
        mine = [other for other in self.legs if other.token == leg.token]
        queued = sum(q for (other, _, q) in self._outbox_exits if other.token == leg.token)
        working = sum(other.working(EXIT, STOP) for other in mine) + queued
        room = max(0, net * leg.sign) - working
        if room >= need:
            return need
        product = self.spec.defaults.product
        if room <= 0 and not working:
            self._closed_outside(
                leg,
                f"not exited here: the account holds no {leg.symbol} {product} (closed outside "
                f"this portfolio); booked at its last price ₹{rupees_text(leg.ltp)}",
            )
            return 0
        if room > 0:
            said = (
                f"exit of {need} cut to {room}: the account holds only {room} {leg.symbol} "
                f"{product} to exit"
            )
            if leg.remark != said:
                leg.remark = said
                self._say(f"{self.spec.name}: leg {leg.n} {said}", Severity.WARNING)
        return room

    def _closed_outside(self, leg: LegRun, why: str) -> None:
        """``leg`` was closed outside the portfolio: booked, said, and settled."""
        self._book_outside(leg, why)
        self._say(f"{self.spec.name}: leg {leg.n} {leg.symbol}: {why}", Severity.WARNING)
        self._settle(self.ctx.time_ns())

    def _book_outside(self, leg: LegRun, why: str) -> None:
        """Book what ``leg`` holds as closed outside the portfolio, at its last price."""
        units = abs(leg.position)
        if units:
            closed = LegOrder(
                OrderId(f"{leg.symbol or leg.n}:{OUTSIDE}{leg.numbers}"),
                OUTSIDE,
                units,
                leg.exit_side,
                status=OrderStatus.COMPLETE,
            )
            leg.orders.append(closed)
            leg.fill(closed, units, leg.ltp)
        leg.remark = leg.exit_reason = why

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

    # -- what the order book holds after a restart, and the settlement at expiry ------------------

    def _recover_orders(self) -> bool:
        """This portfolio's orders and fills as the order book has them now, with the venue's
        settlements at expiry of contracts its legs held; whether a leg was settled."""
        api = self.ctx.api
        mine = [o for o in api.orders() if o.strategy == self.ctx.strategy_id]
        settling = {o.order_id: o for o in mine if o.tag == SETTLEMENT_TAG}
        for snapshot in mine:
            tagged = read_tag(snapshot.tag)
            if tagged is None or not 1 <= tagged[0] <= len(self.legs):
                continue
            leg = self.legs[tagged[0] - 1]
            order = LegOrder(
                snapshot.order_id,
                tagged[1],
                snapshot.quantity,
                snapshot.side,
                status=snapshot.status,
                since_ns=self.ctx.time_ns(),
                # A stop no longer a stop order was turned into its leg's exit: chased as one.
                exiting=tagged[1] == STOP and snapshot.order_type not in _STOP_TYPES,
            )
            leg.orders.append(order)
            leg.numbers = max(leg.numbers, tagged[2])
            if not leg.token:
                leg.token = int(snapshot.instrument.token)
                leg.symbol = snapshot.instrument.tradingsymbol
                self._track(leg)
            self._orders[snapshot.order_id] = (leg, order)
        settled_at: dict[OrderId, int] = {}
        for trade in api.trades():
            known = self._orders.get(trade.order_id)
            if known is not None:
                known[0].fill(known[1], trade.quantity, int(trade.price * 100))
            elif trade.order_id in settling:
                settled_at[trade.order_id] = int(trade.price * 100)
        for leg in self.legs:
            if leg.state is LegState.WAITING and leg.orders:
                leg.step(LegEvent.SEND)  # sent just before the stop, not yet saved as sent
        booked = False
        for order_id, price in settled_at.items():  # after every leg's own fills
            venue = settling[order_id]
            token = int(venue.instrument.token)
            booked |= self._book_settlement(order_id, token, venue.side, venue.quantity, price)
        return booked

    def _book_settlement(
        self, order_id: OrderId, token: int, side: Side, quantity: int, price: int
    ) -> bool:
        """The venue settled this portfolio's holding of ``token`` at its expiry with the order
        ``order_id`` (``quantity`` units to ``side`` at ``price`` paise): every leg holding the
        contract has exited at that price, and nothing more is sent for it. False when nothing
        was booked: no leg holds the contract, or the order was booked already (the venue fills
        it in two parts when other owners' holdings offset part of it)."""
        if any(o.order_id == order_id for leg in self.legs for o in leg.orders):
            return False
        holders = [leg for leg in self.legs if leg.token == token and leg.position]
        if not holders:
            return False
        held = sum(leg.position for leg in holders)
        if held != -side.sign * quantity:
            self._say(
                f"{self.spec.name}: the venue settled {quantity} units of {holders[0].symbol} "
                f"for it at expiry, but its legs held {held:+d}; each leg is closed at the "
                "settlement price",
                Severity.WARNING,
            )
        for leg in holders:
            units = abs(leg.position)
            settled = LegOrder(order_id, SETTLED, units, leg.exit_side, status=OrderStatus.COMPLETE)
            leg.orders.append(settled)
            leg.fill(settled, units, price)
            leg.ltp = price
            leg.exit_reason = leg.remark = f"settled at expiry at ₹{rupees_text(price)}"
            if leg.state in (LegState.ENTERING, LegState.ENTERED, LegState.FAILED):
                leg.step(LegEvent.CLOSE)
        # Slices still queued for these legs would go to a contract that takes no orders.
        for outbox in (self._outbox_exits, self._outbox_entries):
            kept = [queued for queued in outbox if all(queued[0] is not h for h in holders)]
            outbox.clear()
            outbox.extend(kept)
        return True


_STOP_TYPES = frozenset({OrderType.SL, OrderType.SL_M})


def _on_tick(value: Decimal, tick: int, rounding: str) -> int:
    return int((value / tick).quantize(Decimal(1), rounding=rounding)) * tick


def _stop_limit(level: Decimal, side: Side, gap: Decimal, tick: int) -> tuple[int, int]:
    """(trigger, limit) paise of a stop-limit exit at ``level``, the limit ``gap`` % beyond."""
    if side is Side.BUY:
        trigger = _on_tick(level, tick, ROUND_CEILING)
        return trigger, _on_tick(Decimal(trigger) * (100 + gap) / 100, tick, ROUND_CEILING)
    trigger = max(tick, _on_tick(level, tick, ROUND_FLOOR))
    return trigger, max(tick, _on_tick(Decimal(trigger) * (100 - gap) / 100, tick, ROUND_FLOOR))
