"""One engine's link to Kite: the session, the ticker feed, the broker adapter and reconciliation.

The runtime builds it in two steps (``make_broker`` before the order manager exists, ``attach``
after) and runs ``run`` as an engine task:

    not logged in ─▶ ConnectionChanged(broker, "login required") ─▶ wait for a login
    logged in     ─▶ ticker started (or given the new token), watched instruments resubscribed,
                     adapter resumed (reconcile, then held orders), expiry checked every second,
                     unresolved places reconciled after their grace period (cancels and fills
                     still owed too, with a growing delay), the funds read every 30 s and soon
                     after fills (``engine.brokers.kite.funds``)
    expired       ─▶ adapter paused, back to waiting for a login

With ``make_broker`` skipped the link is a market-data feed only (paper trading on Kite's data).
Either way it is a history source (``engine.marketdata.history.HistorySource``): ``candles``
reads Kite's historical API through the session's REST client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from engine.brokers.base import Reconciliation
from engine.brokers.kite.adapter import KiteBroker, KiteBrokerConfig
from engine.brokers.kite.config import KiteTickerConfig
from engine.brokers.kite.feed import KiteFeed
from engine.brokers.kite.funds import FundsWatch
from engine.brokers.kite.history import KiteHistory
from engine.brokers.kite.instruments_cache import InstrumentsCache, rest_fetch
from engine.brokers.kite.instruments_csv import LoadResult
from engine.brokers.kite.session import KiteSession
from engine.brokers.kite.ticker import MODE_FULL, MODES
from engine.brokers.kite.ticker_state import ConnectionState
from engine.brokers.live_link import LiveLink
from engine.core.clock import Clock
from engine.domain.bars import Bar, Timeframe
from engine.domain.events import ConnectionChanged, EngineMessage, Severity
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.ticks import Tick

log = logging.getLogger(__name__)


class KiteLink(LiveLink):
    title = "Kite"

    def __init__(
        self,
        session: KiteSession,
        *,
        clock: Clock,
        ticker_config: KiteTickerConfig | None = None,
        broker_config: KiteBrokerConfig | None = None,
    ) -> None:
        super().__init__(session, clock)
        self.session = session
        self._ticker_config = ticker_config
        self._broker_config = broker_config
        self.broker: KiteBroker | None = None
        self.feed: KiteFeed | None = None
        self.funds: FundsWatch | None = None
        self.history = KiteHistory(session.rest)
        """Kite's historical candles, paced by the REST client's historical limiter."""
        self._watched: dict[int, str] = {}
        self._on_tick: Callable[[Tick], None] | None = None
        self.feed_connects = 0
        """Logins the feed has been started or given a new token for."""

    # -- building --------------------------------------------------------------------------------

    def make_broker(
        self,
        *,
        instruments: Callable[[InstrumentToken], Instrument | None],
        publish: Callable[[object], None],
    ) -> KiteBroker:
        """The order manager's broker; paused until the first login."""
        self.broker = KiteBroker(
            self.session.rest,
            instruments=instruments,
            clock=self._clock,
            publish=publish,
            config=self._broker_config,
        )
        return self.broker

    def attach(
        self,
        *,
        publish: Callable[[object], None],
        orders: Callable[[], dict[OrderId, Order]],
        reconciliation: Reconciliation | None = None,
    ) -> None:
        """Where events go, and (with a broker) the order manager's orders, the reconciliation
        run at every login and reconnect, and the funds watch."""
        super().attach(publish=publish, orders=orders, reconciliation=reconciliation)
        if self.broker is not None:
            broker = self.broker
            self.funds = FundsWatch(
                self.session.rest,
                fills=lambda: broker.stats.fills,
                publish=publish,
                now_ns=self._clock.time_ns,
            )
            broker.funds_read = self.funds.seen

    async def load_instruments(
        self, directory: Path | None = None, *, refresh: bool = False
    ) -> LoadResult:
        """The day's instruments master: cached on disk, downloaded once a day (needs a login
        when today's file is not there yet)."""
        cache = InstrumentsCache(
            rest_fetch(self.session.rest), clock=self._clock, directory=directory
        )
        if (refresh or cache.cached() is None) and not self.session.logged_in:
            self._login_required("log in to Kite to download today's instruments")
            await self.session.wait_logged_in()
        return await cache.load(refresh=refresh)

    # -- market data -----------------------------------------------------------------------------

    async def watch(self, tokens: Iterable[int], mode: str = MODE_FULL) -> None:
        """Stream these instruments now and after every reconnect and login."""
        if mode not in MODES:
            raise ValueError(f"unknown ticker mode {mode!r}; use one of {', '.join(MODES)}")
        wanted = list(dict.fromkeys(int(token) for token in tokens))
        if self.feed is not None:
            await self.feed.watch(wanted, mode)  # validates before anything is remembered
        for token in wanted:
            self._watched[token] = mode

    async def unwatch(self, tokens: Iterable[int]) -> None:
        dropped = [int(t) for t in tokens if self._watched.pop(int(t), None) is not None]
        if self.feed is not None and dropped:
            await self.feed.unwatch(dropped)

    @property
    def watched(self) -> dict[int, str]:
        return dict(self._watched)

    async def candles(
        self, token: int, timeframe: Timeframe, start: datetime, end: datetime
    ) -> list[Bar]:
        """Kite's bars of ``[start, end)``, oldest first (a chart's past; needs a login)."""
        return await self.history.candles(token, timeframe, start, end)

    # -- running ---------------------------------------------------------------------------------

    async def run(self, on_tick: Callable[[Tick], None], stop: asyncio.Event) -> None:
        """The link's life until ``stop`` is set (an engine task): ticks go to ``on_tick``."""
        self._on_tick = on_tick
        if not self.session.logged_in and not self.session.resume_saved():
            self._login_required("log in to Kite to trade and to stream prices")
        while not stop.is_set():
            if not self.session.logged_in:
                await self._wait(stop, None)
                continue
            login = self.logins
            await self._connect_feed()
            if self.broker is not None:
                await self.broker.resume("connect" if self.feed_connects == 1 else "login")
            while self.session.logged_in and self.logins == login and not stop.is_set():
                await self._wait(stop, 1.0)
                self.session.check_expiry()
                if self.funds is not None and self.session.logged_in:
                    self.funds.poll()
                broker = self.broker
                if (
                    broker is not None
                    and self.reconciler is not None
                    and broker.wants_reconciliation()
                ):
                    self.reconciler.request("orders with no reply")

    async def close(self) -> None:
        if self.feed is not None:
            await self.feed.stop()
        if self.funds is not None:
            await self.funds.close()
        if self.reconciler is not None:
            await self.reconciler.close()
        if self.broker is not None:
            await self.broker.close()
        await self.session.close()

    async def _connect_feed(self) -> None:
        token = self.session.access_token
        assert token is not None and self._on_tick is not None
        self.feed_connects += 1
        if self.feed is None:
            broker = self.broker
            self.feed = KiteFeed(
                self.session.api_key,
                token,
                clock=self._clock,
                publish=self._on_tick,
                events=self._feed_event,
                on_order_report=broker.on_order_update if broker is not None else None,
                on_reconnect=self._reconnected,
                config=self._ticker_config,
            )
            self.feed.start()
            by_mode: dict[str, list[int]] = {}
            for watched, mode in self._watched.items():
                by_mode.setdefault(mode, []).append(watched)
            for mode, tokens in by_mode.items():
                try:
                    await self.feed.watch(tokens, mode)
                except ValueError as exc:
                    for refused in tokens:
                        self._watched.pop(refused, None)
                    log.error("Kite ticker refused the watched instruments: %s", exc)
                    self._publish(
                        EngineMessage(
                            self._clock.time_ns(), Severity.WARNING, f"not streamed: {exc}", "kite"
                        )
                    )
        else:
            self.feed.set_access_token(token)

    def _feed_event(self, event: object) -> None:
        self._publish(event)
        if (
            isinstance(event, ConnectionChanged)
            and event.state == ConnectionState.AUTH_REJECTED.value
        ):
            self.session.expire("the Kite ticker refused the access token")

    def _reconnected(self) -> None:
        if self.reconciler is not None:
            self.reconciler.request("ticker reconnected")
