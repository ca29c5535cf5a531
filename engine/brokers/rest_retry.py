"""How a live broker's REST client retries (Kite, XTS): reads again after a time-out, a 429 or a
5xx, with exponential backoff; an order action never (the client decides what a doubt means).

A client raises ``Retryable`` around the error a failed attempt would end with; ``read_retrying``
tries again until the settings' ``get_retries`` are spent and then raises that error. The
settings are fields of each broker's REST config (``RestRetries``), checked by
``check_retries``; ``known_settings`` refuses keys a config does not have.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar

from engine.brokers.base import BrokerError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RestRetries:
    """The retry settings as fields: a broker's REST config inherits them (keyword-only)."""

    get_retries: int = 3
    """Extra attempts of a read after a time-out, 429 or 5xx (order actions are never repeated)."""
    retry_first_delay_s: float = 0.5
    retry_max_delay_s: float = 4.0
    place_check_attempts: int = 3
    """After a place whose outcome is unknown, how many times the orderbook is searched for it."""
    place_check_interval_s: float = 1.0

    def __post_init__(self) -> None:
        check_retries(self)


class RetrySettings(Protocol):
    @property
    def get_retries(self) -> int:
        """Extra attempts of a read after a time-out, 429 or 5xx."""
        ...

    @property
    def retry_first_delay_s(self) -> float: ...

    @property
    def retry_max_delay_s(self) -> float: ...

    @property
    def place_check_attempts(self) -> int:
        """After a place whose outcome is unknown, how often the orderbook is searched for it."""
        ...

    @property
    def place_check_interval_s(self) -> float: ...


class Retryable(Exception):
    """A failed attempt worth another (time-out, 429, 5xx), carrying the error it ends with."""

    def __init__(self, error: BrokerError, *, rate_limited: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.rate_limited = rate_limited


def check_retries(settings: RetrySettings) -> None:
    """``ValueError`` for settings no client can use."""
    if settings.get_retries < 0 or settings.place_check_attempts < 1:
        raise ValueError("get_retries must be >= 0 and place_check_attempts >= 1")
    if (
        settings.retry_first_delay_s <= 0
        or settings.retry_max_delay_s < settings.retry_first_delay_s
    ):
        raise ValueError("retry delays must be > 0 and max >= first")
    if settings.place_check_interval_s < 0:
        raise ValueError("place_check_interval_s must be >= 0")


async def read_retrying(
    settings: RetrySettings,
    attempt: Callable[[], Awaitable[T]],
    on_retry: Callable[[], None],
) -> T:
    """``attempt()`` until it succeeds, raises something else than ``Retryable``, or the
    retries are spent (then the last attempt's error)."""
    for number in range(settings.get_retries + 1):
        try:
            return await attempt()
        except Retryable as retry:
            if number == settings.get_retries:
                raise retry.error from None
            on_retry()
            delay = min(settings.retry_first_delay_s * 2**number, settings.retry_max_delay_s)
            log.info("%s; retry %d in %.1fs", retry.error, number + 1, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def known_settings(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` if every key is a field of the config ``cls``; else ``ValueError`` naming them."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} settings: {', '.join(unknown)}")
    return values
