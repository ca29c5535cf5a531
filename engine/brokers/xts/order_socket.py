"""XTS's interactive socket (kite_xts_apis.md §C.9): order, trade and position events for one
session, over the desk's Socket.IO v2 client (``engine.brokers.xts.socketio_v2``).

It connects to ``<root>/interactive/socket.io`` with the session's token, user id and
``apiType=INTERACTIVE`` (asked for at every attempt, so a reconnect after a new login uses the
new token). Events are JSON strings:

- ``order`` and ``trade`` go to the adapter (``XtsBroker.on_order_event`` / ``on_trade_event``);
- ``position`` is counted only: positions are rebuilt from the fills, and reconciliation compares
  them with XTS's book;
- ``logout`` means another login with the same app key took the session over (§C.13.1): the
  session expires, new orders are held and the desk asks for a login (unless the connection was
  opened with an older token of ours: then our own new login replaced it);
- a refused connection (HTTP 401 or a Socket.IO error) means the token is dead: the same.

Events are not replayed after a reconnect (§C.9): every reconnect asks for a reconciliation
(``on_reconnect``). While the socket is not open the link reads the orderbook instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from engine.brokers.xts.adapter import XtsBroker
from engine.brokers.xts.session import XtsSession
from engine.brokers.xts.socketio_v2 import (
    SocketIOClient,
    SocketIOConfig,
    SocketState,
    SocketStateChange,
)

log = logging.getLogger(__name__)

PATH = "/interactive/socket.io"


class OrderSocket:
    def __init__(
        self,
        session: XtsSession,
        broker: XtsBroker | None,
        *,
        on_reconnect: Callable[[], None],
        config: SocketIOConfig | None = None,
    ) -> None:
        self._session = session
        self._broker = broker
        self._on_reconnect = on_reconnect
        self.positions = 0
        self.logouts = 0
        self.joined = 0
        self._token_used: str | None = None
        """The token the current connection was opened with."""
        self.client = SocketIOClient(
            session.rest.config.base,
            PATH,
            self._query,
            on_event=self.on_event,
            on_connect=self._connected,
            on_state=self._state,
            config=config,
            name="xts-interactive",
        )

    @property
    def connected(self) -> bool:
        return self.client.state is SocketState.OPEN

    def start(self) -> None:
        self.client.start()

    async def renew(self) -> None:
        """A new login: connect again with its token (after a refusal, or in place of the old)."""
        self.client.retry()
        await self.client.reconnect("new login")

    async def stop(self) -> None:
        await self.client.stop()

    def on_event(self, name: str, payload: Any) -> None:
        broker = self._broker
        if name == "order" and broker is not None:
            broker.on_order_event(payload)
        elif name == "trade" and broker is not None:
            broker.on_trade_event(payload)
        elif name == "position":
            self.positions += 1
        elif name == "logout":
            self.logouts += 1
            if self._session.logging_in or (
                self._token_used is not None and self._token_used != self._session.token
            ):
                # The old token's connection hears that our own new login replaced it.
                log.info("XTS ended the previous session after a new login; reconnecting")
                return
            self._session.expire("XTS ended the session: another login with the same app key")
        elif name == "joined":
            self.joined += 1
        elif name == "error":
            log.warning("XTS interactive socket error: %.200s", payload)
        else:
            log.debug("XTS interactive socket event %s ignored", name)

    def _query(self) -> Mapping[str, str]:
        token, user = self._session.token, self._session.user_id
        self._token_used = token
        if token is None or user is None:
            # Not logged in: a query XTS refuses, so the client waits for ``renew``.
            return {"token": "", "userID": "", "apiType": "INTERACTIVE"}
        return {"token": token, "userID": user, "apiType": "INTERACTIVE"}

    async def _connected(self, reconnect: bool) -> None:
        if reconnect:
            self._on_reconnect()

    def _state(self, change: SocketStateChange) -> None:
        if change.state is SocketState.AUTH_REJECTED and self._session.logged_in:
            self._session.expire("XTS refused the token on the interactive socket")
