"""How a live broker adapter modifies and cancels an order it placed, whatever the broker: the
part of ``LiveBroker`` that changes an order after its place (mixed into the adapter, whose state
it reads).

Both wait for the broker's order id (the place reply) first. A cancel is sent once at a time: a
cancel whose reply was lost (no reply, a 5xx), that could not be sent yet (the place had no
reply), or that the broker turned down while the order is still open there (a 429, a
modification of the order on its way, any refusal) is owed (``engine.brokers.live_owed``) and
sent again after the next reconciliation, with a growing delay, until the broker takes it or the
order ends: never dropped. The trader is told it is not done yet, in the broker's words. A
modify whose reply was lost is read back: the trader is told whether the broker shows the
change. A refused modify is said in the broker's words, unless the order had already ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from engine.brokers.base import BrokerError, OutcomeUnknown, SessionEnded
from engine.brokers.live import HeldRequests, LiveBrokerStats, OrderTracker, Tracked
from engine.brokers.live_owed import Owed
from engine.core.clock import Clock
from engine.domain.events import OrderEvent, OrderStatusChanged, Severity
from engine.domain.ids import BrokerOrderId, OrderId
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderStatus
from engine.domain.values import to_rupees

log = logging.getLogger(__name__)


class AckWait(Protocol):
    """The setting the changes read (each broker's config has it)."""

    @property
    def ack_wait_s(self) -> float: ...


class LiveChanges:
    """Modify and cancel at a live broker (mixed into its adapter)."""

    title: str
    name: str
    config: AckWait
    stats: LiveBrokerStats
    _clock: Clock
    _orders: Callable[[OrderId], Order | None]
    _tracker: OrderTracker
    _held: HeldRequests
    _owed: Owed
    _cancelling: set[OrderId]

    if TYPE_CHECKING:  # the adapter's and ``LiveReports``' own, which this part calls

        async def send_modify(
            self, order: Order, tracked: Tracked, broker_id: BrokerOrderId, change: Modification
        ) -> None: ...

        async def send_cancel(self, tracked: Tracked, broker_id: BrokerOrderId) -> None: ...

        async def refresh(self, order_id: OrderId) -> bool: ...

        def _hold(self, order_id: OrderId, action: str, *, since_ns: int | None = None) -> None: ...

        def _emit(self, event: OrderEvent) -> None: ...

        def _say(self, severity: Severity, text: str) -> None: ...

    async def _modify(self, order_id: OrderId, change: Modification) -> None:
        tracked = self._tracker.track(order_id)
        broker_id = await self._tracker.acknowledged(tracked, self.config.ack_wait_s)
        order = self._orders(order_id)
        if broker_id is None or order is None:
            self._say(
                Severity.WARNING,
                f"modify of {order_id} not sent: {self.title} has not acknowledged the order yet",
            )
            return
        try:
            await self.send_modify(order, tracked, broker_id, change)
            self.stats.modifies += 1
        except SessionEnded:
            self._say(
                Severity.WARNING,
                f"modify of {order_id} not sent: the {self.title} session has ended; "
                "log in and modify it again",
            )
            return
        except OutcomeUnknown as exc:
            await self._modify_unanswered(order_id, change, exc)
            return
        except BrokerError as exc:
            await self._refused_after_the_end(order_id, "modify", exc)
            return
        await self.refresh(order_id)

    async def _modify_unanswered(
        self, order_id: OrderId, change: Modification, exc: BrokerError
    ) -> None:
        """A modify with no reply may or may not have been made: the order is read back and
        its terms compared with the change asked, and the trader is told which."""
        self.stats.unknown_outcomes += 1
        read = await self.refresh(order_id)
        order = self._orders(order_id)
        if order is None or order.status.is_terminal:
            log.info("modify of %s with no reply: the order has ended (%s)", order_id, exc)
            return
        if not read:
            self._say(
                Severity.WARNING,
                f"modify of {order_id}: {exc}, and the order could not be read back: it may or "
                f"may not have been applied; check it in the orderbook once {self.title} answers",
            )
            return
        differences = modify_differences(order, change)
        if differences:
            self._say(
                Severity.WARNING,
                f"modify of {order_id} may not have been applied ({exc}): {self.title} shows "
                f"{differences}; modify it again if you still want the change",
            )
        else:
            self._say(
                Severity.INFO,
                f"modify of {order_id} applied: the reply was lost ({exc}) but {self.title} "
                "shows the new terms",
            )

    async def _cancel(self, order_id: OrderId) -> None:
        """Started by the adapter's ``_cancel_soon``, which has put it in ``_cancelling``."""
        try:
            await self._send_cancel(order_id)
        finally:
            self._cancelling.discard(order_id)

    async def _send_cancel(self, order_id: OrderId) -> None:
        tracked = self._tracker.track(order_id)
        broker_id = await self._tracker.acknowledged(tracked, self.config.ack_wait_s)
        if broker_id is None:
            self._cancel_unacknowledged(order_id)
            return
        try:
            await self.send_cancel(tracked, broker_id)
            self.stats.cancels += 1
        except SessionEnded:
            self._hold(order_id, "cancel")
            return
        except OutcomeUnknown as exc:
            self.stats.unknown_outcomes += 1
            await self.refresh(order_id)
            self._owe_cancel(order_id, f"{exc}; it may not have reached {self.title}")
            return
        except BrokerError as exc:
            await self._cancel_refused(order_id, exc)
            return
        await self.refresh(order_id)

    async def _cancel_refused(self, order_id: OrderId, exc: BrokerError) -> None:
        """The broker turned the cancel down. An order that had already ended there needed none
        (its end is applied). One still open there must still be cancelled: the refusal is
        mostly a passing one (rate limited, a modification of the order on its way), so the
        cancel is owed and sent again, never dropped, and the trader is told it is not done."""
        if await self._ended_there(order_id, "cancel", exc):
            return
        self._owe_cancel(
            order_id, str(exc), again=f"in a moment, and again until {self.title} takes it"
        )

    def _cancel_unacknowledged(self, order_id: OrderId) -> None:
        """A cancel of an order the broker has not acknowledged (its place got no reply yet):
        one that was refused or settled has nothing to cancel, a held one is dropped, and
        otherwise the cancel waits for the broker to show the order."""
        if not self._drop_held_place(order_id):
            self._owe_cancel(order_id, f"{self.title} has not acknowledged the order yet")

    def _drop_held_place(self, order_id: OrderId) -> bool:
        """Cancel a place held while logged out, never sent; whether there was one."""
        if not self._held.take_place(order_id):
            return False
        self._emit(
            OrderStatusChanged(
                order_id,
                self._clock.time_ns(),
                OrderStatus.CANCELLED,
                f"cancelled before it was sent (it was held while logged out of {self.title})",
            )
        )
        return True

    def _owe_cancel(self, order_id: OrderId, why: str, *, again: str = "") -> None:
        """Keep a cancel not done yet (``why``) to send again (``again`` says when)."""
        order = self._orders(order_id)
        if order is None or not order.is_open:
            log.info("cancel of %s not needed: it is no longer open", order_id)
            return
        self._owed.cancels.add(order_id)
        self._say(
            Severity.WARNING,
            f"cancel of {order_id} not done yet: {why}. It is sent again "
            f"{again or f'as soon as {self.title} answers'} (the order stays open until "
            f"{self.title} confirms the cancel)",
        )

    async def _refused_after_the_end(
        self, order_id: OrderId, action: str, exc: BrokerError
    ) -> None:
        """The broker refused a modify: the trader is told (and may modify again), unless the
        order had already ended there (filled, cancelled or rejected before the request
        arrived, its news still on the way): then there was nothing left to change, and the
        order's end is applied. (A refused cancel is owed instead: ``_cancel_refused``.)"""
        if await self._ended_there(order_id, action, exc):
            return
        self._say(Severity.WARNING, f"{action} of {order_id} failed: {exc}")

    async def _ended_there(self, order_id: OrderId, action: str, exc: BrokerError) -> bool:
        """Read the order back after the broker refused ``action`` on it; whether it had
        already ended there (its end is now applied, and the refusal needs nothing more)."""
        await self.refresh(order_id)
        order = self._orders(order_id)
        if order is None or not order.status.is_terminal:
            return False
        log.info(
            "%s of %s not needed: it is %s at %s (%s)",
            action,
            order_id,
            order.status,
            self.title,
            exc,
        )
        return True


def modify_differences(order: Order, change: Modification) -> str:
    """Where the order's terms differ from a change asked ('' when it shows the change)."""
    shown = []
    if change.quantity is not None and order.quantity != change.quantity:
        shown.append(f"quantity {order.quantity}")
    if change.price is not None and order.price != change.price:
        shown.append("no price" if order.price is None else f"price {to_rupees(order.price)}")
    if change.trigger_price is not None and order.trigger_price != change.trigger_price:
        trigger = order.trigger_price
        shown.append("no trigger" if trigger is None else f"trigger {to_rupees(trigger)}")
    if change.order_type is not None and order.order_type is not change.order_type:
        shown.append(f"type {order.order_type.value}")
    return ", ".join(shown)
