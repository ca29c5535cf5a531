"""Settings of the XTS interactive (trading) adapter: the broker's root URL, the ``source`` tag,
REST limits and retries, and the order flow's timers.

XTS is white-labelled: every broker (IIFL, Motilal Oswal, Jainam, ...) runs its own server, so the
root URL is per broker and has no default that could be right (kite_xts_apis.md §C). Limits are
RMoney's published numbers (§C.11): 10 order actions a second shared, 1 a second for each book.
Tests point the root at the fake server on 127.0.0.1 and shorten the timers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.brokers.rest_retry import RestRetries, check_retries, known_settings

SOURCES = ("WEBAPI", "WebAPI", "EXTERNAL", "MOBILEAPI")


@dataclass(frozen=True, slots=True, kw_only=True)
class XtsRestConfig(RestRetries):
    root: str
    """The broker's XTS server (``https://<broker-host>:3000``); interactive paths go below it."""
    source: str = "WEBAPI"
    """The ``source`` the login sends (the broker's API kind; WEBAPI for API apps)."""
    timeout_s: float = 7.0
    orders_per_second: int = 10
    """Place, modify, cancel together, per calendar second (XTS and SEBI's retail-algo rule)."""
    books_per_second: int = 1
    """Each book (orders, trades, positions, holdings, balance) at most once a second."""
    other_per_second: int = 10

    def __post_init__(self) -> None:
        if not self.root.startswith(("http://", "https://")):
            raise ValueError(f"the XTS root URL must be http:// or https://, not {self.root!r}")
        if not self.source or not self.source.isalnum():
            raise ValueError(f"the XTS source must be a word such as WEBAPI, not {self.source!r}")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        for name in ("orders_per_second", "books_per_second", "other_per_second"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        check_retries(self)

    @property
    def base(self) -> str:
        return self.root.rstrip("/")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> XtsRestConfig:
        """Build from settings; unknown keys are refused, not ignored."""
        return cls(**known_settings(cls, values))


@dataclass(frozen=True, slots=True)
class XtsBrokerConfig:
    held_order_max_age_s: float = 120.0
    """A place held while logged out longer than this is cancelled at the login, not sent late."""
    unknown_outcome_grace_s: float = 30.0
    """A place with no reply that XTS still does not show after this long was not placed."""
    trade_poll_attempts: int = 3
    """Extra looks at the tradebook when XTS reports fills it does not show yet."""
    trade_poll_interval_s: float = 1.0
    ack_wait_s: float = 10.0
    """How long a modify or cancel waits for the place reply that gives XTS's order id."""
    poll_interval_s: float = 2.0
    """While the interactive socket is not connected, how often the orderbook is read for
    changes (its events are lost while it is down; the book is the authority)."""

    def __post_init__(self) -> None:
        for name in ("held_order_max_age_s", "unknown_outcome_grace_s", "ack_wait_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.trade_poll_attempts < 0 or self.trade_poll_interval_s < 0:
            raise ValueError("trade_poll_attempts and trade_poll_interval_s must be >= 0")
        if self.poll_interval_s <= 0:
            raise ValueError("poll_interval_s must be > 0")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> XtsBrokerConfig:
        return cls(**known_settings(cls, values))
