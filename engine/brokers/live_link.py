"""What every live broker's link shares (Kite, XTS): where events go, the adapter's wiring to the
order manager and reconciliation, the session's changes pausing the adapter, and the wait that
wakes on a session change or the stop.

A link subclasses ``LiveLink`` and keeps its own feed, socket and loop (``run``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from engine.brokers.base import Reconciliation
from engine.brokers.live_adapter import LiveBroker
from engine.brokers.session_state import SessionChange, SessionState, SessionStates
from engine.core.clock import Clock
from engine.domain.events import ConnectionChanged
from engine.domain.ids import OrderId
from engine.domain.order import Order

log = logging.getLogger(__name__)


class LiveLink:
    title: str
    broker: LiveBroker | None

    def __init__(self, session: SessionStates, clock: Clock) -> None:
        self._clock = clock
        self.reconciler: Reconciliation | None = None
        self._publish: Callable[[object], None] = self._drop
        self._changed = asyncio.Event()
        self.logins = 0
        """Logins the session has had: the link serves one login at a time. A session that
        expired and was logged into again between two of the link's turns still reads as logged
        in, but it is a new login, whose token the feed must take and for which the held orders
        go out."""
        session.listen(self._on_session)

    def attach(
        self,
        *,
        publish: Callable[[object], None],
        orders: Callable[[], dict[OrderId, Order]],
        reconciliation: Reconciliation | None = None,
    ) -> None:
        """Where events go, and (with a broker) the order manager's orders and the
        reconciliation run at every login and reconnect."""
        self._publish = publish
        self.reconciler = reconciliation
        if self.broker is not None:
            self.broker.attach(
                orders=lambda order_id: orders().get(order_id),
                reconcile=None if reconciliation is None else reconciliation.reconcile,
            )

    def _on_session(self, change: SessionChange) -> None:
        self._changed.set()
        if change.state is SessionState.LOGGED_IN:
            self.logins += 1
            return
        if self.broker is not None:
            self.broker.pause(change.reason)
        else:
            # Paper on the broker's data: no adapter to say it, so the link does.
            self._login_required(change.reason)

    def _login_required(self, reason: str) -> None:
        self._publish(ConnectionChanged(self._clock.time_ns(), "broker", "login required", reason))

    async def _wait(self, stop: asyncio.Event, timeout: float | None) -> None:
        """Until ``stop``, a session change or ``timeout`` seconds, whichever comes first."""
        self._changed.clear()
        waiters = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._changed.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    def _drop(self, event: Any) -> None:
        log.debug("%s link event before attach: %r", self.title, event)
