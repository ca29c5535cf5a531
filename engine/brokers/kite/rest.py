"""Kite REST through the official ``kiteconnect`` client, made safe for one asyncio loop.

The official client is blocking (``requests``), so every call runs in a bounded thread executor,
after a permit from the rate limiter of its category (kite_xts_apis.md §A.4). Failures become the
exceptions of ``engine.brokers.kite.errors`` with readable messages.

Retries:
- reads (GET) are retried with exponential backoff after timeouts, 429 and 5xx;
- a 429 on a write means Kite refused it before processing: it waits for the next second and is
  sent again (a 429 slows orders down, it never loses them);
- any other doubt on a write (timeout, dropped connection, 5xx) is never resolved by re-sending.
  A place is looked up in the orderbook by its ``tag`` (our order id); if it is not there the
  call raises ``OutcomeUnknown`` and reconciliation decides later.

A reply in a form Kite does not document (no Content-Type, a success without ``data``, data
of the wrong shape, an error without ``error_type``) makes the official client fail with a bare
``KeyError``, ``TypeError``, ``AttributeError``, ``ValueError`` or ``UnboundLocalError``; it is
treated like an HTML 502: a read is retried and ends ``KiteUnavailable``, a write is a doubt
(``OutcomeUnknown``, a place then looked up by its tag).

After a ``TokenException`` every call fails fast with ``SessionExpired`` until
``set_access_token`` (a new login): nothing is sent on a dead session. A request refused on a
token that a new login replaced while it was on its way is sent again on the new token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_exceptions

from engine.brokers.kite.config import KiteRestConfig
from engine.brokers.kite.errors import (
    KiteError,
    KiteUnavailable,
    LoginRefused,
    OrderRejected,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    SessionExpired,
    readable,
)
from engine.brokers.live import PlacedOrder
from engine.brokers.rate_limit import RateLimiter
from engine.brokers.rest_retry import Retryable, read_retrying
from engine.core.clock import IST

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_TAG_LENGTH = 20
RATE_LIMITED_WRITE_RETRIES = 20
"""A write refused with 429 is sent again at most this many times (about as many seconds)."""

UNDOCUMENTED_REPLY_ERRORS: tuple[type[Exception], ...] = (
    LookupError,
    TypeError,
    AttributeError,
    ValueError,
    UnboundLocalError,  # a NameError: the client's orders() on ``"data": null``
)
"""What the official client raises, unwrapped, on a reply it cannot read."""


class UndocumentedReply(ValueError):
    """A reply the client read, but whose data is not of the shape Kite documents."""


def _expect(shape: type, what: str, data: T) -> T:
    if not isinstance(data, shape):
        raise UndocumentedReply(f"{what} was {_kind(data)}, not {_kind(shape())}")
    return data


def _kind(value: object) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", type(None): "null"}
    return kinds.get(type(value), "a number" if isinstance(value, int | float) else "unknown")


def undocumented_reply(exc: Exception) -> str:
    """In words, what was wrong with a reply the client failed on with ``exc``."""
    if isinstance(exc, UndocumentedReply):
        return str(exc)
    if isinstance(exc, KeyError) and exc.args:
        key = str(exc.args[0])
        if key.lower() == "content-type":
            return "a reply without a Content-Type"
        return f"a reply without its {key!r} field"
    return "a reply whose data is not of the documented shape"


class KiteRest:
    def __init__(
        self,
        api_key: str,
        *,
        access_token: str | None = None,
        config: KiteRestConfig | None = None,
        on_session_expired: Callable[[], None] | None = None,
        client: KiteConnect | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("Kite REST needs an api_key")
        self.config = config or KiteRestConfig()
        self._kite = client or KiteConnect(
            api_key, access_token=access_token, root=self.config.root, timeout=self.config.timeout_s
        )
        if client is not None and access_token:
            self._kite.set_access_token(access_token)
        self._on_session_expired = on_session_expired
        self._session_ok = access_token is not None
        self._executor = ThreadPoolExecutor(
            max_workers=self.config.threads, thread_name_prefix="kite-rest"
        )
        c = self.config
        self.limiters = {
            "orders": RateLimiter("orders", c.orders_per_second, per_minute=c.orders_per_minute),
            "quote": RateLimiter("quote", c.quote_per_second),
            "historical": RateLimiter("historical", c.historical_per_second),
            "other": RateLimiter("other", c.other_per_second),
        }
        self.retries = 0
        self.rate_limited = 0

    # -- session ---------------------------------------------------------------------------------

    @property
    def session_ok(self) -> bool:
        return self._session_ok

    async def generate_session(self, request_token: str, api_secret: str) -> dict[str, Any]:
        """Exchange the login redirect's request_token (checksum with the secret) for a session."""
        if not request_token or not api_secret:
            raise ValueError("the session exchange needs a request_token and the api_secret")
        data: dict[str, Any] = await self._call(
            "other",
            "log in",
            lambda: self._kite.generate_session(request_token, api_secret),
            check_session=False,
            login=True,
        )
        self._session_ok = True
        return data

    def set_access_token(self, access_token: str) -> None:
        if not access_token:
            raise ValueError("empty access token")
        self._kite.set_access_token(access_token)
        self._session_ok = True

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- orders ----------------------------------------------------------------------------------

    async def place_order(
        self, *, tag: str, variety: str = "regular", **params: Any
    ) -> PlacedOrder:
        """Place one order tagged with our order id (``tag``, at most 20 characters).

        ``params`` are the official client's (exchange, tradingsymbol, transaction_type, quantity,
        product, order_type, price, trigger_price, market_protection, iceberg_legs, ...).
        """
        if not tag or len(tag) > MAX_TAG_LENGTH or not tag.isalnum():
            raise ValueError(f"order tag must be 1-{MAX_TAG_LENGTH} letters or digits: {tag!r}")
        try:
            order_id = await self._write(
                "place the order",
                lambda: self._kite.place_order(variety=variety, tag=tag, **params),
            )
        except OutcomeUnknown as doubt:
            return await self._find_placed(tag, doubt)
        return PlacedOrder(str(order_id))

    async def modify_order(self, variety: str, order_id: str, **params: Any) -> str:
        result = await self._write(
            "modify the order",
            lambda: self._kite.modify_order(variety=variety, order_id=order_id, **params),
        )
        return str(result)

    async def cancel_order(
        self, variety: str, order_id: str, parent_order_id: str | None = None
    ) -> str:
        result = await self._write(
            "cancel the order",
            lambda: self._kite.cancel_order(
                variety=variety, order_id=order_id, parent_order_id=parent_order_id
            ),
        )
        return str(result)

    # -- GTT (§A.15) -----------------------------------------------------------------------------

    async def place_gtt(self, **arguments: Any) -> int:
        """``POST /gtt/triggers`` with the official client's arguments; Kite's trigger id. A
        lost reply is not sent again (``OutcomeUnknown``): the GTT list shows whether it exists."""
        return await self._write(
            "place the GTT", lambda: _trigger_id(self._kite.place_gtt(**arguments))
        )

    async def modify_gtt(self, trigger_id: int, **arguments: Any) -> int:
        return await self._write(
            "modify the GTT", lambda: _trigger_id(self._kite.modify_gtt(trigger_id, **arguments))
        )

    async def delete_gtt(self, trigger_id: int) -> int:
        return await self._write(
            "delete the GTT", lambda: _trigger_id(self._kite.delete_gtt(trigger_id))
        )

    async def gtts(self) -> list[dict[str, Any]]:
        return await self._read("other", "fetch the GTTs", self._kite.get_gtts, list)

    async def _find_placed(self, tag: str, doubt: OutcomeUnknown) -> PlacedOrder:
        for attempt in range(self.config.place_check_attempts):
            if attempt:
                await asyncio.sleep(self.config.place_check_interval_s)
            try:
                book = await self.orders()
            except (KiteUnavailable, RateLimited) as exc:
                log.warning("orderbook check %d for tag %s failed: %s", attempt + 1, tag, exc)
                continue
            except KiteError as exc:
                # The place may be at Kite: a refusal of the lookup (an ended session) must not
                # read as a refusal of the place, which would be held and sent a second time.
                raise OutcomeUnknown(
                    f"{doubt.message}; the orderbook could not be searched for tag {tag} "
                    f"({exc}). It was not sent again: reconciliation will show it if Kite has it",
                    tag=tag,
                    http_status=doubt.http_status,
                    error_type=doubt.error_type,
                ) from exc
            matches = [
                row
                for row in book
                if isinstance(row, dict) and row.get("tag") == tag and row.get("order_id")
            ]
            if matches:
                order_id = str(matches[0]["order_id"])
                log.warning("place reply lost (%s); order %s found by tag %s", doubt, order_id, tag)
                return PlacedOrder(order_id, recovered=True)
        raise OutcomeUnknown(
            f"{doubt.message}; no order tagged {tag} in the orderbook after "
            f"{self.config.place_check_attempts} checks. It was not sent again: "
            "reconciliation will show it if Kite has it",
            tag=tag,
            http_status=doubt.http_status,
            error_type=doubt.error_type,
        )

    # -- reads -----------------------------------------------------------------------------------

    async def orders(self) -> list[dict[str, Any]]:
        return await self._read("other", "fetch the orderbook", self._kite.orders, list)

    async def order_history(self, order_id: str) -> list[dict[str, Any]]:
        return await self._read(
            "other", "fetch the order history", lambda: self._kite.order_history(order_id), list
        )

    async def trades(self) -> list[dict[str, Any]]:
        return await self._read("other", "fetch the trades", self._kite.trades, list)

    async def order_trades(self, order_id: str) -> list[dict[str, Any]]:
        return await self._read(
            "other", "fetch the order's trades", lambda: self._kite.order_trades(order_id), list
        )

    async def positions(self) -> dict[str, list[dict[str, Any]]]:
        return await self._read("other", "fetch the positions", self._kite.positions, dict)

    async def margins(self, segment: str | None = None) -> dict[str, Any]:
        return await self._read(
            "other", "fetch the margins", lambda: self._kite.margins(segment), dict
        )

    async def basket_margins(
        self, orders: list[dict[str, Any]], *, consider_positions: bool = True
    ) -> dict[str, Any]:
        """Kite's margin calculator for a basket (``POST /margins/basket``): ``initial``,
        ``final`` (after spread and hedge benefits, counting the positions held when asked) and
        ``orders``."""
        return await self._read(
            "other",
            "calculate the margin",
            lambda: self._kite.basket_order_margins(orders, consider_positions=consider_positions),
            dict,
        )

    async def profile(self) -> dict[str, Any]:
        return await self._read("other", "fetch the profile", self._kite.profile, dict)

    async def instruments(self, exchange: str | None = None) -> list[dict[str, Any]]:
        return await self._read(
            "other", "download the instruments", lambda: self._kite.instruments(exchange), list
        )

    async def quote(self, *instruments: str) -> dict[str, Any]:
        return await self._read(
            "quote", "fetch quotes", lambda: self._kite.quote(list(instruments)), dict
        )

    async def ltp(self, *instruments: str) -> dict[str, Any]:
        return await self._read(
            "quote", "fetch last prices", lambda: self._kite.ltp(list(instruments)), dict
        )

    async def historical(
        self, token: int, interval: str, from_dt: datetime, to_dt: datetime, oi: bool = False
    ) -> list[list[Any]]:
        """Kite's candle rows (``GET /instruments/historical/:token/:interval``, §A.14) as sent:
        ``[timestamp "YYYY-MM-DDTHH:MM:SS+0530", open, high, low, close, volume(, oi)]``, prices
        in rupees. Both ends are inclusive, as Kite reads them; the span must be within Kite's
        limit for the interval (``engine.brokers.kite.history`` chunks a longer range).

        Paced by the historical limiter (3 a second, waiting, never dropping); a 429 holds the
        limiter off to the next second and the read is retried.

        The official client's ``historical_data`` makes the same request and then parses every
        timestamp with dateutil, about 65 µs a row: a second of CPU (holding the GIL the UI
        needs) for one 60-day request of minutes. Its request helper is used instead, with the
        same URL, headers and error handling, and the rows are parsed by the caller.
        """
        for moment in (from_dt, to_dt):
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ValueError(f"candle ranges need aware datetimes, got {moment!r}")
        # Kite reads from/to as IST wall-clock times, whatever zone the caller's datetimes are in.
        start, end = (m.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S") for m in (from_dt, to_dt))
        params = {"from": start, "to": end, "interval": interval, "continuous": 0, "oi": int(oi)}
        return await self._read(
            "historical",
            "fetch the candles",
            lambda: self._kite._get(
                "market.historical",
                url_args={"instrument_token": token, "interval": interval},
                params=params,
            )["candles"],
            list,
        )

    # -- machinery -------------------------------------------------------------------------------

    async def _read(self, category: str, action: str, call: Callable[[], T], shape: type) -> T:
        """``call`` retried as a read; its data must be a ``shape`` (list or dict), as documented."""
        return await read_retrying(
            self.config,
            lambda: self._call(
                category, action, lambda: _expect(shape, "the data", call()), retryable=True
            ),
            self._count_retry,
        )

    def _count_retry(self) -> None:
        self.retries += 1

    async def _write(self, action: str, call: Callable[[], T]) -> T:
        for _ in range(RATE_LIMITED_WRITE_RETRIES + 1):
            try:
                return await self._call("orders", action, call, retryable=False)
            except Retryable as retry:
                # Only a 429 comes back here for a write: Kite refused it unprocessed.
                self.retries += 1
                log.info("%s; sending again after the rate-limit pause", retry.error)
        raise RateLimited(
            readable(action, "still rate limited after repeated pauses", None, 429),
            http_status=429,
        )

    async def _call(
        self,
        category: str,
        action: str,
        call: Callable[[], T],
        *,
        retryable: bool = False,
        check_session: bool = True,
        login: bool = False,
    ) -> T:
        """``login``: the login exchange, whose refusal is the login's (``LoginRefused``), never
        the session's: the session the desk holds, if any, stands."""
        if check_session and not self._session_ok:
            raise SessionExpired(
                f"Kite could not {action}: the session has expired; log in again",
                http_status=403,
                error_type="TokenException",
            )
        limiter = self.limiters[category]
        await limiter.acquire()
        loop = asyncio.get_running_loop()
        sent = self._kite.access_token
        try:
            return await loop.run_in_executor(self._executor, call)
        except kite_exceptions.KiteException as exc:
            token_refused = isinstance(exc, kite_exceptions.TokenException)
            if token_refused and login:
                raise _login_refused(exc, action) from exc
            if token_refused and sent != self._kite.access_token:
                # Sent on the token of an earlier login and refused on it before Kite looked at
                # the request (nothing was placed): the session is the new login's, and the
                # request goes again on its token.
                log.info("Kite refused %s on the previous access token; sending it again", action)
                return await self._call(
                    category, action, call, retryable=retryable, check_session=check_session
                )
            raise self._classify(exc, action, limiter, retryable) from exc
        except requests.RequestException as exc:
            message = readable(action, f"no reply ({type(exc).__name__})", None, None)
            if retryable:
                raise Retryable(KiteUnavailable(message), rate_limited=False) from exc
            raise OutcomeUnknown(message) from exc
        except UNDOCUMENTED_REPLY_ERRORS as exc:
            # Like an HTML 502 (which the client turns into a DataException): the reply says
            # nothing reliable, so a read is tried again and a write's outcome is unknown.
            log.warning("Kite's reply to %s is not in a documented form", action, exc_info=exc)
            message = (
                f"Kite answered in a form it does not document when asked to {action}: "
                f"{undocumented_reply(exc)}"
            )
            if retryable:
                raise Retryable(KiteUnavailable(message), rate_limited=False) from exc
            raise OutcomeUnknown(message) from exc

    def _classify(
        self,
        exc: kite_exceptions.KiteException,
        action: str,
        limiter: RateLimiter,
        retryable: bool,
    ) -> Exception:
        status = int(exc.code)
        error_type = type(exc).__name__
        message = readable(action, str(exc), error_type, status)
        if status == 429:
            self.rate_limited += 1
            limiter.hold_off()
            return Retryable(RateLimited(message, http_status=status), rate_limited=True)
        if isinstance(exc, kite_exceptions.TokenException):
            self._session_ok = False
            if self._on_session_expired is not None:
                try:
                    self._on_session_expired()
                except Exception:
                    log.exception("session-expired callback failed")
            return SessionExpired(message, http_status=status, error_type=error_type)
        if isinstance(exc, kite_exceptions.PermissionException):
            return PermissionDenied(message, http_status=status, error_type=error_type)
        if 400 <= status < 500:
            return OrderRejected(message, http_status=status, error_type=error_type)
        if retryable:
            return Retryable(
                KiteUnavailable(message, http_status=status, error_type=error_type),
                rate_limited=False,
            )
        return OutcomeUnknown(message, http_status=status, error_type=error_type)


def _login_refused(exc: kite_exceptions.KiteException, action: str) -> LoginRefused:
    status, text = int(exc.code), str(exc)
    if "checksum" in text.lower():
        advice = "the API secret is not the API key's: check both in Settings → Brokers"
    else:
        advice = "this login link was used already or has expired: log in again"
    message = f"{readable(action, text, type(exc).__name__, status)}; {advice}"
    return LoginRefused(message, http_status=status, error_type=type(exc).__name__)


def _trigger_id(data: Any) -> int:
    """The trigger id of a GTT write's reply (``{"trigger_id": 123}``)."""
    return int(_expect(dict, "the data", data)["trigger_id"])
