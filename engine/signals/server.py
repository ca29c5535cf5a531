"""The desk's HTTP endpoint for signals (aiohttp, on the engine's loop): ``POST
/webhook/tradingview``.

It listens on 127.0.0.1 unless the trader chooses another interface. TradingView posts only to
ports 80 and 443 from its own four addresses, so the desk is reached through a tunnel or a
reverse proxy (which deliver from loopback) or, bound to a public interface, only from the
addresses in the allowlist. A request is answered fast and never with a 5xx for a business
refusal (TradingView resends on 5xx): 200 for a placed or duplicate signal, 202 for one waiting
for approval, 4xx with the reason for anything refused. Every refusal is journaled.

A client is given a bounded share of the desk's loop (``ConnectionGuard``): its request line and
headers arrive within ``REQUEST_DEADLINE_S`` or its connection is closed with a 408 (a sender that
trickles headers a byte a minute, slowloris, holds no connection for long), the handlers give a
body ``BODY_TIMEOUT_S``, and one server holds at most ``MAX_CONNECTIONS`` connections, so a flood
of them cannot use up the process's file descriptors.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Callable, Collection

from aiohttp import web

from engine.credentials import CredentialsUnavailable
from engine.signals.connection_guard import (
    IDLE_TIMEOUT_S,
    MAX_CONNECTIONS,
    REQUEST_DEADLINE_S,
    ConnectionGuard,
)
from engine.signals.desk import SignalDesk
from engine.signals.local_api import LocalApi
from engine.signals.tradingview import (
    BODY_TIMEOUT_S,
    MAX_BODY_BYTES,
    TRADINGVIEW_ADDRESSES,
    SignalRefused,
    check_named,
    parse_alert,
)

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhook/tradingview"
SHUTDOWN_TIMEOUT_S = 1.0
"""How long a closing desk waits for requests under way before it cuts them off."""


def allowed(remote: str | None, allowlist: Collection[str]) -> bool:
    """Loopback always (a tunnel or a proxy delivers from there), else only the allowlist."""
    if remote is None:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return address.is_loopback or str(address) in allowlist


class SignalServer:
    def __init__(
        self,
        desk: SignalDesk,
        *,
        passphrase: Callable[[], str | None],
        host: str = "127.0.0.1",
        port: int = 0,
        allowlist: Collection[str] = TRADINGVIEW_ADDRESSES,
        local_api: LocalApi | None = None,
        request_deadline_s: float = REQUEST_DEADLINE_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._desk = desk
        self.local_api = local_api
        self._passphrase = passphrase
        self.host = host
        self.port = port
        self.allowlist = frozenset(allowlist)
        self.guard = ConnectionGuard(
            "signals endpoint", deadline_s=request_deadline_s, max_connections=max_connections
        )
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(
            client_max_size=MAX_BODY_BYTES + 1, middlewares=[self.guard.middleware]
        )
        app.router.add_post(WEBHOOK_PATH, self._tradingview)
        if self.local_api is not None:
            self.local_api.add_routes(app)
        # A request still coming in when the desk closes is cut off at once, not waited on.
        self._runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            keepalive_timeout=IDLE_TIMEOUT_S,
        )
        await self._runner.setup()
        try:
            self._listener = await self.guard.listen(self._runner, self.host, self.port)
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        if self._listener.sockets:
            self.port = int(self._listener.sockets[0].getsockname()[1])
        log.info("signals endpoint listening on %s%s", self.url, WEBHOOK_PATH)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.close()  # no new connections; those open are closed below
            self._listener = None
        if self.local_api is not None:
            for stream in list(self.local_api.streams):
                await stream.close(code=1001, message=b"the desk is closing")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _tradingview(self, request: web.Request) -> web.Response:
        self.requests += 1
        remote = request.remote
        if not allowed(remote, self.allowlist):
            return self._refused(f"the address {remote} is not allowed to send signals", 403, "")
        try:
            body = await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
        except web.HTTPRequestEntityTooLarge:
            return self._refused("the message is larger than 64 KB; a signal is not", 413, "")
        except TimeoutError:
            return self._refused(
                f"the message did not arrive whole within {BODY_TIMEOUT_S:g} s", 408, ""
            )
        body_id = "body-" + hashlib.sha256(body).hexdigest()[:16]
        try:
            alert = parse_alert(body)
        except SignalRefused as refused:
            return self._refused(refused.reason, refused.status, body_id)
        try:
            expected = self._passphrase()
        except CredentialsUnavailable as problem:
            return self._refused(
                f"the desk cannot read its webhook passphrase: {problem}", 503, body_id
            )
        if not expected:
            return self._refused(
                "the desk has no webhook passphrase set (Settings → Signals)", 403, body_id
            )
        given = alert.passphrase.encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(given, expected.encode("utf-8", "surrogateescape")):
            # Journaled under the message's own id: whoever lacks the passphrase must not be able
            # to mark a real signal's id refused (a resend after a restart would then be).
            return self._refused("wrong passphrase", 401, body_id, claimed=alert.signal_id())
        try:
            check_named(alert)
        except SignalRefused as refused:
            return self._refused(refused.reason, refused.status, body_id)
        result = self._desk.receive(alert, origin=str(remote))
        return web.json_response(result.to_json(), status=result.http_status)

    def _refused(
        self, reason: str, status: int, signal_id: str, *, claimed: str = ""
    ) -> web.Response:
        detail = {"source": "tradingview", **({"claimed_id": claimed} if claimed else {})}
        self._desk.refuse(signal_id or "unread", reason, detail)
        return web.json_response(
            {"signal": signal_id or None, "status": "refused", "reason": reason}, status=status
        )
