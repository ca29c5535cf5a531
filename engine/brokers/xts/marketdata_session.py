"""The XTS market-data session over REST: login, logout, subscriptions, master, quotes.

Market data is its own XTS app with its own key pair and token (kite_xts_apis.md §C.2), so this
session knows nothing of the interactive one. Every reply is read from its envelope
``{type, code, description, result}``, never from the HTTP status alone (§C.13.1: a production
deployment answers a dead token with HTTP 200 and ``type: "error"``):

- ``description`` "Invalid Token" (or HTTP 401 with an error body) → ``XtsTokenExpired``, which the
  owner answers with a new login (``login()`` again) and then re-subscribes;
- ``e-session-0002`` on a subscribe → the instrument is already subscribed: a success;
- a subscription refused for the quota (or a request for more instruments than
  ``Remaining_Subscription_Count`` says are left) → ``XtsSubscriptionQuotaExhausted``;
- anything else with ``type: "error"`` → ``XtsMarketDataError`` with the server's words.

The keys and the token are secrets: they never appear in logs, errors or ``repr``. The token goes in
the raw ``Authorization`` header (no "Bearer"), as XTS wants.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from engine.brokers.base import BrokerError, SessionEnded

log = logging.getLogger(__name__)

ALREADY_SUBSCRIBED = "e-session-0002"
MESSAGE_CODES = (1501, 1502, 1505, 1510, 1512)


class XtsMarketDataError(BrokerError):
    """XTS market data refused a request or could not be reached; ``str()`` says why."""

    def __init__(self, message: str, *, code: str = "", http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class XtsTokenExpired(XtsMarketDataError, SessionEnded):
    """The market-data token was refused (expired, or a newer login replaced it): log in again."""


class XtsLoginFailed(XtsMarketDataError):
    """The app key or secret was refused: the trader must fix the keys, retrying will not help."""


class XtsSubscriptionQuotaExhausted(XtsMarketDataError):
    """The app key's subscription quota is used up: unsubscribe something first."""


@dataclass(frozen=True, slots=True)
class XtsMarketDataKeys:
    """Where the broker's XTS lives and the market-data app's keys (from the keyring)."""

    root: str
    """``https://<broker-host>:3000`` (no trailing path)."""
    app_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    source: str = "WEBAPI"
    prefix: str = "/apimarketdata"
    """``/marketdata`` on older deployments."""


@dataclass(frozen=True, slots=True)
class Subscribed:
    """What a subscribe call left: the snapshots it carried and the quota left."""

    snapshots: list[Any]
    """``listQuotes`` entries (JSON strings, as the stream's full events)."""
    remaining: int | None
    """``Remaining_Subscription_Count`` when the server said it."""
    already: bool = False
    """The server answered ``e-session-0002``: these were subscribed before."""


def instruments_body(instruments: Iterable[tuple[int, int]]) -> list[dict[str, int]]:
    return [{"exchangeSegment": seg, "exchangeInstrumentID": iid} for seg, iid in instruments]


class MarketDataSession:
    def __init__(self, keys: XtsMarketDataKeys, *, timeout_s: float = 15.0) -> None:
        if not keys.app_key or not keys.secret_key:
            raise ValueError("the XTS market-data session needs an app key and a secret key")
        self.keys = keys
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self.user_id = ""
        self.remaining_subscriptions: int | None = None
        self.logins = 0

    @property
    def logged_in(self) -> bool:
        return self._token is not None

    @property
    def token(self) -> str:
        """The session token (a secret: for the socket's query only)."""
        if self._token is None:
            raise XtsTokenExpired("not logged in to XTS market data")
        return self._token

    def socket_query(self, broadcast_mode: str = "Partial") -> dict[str, str]:
        return {
            "token": self.token,
            "userID": self.user_id,
            "publishFormat": "JSON",
            "broadcastMode": broadcast_mode,
        }

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- login -----------------------------------------------------------------------------------

    async def login(self) -> None:
        """Log in (again): a new token replaces the old one, which XTS then refuses."""
        body = {
            "appKey": self.keys.app_key,
            "secretKey": self.keys.secret_key,
            "source": self.keys.source,
        }
        self._token = None
        try:
            result = await self._call("POST", "/auth/login", body, auth=False)
        except XtsTokenExpired as exc:
            raise XtsLoginFailed(f"XTS market data refused the login: {exc}") from None
        except XtsMarketDataError as exc:
            if exc.http_status is not None and exc.http_status < 500:
                raise XtsLoginFailed(f"XTS market data refused the login: {exc}") from None
            raise
        if not isinstance(result, dict) or not result.get("token"):
            raise XtsLoginFailed("XTS market data login answered without a token")
        self._token = str(result["token"])
        self.user_id = str(result.get("userID", ""))
        self.logins += 1
        log.info("XTS market data: logged in as %s", self.user_id or "(no user id)")

    async def logout(self) -> None:
        if self._token is None:
            return
        try:
            await self._call("DELETE", "/auth/logout", None)
        except XtsTokenExpired:
            log.info("XTS market data: the token had already ended at logout")
        finally:
            self._token = None

    def expire(self) -> None:
        """Forget the token (the socket or a call said it is dead)."""
        self._token = None

    # -- subscriptions ---------------------------------------------------------------------------

    async def subscribe(
        self, instruments: list[tuple[int, int]], message_code: int, *, fresh: bool = True
    ) -> Subscribed:
        """Subscribe (segment, id) pairs to one message code.

        ``fresh`` instruments are checked against the quota the server last reported before
        anything is sent; a re-subscription after a reconnect (``fresh=False``) is not, since
        what the server still holds does not count twice.
        """
        _check_code(message_code)
        left = self.remaining_subscriptions
        if fresh and left is not None and len(instruments) > left:
            raise XtsSubscriptionQuotaExhausted(
                f"cannot subscribe {len(instruments)} more instruments to {message_code}: "
                f"the app key has {left} subscriptions left; unsubscribe some first"
            )
        body = {"instruments": instruments_body(instruments), "xtsMessageCode": message_code}
        try:
            result = await self._call("POST", "/instruments/subscription", body)
        except XtsMarketDataError as exc:
            if exc.code != ALREADY_SUBSCRIBED:
                raise
            return Subscribed([], self.remaining_subscriptions, already=True)
        result = result if isinstance(result, dict) else {}
        self._note_remaining(result)
        quotes = result.get("listQuotes") or []
        return Subscribed(list(quotes), self.remaining_subscriptions)

    async def unsubscribe(self, instruments: list[tuple[int, int]], message_code: int) -> None:
        _check_code(message_code)
        body = {"instruments": instruments_body(instruments), "xtsMessageCode": message_code}
        result = await self._call("PUT", "/instruments/subscription", body)
        if isinstance(result, dict):
            self._note_remaining(result)

    def _note_remaining(self, result: dict[str, Any]) -> None:
        remaining = result.get("Remaining_Subscription_Count")
        if isinstance(remaining, int | str) and str(remaining).lstrip("-").isdigit():
            self.remaining_subscriptions = int(remaining)

    # -- reference data --------------------------------------------------------------------------

    async def master(self, segments: Iterable[str]) -> str:
        """The instrument master of these segments (``"NSECM"``, ``"NSEFO"``) as its pipe text."""
        result = await self._call(
            "POST", "/instruments/master", {"exchangeSegmentList": list(segments)}
        )
        if not isinstance(result, str):
            raise XtsMarketDataError("XTS market data sent a master that is not text")
        return result

    async def index_list(self, segment_code: int) -> Any:
        """The ``result`` of the index list of a cash segment (1 NSECM, 11 BSECM):
        ``{"exchangeSegment", "indexList": ["NIFTY 50_26000", ...]}``."""
        return await self._call(
            "GET", f"/instruments/indexlist?exchangeSegment={segment_code}", None
        )

    async def quotes(self, instruments: list[tuple[int, int]], message_code: int) -> list[Any]:
        """Snapshots (``listQuotes``, JSON strings) without subscribing."""
        _check_code(message_code)
        body = {
            "instruments": instruments_body(instruments),
            "xtsMessageCode": message_code,
            "publishFormat": "JSON",
        }
        result = await self._call("POST", "/instruments/quotes", body)
        return list(result.get("listQuotes") or []) if isinstance(result, dict) else []

    # -- transport -------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: Any, *, auth: bool = True) -> Any:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = self.token
        url = self.keys.root.rstrip("/") + self.keys.prefix + path
        what = f"{method} {self.keys.prefix}{path}"
        try:
            async with self._http.request(
                method, url, data=None if body is None else json.dumps(body), headers=headers
            ) as reply:
                status, text = reply.status, await reply.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise XtsMarketDataError(
                f"XTS market data could not be reached for {what} ({type(exc).__name__})"
            ) from None
        result = read_envelope(text, status, what)
        if isinstance(result, _Refused):
            if auth and self._token == headers["Authorization"]:
                self._token = None  # unless a newer login replaced it while this call was out
            raise XtsTokenExpired(result.message, code=result.code, http_status=status)
        return result


@dataclass(frozen=True, slots=True)
class _Refused:
    message: str
    code: str


def read_envelope(text: str, status: int, what: str) -> Any:
    """The ``result`` of a success envelope; a ``_Refused`` for a dead token; raises otherwise."""
    try:
        envelope = json.loads(text)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict) or envelope.get("type") not in ("success", "error"):
        raise XtsMarketDataError(
            f"XTS market data answered {what} with HTTP {status} and no XTS envelope",
            http_status=status,
        )
    code = str(envelope.get("code") or "")
    description = str(envelope.get("description") or "no reason given").strip()
    if envelope["type"] == "success":
        return envelope.get("result")
    if "invalid token" in description.lower() or (status == 401 and code != ALREADY_SUBSCRIBED):
        return _Refused(
            f"XTS market data refused the session token for {what}: {description}", code
        )
    message = f"XTS market data refused {what}: {description}" + (f" ({code})" if code else "")
    if _is_quota(description):
        raise XtsSubscriptionQuotaExhausted(message, code=code, http_status=status)
    raise XtsMarketDataError(message, code=code, http_status=status)


def _is_quota(description: str) -> bool:
    text = description.lower()
    return "subscription" in text and any(word in text for word in ("limit", "exceed", "quota"))


def _check_code(message_code: int) -> None:
    if message_code not in MESSAGE_CODES:
        raise ValueError(
            f"XTS message code {message_code} is not one the desk streams "
            f"({', '.join(map(str, MESSAGE_CODES))})"
        )
