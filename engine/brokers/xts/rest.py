"""XTS interactive REST on the desk's loop (aiohttp): the envelope, errors in words, rate limits.

Every call waits for a permit of its category (kite_xts_apis.md §C.11: order actions 10 a second
shared, each book 1 a second) and sends ``Authorization: <token>`` (the raw token). The answer is
judged by its body first (§C.13: a dead token may come back as HTTP 200 with ``type: "error"``),
then by its status: a dead token fails every later call fast with ``SessionExpired`` until the
next login (``on_session_expired`` is told once), except that a call refused on a token that a
new login replaced while it was on its way is sent again on the new token; validation errors list
``result.errors[]``.

Retries: reads are retried with backoff after time-outs, 429 and 5xx. An order action (place,
modify, cancel, cancel-all) is never sent twice: a 429 refuses it (``RateLimited``), and any other
doubt (time-out, dropped connection, 5xx) makes a place look for its ``orderUniqueIdentifier`` in
the orderbook; if it is not there the call raises ``OutcomeUnknown`` and reconciliation decides.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from engine.brokers.live import PlacedOrder
from engine.brokers.rate_limit import RateLimiter
from engine.brokers.rest_retry import Retryable, read_retrying
from engine.brokers.xts.config import XtsRestConfig
from engine.brokers.xts.errors import (
    LoginRefused,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    SessionExpired,
    XtsError,
    XtsUnavailable,
    is_token_error,
    readable,
)

log = logging.getLogger(__name__)

MAX_UNIQUE_ID_LENGTH = 20
PREFIX = "/interactive"
BOOKS = ("orderbook", "tradebook", "positions", "holdings", "balance", "cancelall")
"""Calls XTS allows once a second each (§C.11; cancel-all counts as one of them)."""
OFF_LOOP_BYTES = 64 * 1024
"""Answers this long or longer (a busy day's orderbook and tradebook run to megabytes) are decoded
in a worker thread (``decoded``); 64 KB decodes in about half a millisecond."""
SENT_SECRETS = ("appKey", "secretKey")
"""Body fields whose values are credentials: an answer that echoes them (a proxy's error page, a
validation message quoting the request) has them blanked before it becomes an error's words."""


@dataclass(frozen=True, slots=True)
class XtsLogin:
    token: str
    user_id: str
    is_investor_client: bool
    client_codes: tuple[str, ...]

    def __repr__(self) -> str:  # the token never reaches a log line
        return f"XtsLogin(user_id={self.user_id!r}, investor={self.is_investor_client})"


class XtsRest:
    def __init__(
        self,
        config: XtsRestConfig,
        *,
        on_session_expired: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self._on_session_expired = on_session_expired
        self._http: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self.user_id: str | None = None
        self.client_id: str | None = None
        """Sent as ``clientID`` on every call of a dealer login; None for a retail login."""
        c = config
        self.limiters = {
            "orders": RateLimiter("orders", c.orders_per_second),
            "other": RateLimiter("other", c.other_per_second),
            **{book: RateLimiter(book, c.books_per_second) for book in BOOKS},
        }
        self.retries = 0
        self.rate_limited = 0

    # -- session ---------------------------------------------------------------------------------

    @property
    def session_ok(self) -> bool:
        return self._token is not None

    async def login(self, app_key: str, secret_key: str) -> XtsLogin:
        """``POST /interactive/user/session``; ``LoginRefused`` when XTS says no."""
        if not app_key or not secret_key:
            raise ValueError("the XTS login needs the app key and the secret key")
        body = {"appKey": app_key, "secretKey": secret_key, "source": self.config.source}
        try:
            result = await self._call(
                "POST", "/user/session", "other", "log in", body=body, check_session=False
            )
        except (OrderRejected, SessionExpired) as exc:
            raise LoginRefused(str(exc), http_status=exc.http_status, code=exc.code) from exc
        try:
            login = XtsLogin(
                token=str(result["token"]),
                user_id=str(result["userID"]),
                is_investor_client=bool(result.get("isInvestorClient", True)),
                client_codes=tuple(str(c) for c in result.get("clientCodes") or ()),
            )
        except (KeyError, TypeError) as exc:
            raise LoginRefused("XTS answered the login without a token and a user id") from exc
        if not login.token:
            raise LoginRefused("XTS answered the login with an empty token")
        return login

    def use(self, login: XtsLogin, client_id: str | None = None) -> None:
        """Send the calls that follow with this login's token (and dealer client id)."""
        self._token = login.token
        self.user_id = login.user_id
        if login.is_investor_client:
            self.client_id = None
        else:
            self.client_id = client_id or (login.client_codes[0] if login.client_codes else None)
            if not self.client_id:
                raise LoginRefused(
                    "this XTS login is a dealer login: set the client id to trade for"
                )

    def forget(self) -> None:
        self._token = None

    async def logout(self) -> None:
        """``DELETE /interactive/user/session``; the token is forgotten whatever XTS says."""
        try:
            if self._token is not None:
                await self._call("DELETE", "/user/session", "other", "log out", retryable=True)
        finally:
            self._token = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- order actions ---------------------------------------------------------------------------

    async def place_order(self, unique_id: str, params: dict[str, Any]) -> PlacedOrder:
        """Place one order identified by ``unique_id`` (our order id, at most 20 characters)."""
        if not unique_id or len(unique_id) > MAX_UNIQUE_ID_LENGTH or not unique_id.isalnum():
            raise ValueError(f"orderUniqueIdentifier must be 1-20 letters or digits: {unique_id!r}")
        body = {**params, "orderUniqueIdentifier": unique_id}
        try:
            result = await self._call("POST", "/orders", "orders", "place the order", body=body)
            return PlacedOrder(str(_app_order_id(result)))
        except OutcomeUnknown as doubt:  # no reply, a 5xx, or an answer without the order id
            return await self._find_placed(unique_id, doubt)

    async def modify_order(self, params: dict[str, Any]) -> None:
        """``PUT /interactive/orders`` with the order's whole desired state."""
        await self._call("PUT", "/orders", "orders", "modify the order", body=params)

    async def cancel_order(self, app_order_id: str, unique_id: str) -> None:
        query = {"appOrderID": app_order_id, "orderUniqueIdentifier": unique_id}
        await self._call("DELETE", "/orders", "orders", "cancel the order", query=query)

    async def cancel_all(self, segment: str, instrument_id: int) -> Any:
        body = {"exchangeSegment": segment, "exchangeInstrumentID": instrument_id}
        return await self._call("POST", "/orders/cancelall", "cancelall", "cancel all", body=body)

    async def _find_placed(self, unique_id: str, doubt: OutcomeUnknown) -> PlacedOrder:
        for attempt in range(self.config.place_check_attempts):
            if attempt:
                await asyncio.sleep(self.config.place_check_interval_s)
            try:
                book = await self.orders()
            except (XtsUnavailable, RateLimited) as exc:
                log.warning("orderbook check %d for %s failed: %s", attempt + 1, unique_id, exc)
                continue
            for row in book:
                if str(row.get("OrderUniqueIdentifier") or "") == unique_id:
                    app_order_id = _app_order_id(row)
                    log.warning(
                        "place reply lost (%s); order %s found as %s",
                        doubt,
                        unique_id,
                        app_order_id,
                    )
                    return PlacedOrder(str(app_order_id), recovered=True)
        raise OutcomeUnknown(
            f"{doubt.message}; no order {unique_id} in the XTS orderbook after "
            f"{self.config.place_check_attempts} checks. It was not sent again: "
            "reconciliation will show it if XTS has it",
            http_status=doubt.http_status,
            code=doubt.code,
        )

    # -- reads -----------------------------------------------------------------------------------

    async def orders(self) -> list[dict[str, Any]]:
        return _rows(await self._read("GET", "/orders", "orderbook", "fetch the orderbook"))

    async def order_history(self, app_order_id: str) -> list[dict[str, Any]]:
        query = {"appOrderID": app_order_id}
        result = await self._read("GET", "/orders", "orderbook", "fetch the order history", query)
        return _rows(result)

    async def trades(self) -> list[dict[str, Any]]:
        return _rows(await self._read("GET", "/orders/trades", "tradebook", "fetch the trades"))

    async def positions(self, day_or_net: str = "NetWise") -> list[dict[str, Any]]:
        query = {"dayOrNet": day_or_net}
        result = await self._read(
            "GET", "/portfolio/positions", "positions", "fetch the positions", query
        )
        rows = result.get("positionList") if isinstance(result, dict) else result
        return _rows(rows)

    async def holdings(self) -> Any:
        return await self._read("GET", "/portfolio/holdings", "holdings", "fetch the holdings")

    async def balance(self) -> Any:
        return await self._read("GET", "/user/balance", "balance", "fetch the balance")

    async def profile(self) -> Any:
        return await self._read("GET", "/user/profile", "other", "fetch the profile")

    # -- machinery -------------------------------------------------------------------------------

    async def _read(
        self,
        method: str,
        path: str,
        category: str,
        action: str,
        query: dict[str, str] | None = None,
    ) -> Any:
        return await read_retrying(
            self.config,
            lambda: self._call(method, path, category, action, query=query, retryable=True),
            self._count_retry,
        )

    def _count_retry(self) -> None:
        self.retries += 1

    async def _call(
        self,
        method: str,
        path: str,
        category: str,
        action: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
        retryable: bool = False,
        check_session: bool = True,
    ) -> Any:
        while True:
            sent = self._token if check_session else None
            try:
                return await self._send(
                    method, path, category, action, body, query, retryable, check_session
                )
            except SessionExpired:
                if sent is None or self._token in (None, sent):
                    raise
                # Sent on the token of a login since replaced and refused on it before XTS looked
                # at the request (nothing was placed): it goes again on the new login's token.
                log.info("XTS refused %s on the previous token; sending it again", action)

    async def _send(
        self,
        method: str,
        path: str,
        category: str,
        action: str,
        body: dict[str, Any] | None,
        query: dict[str, str] | None,
        retryable: bool,
        check_session: bool,
    ) -> Any:
        headers = {"Content-Type": "application/json"}
        if check_session:
            if self._token is None:
                raise SessionExpired(f"XTS could not {action}: the session has ended; log in again")
            headers["Authorization"] = self._token
        if self.client_id is not None and check_session:
            if body is not None:
                body = {**body, "clientID": self.client_id}
            query = {**(query or {}), "clientID": self.client_id}
        limiter = self.limiters[category]
        await limiter.acquire()
        http = self._session()
        url = f"{self.config.base}{PREFIX}{path}"
        try:
            async with http.request(
                method,
                url,
                params=query,
                data=None if body is None else json.dumps(body),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = readable(action, f"no reply ({type(exc).__name__})", None, None)
            if retryable:
                raise Retryable(XtsUnavailable(message)) from exc
            raise OutcomeUnknown(message) from exc
        sent = headers.get("Authorization")
        secrets = [sent] if sent else []
        secrets += [str(body[key]) for key in SENT_SECRETS if body and body.get(key)]
        envelope = await decoded(raw)
        return self._judge(status, envelope, raw, action, limiter, retryable, sent, secrets)

    def _judge(
        self,
        status: int,
        envelope: Any,
        raw: bytes,
        action: str,
        limiter: RateLimiter,
        retryable: bool,
        sent: str | None,
        secrets: list[str],
    ) -> Any:
        """The call's result, or its error in words (without the credentials it sent)."""
        unreadable = not isinstance(envelope, dict)
        if unreadable:
            text = raw.decode("utf-8", "replace")
            snippet = " ".join(_without(text, secrets).split())[:120] or "an empty body"
            envelope = {"type": "error", "description": f"unreadable answer: {snippet}"}
        kind = str(envelope.get("type") or "").lower()
        code = str(envelope.get("code") or "") or None
        if kind == "success" and status < 400:
            return envelope.get("result")
        if kind != "error" and status < 400 and "result" in envelope:
            return envelope.get("result")  # some deployments leave ``type`` out
        description = _without(str(envelope.get("description") or ""), secrets)
        if is_token_error(description, status):
            self._expired(sent)
            text = readable(action, description or "invalid token", code, status)
            raise SessionExpired(text, http_status=status, code=code)
        reason = _without(_reason(description, envelope.get("result")), secrets)
        message = readable(action, reason, code, status)
        if status == 429 or (code or "").upper() == "RATE_LIMIT_EXCEEDED":
            self.rate_limited += 1
            limiter.hold_off()
            error: XtsError = RateLimited(message, http_status=status, code=code)
            if retryable:
                raise Retryable(error)
            raise error
        if status >= 500 or unreadable:
            # An answer that cannot be read (a gateway's HTML page, even with HTTP 200) says
            # nothing of the order: a doubt for reconciliation, never a refusal, which would
            # leave a live order marked REJECTED at the desk.
            if retryable:
                raise Retryable(XtsUnavailable(message, http_status=status, code=code))
            raise OutcomeUnknown(message, http_status=status, code=code)
        raise OrderRejected(message, http_status=status, code=code)

    def _expired(self, sent: str | None) -> None:
        """XTS refused the token ``sent``: the session ends, unless a new login has replaced
        that token meanwhile (the refusal is then about the old one)."""
        if sent is None or sent != self._token:
            return
        self._token = None
        if self._on_session_expired is not None:
            try:
                self._on_session_expired()
            except Exception:
                log.exception("XTS session-expired callback failed")

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http


async def decoded(raw: bytes) -> Any:
    """The JSON of an answer's body, or None if it is not JSON. A body of ``OFF_LOOP_BYTES`` or
    more is decoded in a worker thread, a smaller one (an order's answer, a profile) on the loop,
    where it takes less than a thread hand-off would."""
    if len(raw) < OFF_LOOP_BYTES:
        return _json(raw)
    return await asyncio.to_thread(_json, raw, _handing_over)


def _json(raw: bytes, object_hook: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    try:
        return json.loads(raw, object_hook=object_hook)
    except ValueError:  # UnicodeDecodeError included
        return None


def _handing_over(row: dict[str, Any]) -> dict[str, Any]:
    """Each decoded object, as it is. json's C decoder never lets go of the GIL by itself, so a
    worker decoding 10 MB would hold the loop's thread as long as on the loop; a Python call per
    object is where the interpreter hands the GIL over at its switch interval (5 ms)."""
    return row


def _without(text: str, secrets: list[str]) -> str:
    """``text`` with each of ``secrets`` blanked, as sent and as JSON would escape it."""
    for secret in secrets:
        for form in {secret, json.dumps(secret)[1:-1]}:
            text = text.replace(form, "***")
    return text


def _reason(description: str, result: Any) -> str:
    """The description, with each validation error of ``result.errors[]`` in words."""
    errors = result.get("errors") if isinstance(result, dict) else None
    if not isinstance(errors, list) or not errors:
        return description
    parts = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        field = error.get("field") or "?"
        messages = error.get("messages") or []
        parts.append(f"{field}: {'; '.join(str(m) for m in messages) or 'invalid'}")
    return f"{description or 'Bad Request'} ({', '.join(parts)})" if parts else description


def _app_order_id(result: Any) -> int:
    try:
        return int(result["AppOrderID"])
    except (KeyError, TypeError, ValueError) as exc:
        raise OutcomeUnknown(f"XTS answered without an AppOrderID: {result!r}") from exc


def _rows(result: Any) -> list[dict[str, Any]]:
    if result in (None, ""):
        return []
    if not isinstance(result, list):
        raise XtsUnavailable(f"XTS answered a book with {type(result).__name__}, not a list")
    return [row for row in result if isinstance(row, dict)]
