"""One engine's link to XTS: the interactive session, the broker adapter, reconciliation, and the
market-data feed (built by the market-data half and handed in).

The runtime builds it in two steps (``make_broker`` before the order manager exists, ``attach``
after) and runs ``run`` as an engine task:

    not logged in ─▶ ConnectionChanged(broker, "login required") ─▶ wait for a login
    logged in     ─▶ interactive socket connected (or given the new token), adapter resumed
                     (reconcile, then held orders), expiry checked every second, the orderbook
                     read every ``poll_interval_s`` while the socket is not open, a
                     reconciliation at every socket reconnect, unresolved places reconciled
                     after their grace period
    expired       ─▶ adapter paused, back to waiting for a login

The market data is XTS's second app (its own keys and token); its feed runs beside the session
for as long as the link runs and is given the instruments to watch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from engine.brokers.base import BrokerError
from engine.brokers.live_link import LiveLink
from engine.brokers.session_state import SessionChange, SessionState
from engine.brokers.xts.adapter import XtsBroker
from engine.brokers.xts.config import XtsBrokerConfig
from engine.brokers.xts.feed import XtsFeed, XtsFeedConfig
from engine.brokers.xts.marketdata_session import MarketDataSession
from engine.brokers.xts.order_socket import OrderSocket
from engine.brokers.xts.session import XtsSession
from engine.brokers.xts.socketio_v2 import SocketIOConfig
from engine.core.clock import Clock
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument
from engine.domain.ticks import Tick

log = logging.getLogger(__name__)


class XtsLink(LiveLink):
    title = "XTS"

    def __init__(
        self,
        session: XtsSession,
        *,
        clock: Clock,
        broker_config: XtsBrokerConfig | None = None,
        market_data: MarketDataSession | None = None,
        feed_config: XtsFeedConfig | None = None,
        socket_config: SocketIOConfig | None = None,
    ) -> None:
        super().__init__(session, clock)
        self.session = session
        self._broker_config = broker_config or XtsBrokerConfig()
        self.market_data = market_data
        """XTS's market-data app (its own keys and token), when the desk streams XTS prices."""
        self._feed_config = feed_config
        self.feed: XtsFeed | None = None
        self.broker: XtsBroker | None = None
        self._watched: set[int] = set()
        self._feed_task: asyncio.Task[None] | None = None
        self._socket_config = socket_config
        self.socket: OrderSocket | None = None
        """The interactive socket: order events while it is open (else the orderbook is read)."""
        self.connects = 0
        self._renewing: asyncio.Task[None] | None = None
        session.listen(self._on_login)

    # -- building --------------------------------------------------------------------------------

    def make_broker(
        self,
        *,
        instruments: Callable[[InstrumentToken], Instrument | None],
        publish: Callable[[object], None],
    ) -> XtsBroker:
        """The order manager's broker; paused until the first login."""
        self.broker = XtsBroker(
            self.session.rest,
            instruments=instruments,
            clock=self._clock,
            publish=publish,
            config=self._broker_config,
        )
        return self.broker

    # -- market data -----------------------------------------------------------------------------

    async def watch(self, tokens: Iterable[int]) -> None:
        wanted = [int(token) for token in tokens]
        if self.feed is not None:
            await self.feed.watch(wanted)  # validates before anything is remembered
        self._watched.update(wanted)

    async def unwatch(self, tokens: Iterable[int]) -> None:
        dropped = [int(t) for t in tokens if int(t) in self._watched]
        self._watched.difference_update(dropped)
        if self.feed is not None and dropped:
            await self.feed.unwatch(dropped)

    @property
    def watched(self) -> set[int]:
        return set(self._watched)

    # -- running ---------------------------------------------------------------------------------

    async def run(self, on_tick: Callable[[Tick], None], stop: asyncio.Event) -> None:
        """The link's life until ``stop`` is set (an engine task): ticks go to ``on_tick``."""
        if self.market_data is not None and self.feed is None:
            self.feed = XtsFeed(
                self.market_data,
                clock=self._clock,
                publish=on_tick,
                events=self._publish,
                config=self._feed_config,
            )
            await self.feed.watch(self._watched)
            self._feed_task = asyncio.get_running_loop().create_task(
                self.feed.run(on_tick, stop), name="xts-market-data"
            )
        if not self.session.logged_in and not self.session.resume_saved():
            self._login_required("log in to XTS to trade")
        interval = min(1.0, self._broker_config.poll_interval_s)
        while not stop.is_set():
            if not self.session.logged_in:
                await self._wait(stop, None)
                continue
            login = self.logins
            self.connects += 1
            await self._connect_socket()
            if self.broker is not None:
                await self.broker.resume("connect" if self.connects == 1 else "login")
            polled = asyncio.get_running_loop().time()
            while self.session.logged_in and self.logins == login and not stop.is_set():
                await self._wait(stop, interval)
                self.session.check_expiry()
                broker = self.broker
                if broker is None or not self.session.logged_in:
                    continue
                now = asyncio.get_running_loop().time()
                if (
                    not self.socket_connected
                    and now - polled >= self._broker_config.poll_interval_s
                ):
                    polled = now
                    await self._poll(broker)
                if self.reconciler is not None and broker.wants_reconciliation():
                    self.reconciler.request("orders with no reply")

    @property
    def socket_connected(self) -> bool:
        return self.socket is not None and self.socket.connected

    async def _connect_socket(self) -> None:
        if self.socket is None:
            self.socket = OrderSocket(
                self.session,
                self.broker,
                on_reconnect=self._socket_reconnected,
                config=self._socket_config,
            )
            self.socket.start()
        else:
            await self.socket.renew()

    def _on_login(self, change: SessionChange) -> None:
        """A login while logged in already (the old token is dead at XTS): the socket connects
        again with the new one."""
        if change.previous is SessionState.LOGGED_IN and change.state is SessionState.LOGGED_IN:
            socket = self.socket
            if socket is not None:
                self._renewing = asyncio.get_running_loop().create_task(
                    socket.renew(), name="xts-socket-renew"
                )

    def _socket_reconnected(self) -> None:
        if self.reconciler is not None:
            self.reconciler.request("order socket reconnected")

    async def _poll(self, broker: XtsBroker) -> None:
        try:
            await broker.poll_orders()
        except BrokerError as exc:
            log.warning("XTS orderbook not read: %s", exc)

    async def close(self) -> None:
        if self._renewing is not None:
            await asyncio.gather(self._renewing, return_exceptions=True)
        if self.socket is not None:
            await self.socket.stop()
        if self._feed_task is not None:
            self._feed_task.cancel()
            await asyncio.gather(self._feed_task, return_exceptions=True)
        if self.feed is not None:
            await self.feed.close()  # logs the market-data app out
        if self.market_data is not None:
            await self.market_data.close()
        if self.reconciler is not None:
            await self.reconciler.close()
        if self.broker is not None:
            await self.broker.close()
        await self.session.close()
