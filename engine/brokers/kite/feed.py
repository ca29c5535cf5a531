"""The Kite ticker as the engine's market-data feed and order-update source.

Ticks go to ``publish`` one by one (the engine's feed entry point: quote cache, then the bus);
connection changes become ``ConnectionChanged`` events; order updates become ``OrderReport``s
for the adapter, which applies them through the order state table. An update that cannot be read
is counted and logged, never dropped silently, and never stops the feed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from engine.brokers.kite.config import KiteTickerConfig
from engine.brokers.kite.status_map import KiteDataError, parse_order
from engine.brokers.kite.ticker import MODE_FULL
from engine.brokers.kite.ticker_client import KiteTickerClient
from engine.brokers.kite.ticker_state import ConnectionState, ConnectionStateChange
from engine.core.clock import Clock
from engine.domain.events import ConnectionChanged
from engine.domain.reports import OrderReport
from engine.domain.ticks import Tick

log = logging.getLogger(__name__)


class KiteFeed:
    def __init__(
        self,
        api_key: str,
        access_token: str,
        *,
        clock: Clock,
        publish: Callable[[Tick], None],
        events: Callable[[object], None],
        on_order_report: Callable[[OrderReport], None] | None = None,
        on_reconnect: Callable[[], None] | None = None,
        config: KiteTickerConfig | None = None,
    ) -> None:
        self._clock = clock
        self._publish = publish
        self._events = events
        self._on_order_report = on_order_report
        self._on_reconnect = on_reconnect
        self.unreadable_order_updates = 0
        self.client = KiteTickerClient(
            api_key,
            access_token,
            clock=clock,
            config=config,
            on_ticks=self._ticks,
            on_order_update=self._order_update,
            on_error=self._error,
            on_state=self._state,
        )

    def start(self) -> None:
        self.client.start()

    async def stop(self) -> None:
        await self.client.stop()

    async def watch(self, tokens: Iterable[int], mode: str = MODE_FULL) -> None:
        await self.client.subscribe(tokens, mode)

    async def unwatch(self, tokens: Iterable[int]) -> None:
        await self.client.unsubscribe(tokens)

    def set_access_token(self, access_token: str) -> None:
        self.client.set_access_token(access_token)

    def reconnect(self) -> str:
        """The trader's "Reconnect prices": connections that stopped trying connect again.
        Says what was done, or why nothing needed doing, in words."""
        states = set(self.client.states)
        if ConnectionState.GAVE_UP in states:
            self.client.retry()
            return "Prices: reconnecting to Kite…"
        if ConnectionState.AUTH_REJECTED in states:
            # A retry with the refused token would be refused again: only a login helps.
            return "Prices: Kite refused the access token; log in to Kite to stream prices again"
        if states & {ConnectionState.IDLE, ConnectionState.CONNECTING, ConnectionState.BACKOFF}:
            return "Prices: the Kite ticker is connecting already; it keeps trying by itself"
        if not states or ConnectionState.CLOSED in states:
            return "Prices: the Kite ticker is closed (the desk is closing)"
        return "Prices are streaming: the Kite ticker is connected; nothing to reconnect"

    def _ticks(self, ticks: list[Tick]) -> None:
        publish = self._publish
        for tick in ticks:
            publish(tick)

    def _order_update(self, order: dict[str, Any]) -> None:
        try:
            report = parse_order(order)
        except KiteDataError as exc:
            self.unreadable_order_updates += 1
            log.error("unreadable Kite order update: %s", exc)
            return
        if self._on_order_report is not None:
            self._on_order_report(report)

    def _error(self, text: str) -> None:
        self._events(ConnectionChanged(self._clock.time_ns(), "feed", "error", text))

    def _state(self, change: ConnectionStateChange) -> None:
        detail = f"connection {change.connection}" + (f": {change.detail}" if change.detail else "")
        self._events(ConnectionChanged(self._clock.time_ns(), "feed", change.state.value, detail))
        if change.state is ConnectionState.OPEN and change.reconnect and self._on_reconnect:
            # Order updates sent while the socket was down are lost: the adapter reconciles.
            self._on_reconnect()
