"""A small typed client for DalalDesk's local API (``dalaldesk --api-port PORT``).

Synchronous::

    from dalaldesk_client import Client

    desk = Client("http://127.0.0.1:8787", token="...")   # or DALALDESK_API_TOKEN
    placed = desk.place("NSE:RELIANCE", "BUY", lots=1, order_type="LIMIT", price="1550.05",
                        product="MIS", tag="my-script")
    desk.modify(placed["order_id"], price="1549.00")
    desk.cancel(placed["order_id"])
    for event in desk.stream(watch=["NSE:RELIANCE", "NSE:NIFTY 50"], count=10):
        print(event)

Asynchronous: the same calls on ``AsyncClient``, awaited (``async with AsyncClient(...)``), and
``stream`` an async iterator.

What it needs: the REST calls of ``Client`` use the standard library only; ``Client.stream``
needs the ``websockets`` package and ``AsyncClient`` needs ``aiohttp``. A pip install of
DalalDesk brings both; a script in your own Python beside an installed desk needs
``pip install websockets aiohttp`` for them.

Every refusal raises ``ApiError`` with the desk's reason in words and the HTTP status, and two
kinds of it say more:

- ``NoAnswer`` (status 0): no desk answered at the URL, or none within ``timeout``. Nothing is
  retried behind your back. ``place`` gives each order a ``client_order_id`` (or takes yours)
  and the error carries it: placed again with ``client_order_id=error.client_order_id``, the
  desk answers with the first order if it got it (the same day, also after a restart), or
  places it now; never twice.
- ``StreamClosed``: the desk closed the stream while you read it: ``code`` 1001 when the desk
  is closing, 1008 when the script read too slowly and fell too far behind, 1006 when the
  connection dropped; ``reason`` in words. Connect again, and read the orders for what was
  missed.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import secrets
import string
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

__all__ = ["ApiError", "AsyncClient", "Client", "NoAnswer", "StreamClosed"]

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # a library's log: the script's logging decides what shows

TOKEN_VARIABLE = "DALALDESK_API_TOKEN"
TAG_LENGTH = 20
"""The desk's order tag, which a ``client_order_id`` shares (kept as ``tag#id``)."""
CLIENT_ORDER_ID_LENGTH = 8
"""62**8 ids: two of a day's orders sharing one by chance is out of reach."""
HEARTBEAT_S = 20.0
Json = dict[str, Any]

_CLOSE_WORDS = {
    1000: "the desk ended the stream",
    1001: "the desk is closing",
    1006: "the connection dropped without a word from the desk",
    1008: "the script read too slowly and fell too far behind",
    1011: "no answer to the keepalive ping: the desk stopped answering, or the script did not "
    "read the stream for too long",
}
_STATUS_WORDS = {
    401: "wrong token",
    403: "the desk has no API token set (Settings → Signals)",
    503: "the desk cannot read its API token (is the keyring locked?)",
}


class ApiError(Exception):
    """The desk refused the call: ``status`` (HTTP; 0 when no HTTP answer came), ``reason`` (its
    words), ``check`` (the risk check that refused an order, when one did)."""

    def __init__(self, status: int, reason: str, check: str = "") -> None:
        super().__init__(f"{status}: {reason}" if status else reason)
        self.status = status
        self.reason = reason
        self.check = check


class NoAnswer(ApiError):
    """No desk answered (status 0): nothing listens at the URL, the connection broke, or no
    answer came within the client's ``timeout``. From ``place``, ``client_order_id`` is the
    order's id: whether the desk got it is unknown, and placing again with that id is safe."""

    def __init__(self, reason: str, client_order_id: str = "") -> None:
        super().__init__(0, reason)
        self.client_order_id = client_order_id


class StreamClosed(ApiError):
    """The stream ended while the script read it: ``code`` (the WebSocket close code: 1001 the
    desk is closing, 1008 too far behind, 1006 the connection dropped) and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        words = reason or _CLOSE_WORDS.get(code, "no reason given")
        super().__init__(0, f"the stream closed ({code}): {words}")
        self.code = code
        self.reason = words


def _token(token: str | None) -> str:
    found = token or os.environ.get(TOKEN_VARIABLE)
    if not found:
        raise ValueError(f"give the desk's API token, or set {TOKEN_VARIABLE}")
    return found


def _desk_url(url: str) -> str:
    """The desk's address as given, checked: the client adds ``/api/v1`` to each call."""
    base = url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"the desk's URL is its address, http://127.0.0.1:PORT (the port of --api-port), "
            f"not {url!r}"
        )
    if "/api/v1" in parts.path:
        raise ValueError(
            f"give the desk's address without /api/v1 "
            f"({base[: base.index('/api/v1')]}): the client adds the API's path to each call"
        )
    return base


def _refusal(status: int, raw: bytes, url: str) -> ApiError:
    """The desk's refusal as an ``ApiError``: its JSON reason, else the text it answered with (a
    proxy's page, a server's plain-text error)."""
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        reason = answer.get("error") or answer.get("reason") or _STATUS_WORDS.get(status, "")
        return ApiError(status, reason, answer.get("check", ""))
    if status == 404:
        return ApiError(
            404,
            f"{url} has no such path: it is not the desk's local API (the client's URL is the "
            "desk's address, http://127.0.0.1:PORT, the port of --api-port)",
        )
    text = raw.decode("utf-8", "replace").strip()[:300]
    return ApiError(status, text or _STATUS_WORDS.get(status, "no reason given"))


def _stream_refusal(status: int, url: str) -> ApiError:
    """A stream the desk would not open, in its words (aiohttp keeps no body of the refusal)."""
    if status == 404:
        return _refusal(404, b"", url)
    return ApiError(status, _STATUS_WORDS.get(status, "the desk would not open the stream"))


def _no_answer(
    url: str, timeout: float, error: BaseException, client_order_id: str = ""
) -> NoAnswer:
    """Why no answer came, in words, without the error itself (aiohttp's keep the request's
    headers, and with them the token)."""
    cause = error.reason if isinstance(error, urllib.error.URLError) else error
    cause = getattr(cause, "os_error", None) or cause  # aiohttp's connection errors
    if isinstance(cause, TimeoutError):
        words = f"the desk at {url} did not answer within {timeout:g} s"
    elif isinstance(cause, ConnectionRefusedError):
        words = f"nothing answers at {url}: is the desk running with --api-port?"
    elif isinstance(cause, OSError):
        words = f"no answer from the desk at {url}: {cause.strerror or type(cause).__name__}"
    else:
        words = f"no answer from the desk at {url}: {type(cause).__name__}"
    if client_order_id:
        words += (
            f"; the order's client_order_id is {client_order_id!r}: place it again with it, and "
            "the desk answers with the order if it got it, or places it now"
        )
    return NoAnswer(words, client_order_id)


def _answer(raw: bytes, url: str) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        raise ApiError(0, f"{url} answered with something other than the desk's JSON") from None


def _is_reply(message: Json, wanted: str) -> bool:
    """Whether ``message`` is the stream's reply ``wanted`` (``hello``, ``watching``); an
    ``error`` reply raises ``ApiError``; anything else is an event kept for the caller."""
    kind = message.get("type")
    if kind == "error":
        raise ApiError(422, str(message.get("error") or "the desk refused the command"))
    return kind == wanted


def _fresh_id() -> str:
    return f"api-{uuid.uuid4().hex}"


def _fresh_order_id() -> str:
    letters = string.ascii_letters + string.digits
    return "".join(secrets.choice(letters) for _ in range(CLIENT_ORDER_ID_LENGTH))


def _order_body(
    symbol: str,
    side: str,
    lots: int,
    order_type: str,
    product: str,
    price: Decimal | str | None,
    trigger_price: Decimal | str | None,
    tag: str,
    client_order_id: str | None,
) -> Json:
    own_id = _fresh_order_id() if client_order_id is None else client_order_id
    if own_id and len(tag) + 1 + len(own_id) > TAG_LENGTH:
        raise ValueError(
            f"tag {tag!r} leaves no room for client_order_id {own_id!r}: the two share the "
            f"order's {TAG_LENGTH}-character tag as 'tag#id', so the tag may be at most "
            f"{TAG_LENGTH - 1 - len(own_id)} characters (or give client_order_id='' to place "
            "without one)"
        )
    body: Json = {
        "symbol": symbol, "side": side.upper(), "lots": lots, "order_type": order_type,
        "product": product, "tag": tag,
    }  # fmt: skip
    if price is not None:
        body["price"] = str(price)
    if trigger_price is not None:
        body["trigger_price"] = str(trigger_price)
    if own_id:
        body["client_order_id"] = own_id
    return body


def _changes(lots: int | None, price: Any, trigger_price: Any, order_type: str | None) -> Json:
    values = {
        "lots": lots,
        "price": price,
        "trigger_price": trigger_price,
        "order_type": order_type,
    }
    return {
        k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items() if v is not None
    }


def _signal_body(symbol: str, action: str, lots: int, id: str, strategy: str) -> Json:
    return {"symbol": symbol, "action": action, "lots": lots, "id": id or _fresh_id(),
            "strategy": strategy}  # fmt: skip


def _quotes_path(symbols: tuple[str, ...]) -> str:
    return f"quotes?{urlencode({'symbols': ','.join(symbols)})}"


def _instruments_path(text: str, limit: int) -> str:
    return f"instruments?{urlencode({'q': text, 'limit': limit})}"


class Client:
    """The local API over HTTP with the standard library; ``stream`` needs ``websockets``."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = _desk_url(url)
        self._token = _token(token)
        self.timeout = timeout

    def _call(
        self, method: str, path: str, body: Json | None = None, *, client_order_id: str = ""
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v1/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _refusal(error.code, error.read(), self.url) from None
        except (OSError, http.client.HTTPException) as error:  # URLError and timeouts are OSError
            raise _no_answer(self.url, self.timeout, error, client_order_id) from None
        return _answer(raw, self.url)

    # -- orders --------------------------------------------------------------------------------

    def place(
        self, symbol: str, side: str, lots: int, *, order_type: str = "LIMIT",
        product: str = "NRML", price: Decimal | str | None = None,
        trigger_price: Decimal | str | None = None, tag: str = "",
        client_order_id: str | None = None,
    ) -> Json:  # fmt: skip
        """Place an order (lots, or shares for cash equity); the outcome with ``order_id`` and
        ``client_order_id``. Each call gets an id of its own unless you give one (``''``: none);
        the same id again the same day is answered with the first order (``already_placed``)."""
        body = _order_body(symbol, side, lots, order_type, product, price, trigger_price, tag,
                           client_order_id)  # fmt: skip
        own_id = body.get("client_order_id", "")
        return dict(self._call("POST", "orders", body, client_order_id=own_id))

    def modify(
        self, order_id: str, *, lots: int | None = None, price: Decimal | str | None = None,
        trigger_price: Decimal | str | None = None, order_type: str | None = None,
    ) -> Json:  # fmt: skip
        changes = _changes(lots, price, trigger_price, order_type)
        return dict(self._call("PATCH", f"orders/{quote(order_id)}", changes))

    def cancel(self, order_id: str) -> Json:
        return dict(self._call("DELETE", f"orders/{quote(order_id)}"))

    def orders(self) -> list[Json]:
        return list(self._call("GET", "orders"))

    def order(self, order_id: str) -> Json:
        return dict(self._call("GET", f"orders/{quote(order_id)}"))

    def trades(self) -> list[Json]:
        return list(self._call("GET", "trades"))

    # -- the book, the market, the desk ----------------------------------------------------------

    def positions(self) -> list[Json]:
        return list(self._call("GET", "positions"))

    def funds(self) -> Json:
        return dict(self._call("GET", "funds"))

    def quotes(self, *symbols: str) -> Mapping[str, Json]:
        """Quotes by symbol (``NSE:RELIANCE``; an index such as ``NSE:NIFTY 50`` too)."""
        return dict(self._call("GET", _quotes_path(symbols)))

    def instruments(self, text: str = "", limit: int = 50) -> list[Json]:
        return list(self._call("GET", _instruments_path(text, limit)))

    def signal(self, symbol: str, action: str, lots: int = 1, *, id: str = "",
               strategy: str = "api") -> Json:  # fmt: skip
        """A signal through the desk's pipeline (duplicates, staleness, approval). ``id`` makes a
        resend a duplicate; without one, each call is a signal of its own."""
        return dict(self._call("POST", "signals", _signal_body(symbol, action, lots, id, strategy)))

    def kill_switch(self, *, square_off: bool = False) -> Json:
        return dict(self._call("POST", "kill_switch", {"square_off": square_off}))

    def stream(self, watch: list[str] | None = None, count: int | None = None) -> Iterator[Json]:
        """Order events, signals and the ticks of ``watch``, as they come (``count``: stop after
        that many). A symbol the desk does not know raises ``ApiError``; the desk closing the
        stream raises ``StreamClosed``. Needs the ``websockets`` package."""
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        url = "ws" + self.url.removeprefix("http") + "/api/v1/stream"
        try:
            socket = connect(
                url,
                additional_headers={"Authorization": f"Bearer {self._token}"},
                open_timeout=self.timeout,
                ping_interval=HEARTBEAT_S,
                logger=log.getChild("stream"),  # its failures reach the script as StreamClosed
            )
        except InvalidStatus as refused:
            answer = refused.response
            raise _refusal(answer.status_code, bytes(answer.body or b""), self.url) from None
        except (OSError, WebSocketException) as error:  # refused, timed out, not a WebSocket
            raise _no_answer(self.url, self.timeout, error) from None
        with socket:
            try:
                pending = _opened(lambda: json.loads(socket.recv(self.timeout)), socket.send, watch)
                seen = 0
                while count is None or seen < count:
                    yield pending.popleft() if pending else json.loads(socket.recv())
                    seen += 1
            except ConnectionClosed as closed:
                raise _closed(closed.rcvd, closed.sent) from None
            except TimeoutError:
                raise _no_answer(self.url, self.timeout, TimeoutError()) from None


def _closed(received: Any, sent: Any) -> StreamClosed:
    """The close the desk sent, or the one this client sent (a keepalive that got no answer),
    or 1006 when the connection dropped without either."""
    if received is not None:
        return StreamClosed(received.code, received.reason)
    return StreamClosed(1006 if sent is None else sent.code, "")


def _opened(
    receive: Callable[[], Json], send: Callable[[str], None], watch: list[str] | None
) -> deque[Json]:
    """The stream's opening: its hello, then the reply to ``watch``; the events that came in
    between, kept in order for the caller."""
    pending: deque[Json] = deque()
    while not _is_reply(message := receive(), "hello"):
        pending.append(message)
    if watch:
        send(json.dumps({"watch": list(watch)}))
        while not _is_reply(message := receive(), "watching"):
            pending.append(message)
    return pending


class AsyncClient:
    """The same calls on aiohttp, for asyncio programs (``async with AsyncClient(...)``)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        import aiohttp

        self.url = _desk_url(url)
        self._token = _token(token)
        self.timeout = timeout
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: Any = None

    async def __aenter__(self) -> AsyncClient:
        import aiohttp

        self._http = aiohttp.ClientSession(
            timeout=self._timeout, headers={"Authorization": f"Bearer {self._token}"}
        )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> Any:
        if self._http is None:
            raise RuntimeError("use 'async with AsyncClient(...)'")
        return self._http

    async def _call(
        self, method: str, path: str, body: Json | None = None, *, client_order_id: str = ""
    ) -> Any:
        import aiohttp

        http = self._session()
        try:
            async with http.request(method, f"{self.url}/api/v1/{path}", json=body) as reply:
                status, raw = reply.status, await reply.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            failure = _no_answer(self.url, self.timeout, error, client_order_id)
        else:
            if status >= 400:
                raise _refusal(status, raw, self.url)
            return _answer(raw, self.url)
        # Raised outside the handler: the error keeps nothing of aiohttp's, whose request
        # information holds the Authorization header.
        raise failure

    # -- orders --------------------------------------------------------------------------------

    async def place(
        self, symbol: str, side: str, lots: int, *, order_type: str = "LIMIT",
        product: str = "NRML", price: Decimal | str | None = None,
        trigger_price: Decimal | str | None = None, tag: str = "",
        client_order_id: str | None = None,
    ) -> Json:  # fmt: skip
        """As ``Client.place``."""
        body = _order_body(symbol, side, lots, order_type, product, price, trigger_price, tag,
                           client_order_id)  # fmt: skip
        own_id = body.get("client_order_id", "")
        return dict(await self._call("POST", "orders", body, client_order_id=own_id))

    async def modify(
        self, order_id: str, *, lots: int | None = None, price: Decimal | str | None = None,
        trigger_price: Decimal | str | None = None, order_type: str | None = None,
    ) -> Json:  # fmt: skip
        changes = _changes(lots, price, trigger_price, order_type)
        return dict(await self._call("PATCH", f"orders/{quote(order_id)}", changes))

    async def cancel(self, order_id: str) -> Json:
        return dict(await self._call("DELETE", f"orders/{quote(order_id)}"))

    async def orders(self) -> list[Json]:
        return list(await self._call("GET", "orders"))

    async def order(self, order_id: str) -> Json:
        return dict(await self._call("GET", f"orders/{quote(order_id)}"))

    async def trades(self) -> list[Json]:
        return list(await self._call("GET", "trades"))

    # -- the book, the market, the desk ----------------------------------------------------------

    async def positions(self) -> list[Json]:
        return list(await self._call("GET", "positions"))

    async def funds(self) -> Json:
        return dict(await self._call("GET", "funds"))

    async def quotes(self, *symbols: str) -> Mapping[str, Json]:
        return dict(await self._call("GET", _quotes_path(symbols)))

    async def instruments(self, text: str = "", limit: int = 50) -> list[Json]:
        return list(await self._call("GET", _instruments_path(text, limit)))

    async def signal(self, symbol: str, action: str, lots: int = 1, *, id: str = "",
                     strategy: str = "api") -> Json:  # fmt: skip
        body = _signal_body(symbol, action, lots, id, strategy)
        return dict(await self._call("POST", "signals", body))

    async def kill_switch(self, *, square_off: bool = False) -> Json:
        return dict(await self._call("POST", "kill_switch", {"square_off": square_off}))

    async def stream(
        self, watch: list[str] | None = None, count: int | None = None
    ) -> AsyncIterator[Json]:
        """As ``Client.stream``, an async iterator."""
        import aiohttp

        socket = await self._open_stream()
        async with socket:

            async def receive(timeout: float | None = None) -> Json:
                message = await socket.receive(timeout=timeout)
                if message.type is aiohttp.WSMsgType.TEXT:
                    return dict(json.loads(message.data))
                if message.type is aiohttp.WSMsgType.CLOSE:
                    raise StreamClosed(int(message.data), str(message.extra or ""))
                if message.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG,
                                    aiohttp.WSMsgType.BINARY):  # fmt: skip
                    return await receive(timeout)
                raise StreamClosed(socket.close_code or 1006, "")  # closed, or a broken link

            try:  # the opening, as Client.stream's (``_opened``), awaited
                pending: deque[Json] = deque()
                while not _is_reply(message := await receive(self.timeout), "hello"):
                    pending.append(message)
                if watch:
                    await socket.send_json({"watch": list(watch)})
                    while not _is_reply(message := await receive(self.timeout), "watching"):
                        pending.append(message)
            except TimeoutError:
                raise _no_answer(self.url, self.timeout, TimeoutError()) from None
            except (aiohttp.ClientError, OSError):  # the desk went while the stream opened
                raise StreamClosed(socket.close_code or 1006, "") from None
            seen = 0
            while count is None or seen < count:
                yield pending.popleft() if pending else await receive()
                seen += 1

    async def _open_stream(self) -> Any:
        import aiohttp

        http = self._session()
        try:
            return await http.ws_connect(f"{self.url}/api/v1/stream", heartbeat=HEARTBEAT_S)
        except aiohttp.WSServerHandshakeError as refused:
            failure: ApiError = _stream_refusal(refused.status, self.url)
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            failure = _no_answer(self.url, self.timeout, error)
        # Raised outside the handler: aiohttp's handshake error keeps the request's headers,
        # the token among them, and a traceback or a log line would show them.
        raise failure
