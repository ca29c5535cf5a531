"""Settings of the Kite adapter: endpoints, ticker liveness and reconnects, REST limits.

Defaults are Kite's documented values (kite_xts_apis.md §A.1, §A.4, §B.1, §B.8). Tests point the
URLs at the fake server on 127.0.0.1 and shorten the timers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.brokers.live import LiveBrokerStats
from engine.brokers.rest_retry import RestRetries, check_retries, known_settings

KITE_REST_ROOT = "https://api.kite.trade"
KITE_TICKER_URL = "wss://ws.kite.trade"


@dataclass(frozen=True, slots=True)
class KiteTickerConfig:
    url: str = KITE_TICKER_URL
    tokens_per_connection: int = 3000
    """Kite accepts up to 3,000 instruments on one ticker connection."""
    max_connections: int = 3
    """Kite allows up to 3 ticker connections per api_key."""
    data_timeout_s: float = 5.0
    """No frame at all (heartbeats included) for this long means the connection is dead."""
    open_timeout_s: float = 10.0
    reconnect_first_delay_s: float = 1.0
    reconnect_max_delay_s: float = 10.0
    """Backoff doubles from the first delay up to this. The official clients cap it at 60 s, so
    prices came back up to a minute after Kite did; 10 s (with the jitter) keeps an outage's tail
    short at one attempt per connection every ~10 s."""
    reconnect_jitter: float = 0.1
    """Each delay is spread by up to this fraction, so that several connections do not retry together."""
    max_reconnect_attempts: int = 300
    """Consecutive failed attempts before the connection gives up (reset by every success)."""
    subscribe_chunk: int = 500
    """Tokens per subscribe / mode message."""
    max_frame_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"ticker url must be ws:// or wss://, not {self.url!r}")
        if not 1 <= self.tokens_per_connection <= 3000:
            raise ValueError("tokens_per_connection must be in 1..3000")
        if not 1 <= self.max_connections <= 3:
            raise ValueError("max_connections must be in 1..3")
        for name in ("data_timeout_s", "open_timeout_s", "reconnect_first_delay_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.reconnect_max_delay_s < self.reconnect_first_delay_s:
            raise ValueError("reconnect_max_delay_s must be >= reconnect_first_delay_s")
        if not 0 <= self.reconnect_jitter < 1:
            raise ValueError("reconnect_jitter must be in [0, 1)")
        if self.max_reconnect_attempts < 1:
            raise ValueError("max_reconnect_attempts must be >= 1")
        if self.subscribe_chunk < 1:
            raise ValueError("subscribe_chunk must be >= 1")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> KiteTickerConfig:
        """Build from settings; unknown keys are refused, not ignored."""
        return cls(**known_settings(cls, values))


@dataclass(frozen=True, slots=True, kw_only=True)
class KiteRestConfig(RestRetries):
    root: str = KITE_REST_ROOT
    timeout_s: float = 7.0
    """Per request, as the official SDKs."""
    threads: int = 4
    """Bound of the thread executor that runs the blocking official client."""
    quote_per_second: int = 1
    historical_per_second: int = 3
    orders_per_second: int = 10
    """Place, modify and cancel together, counted per calendar second (SEBI retail-algo rule)."""
    orders_per_minute: int = 200
    other_per_second: int = 10

    def __post_init__(self) -> None:
        if not self.root.startswith(("http://", "https://")):
            raise ValueError(f"REST root must be http:// or https://, not {self.root!r}")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if self.threads < 1:
            raise ValueError("threads must be >= 1")
        for name in (
            "quote_per_second",
            "historical_per_second",
            "orders_per_second",
            "orders_per_minute",
            "other_per_second",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        check_retries(self)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> KiteRestConfig:
        """Build from settings; unknown keys are refused, not ignored."""
        return cls(**known_settings(cls, values))


@dataclass(frozen=True, slots=True)
class KiteBrokerConfig:
    variety: str = "regular"
    market_protection: int = -1
    """Sent with MARKET and SL-M orders: -1 is Kite's automatic protection, 1..100 a percentage."""
    held_order_max_age_s: float = 120.0
    """A place held while logged out longer than this is cancelled at the login, not sent late."""
    unknown_outcome_grace_s: float = 30.0
    """A place with no reply that Kite still does not show after this long was not placed."""
    trade_poll_attempts: int = 3
    """Extra looks at an order's trades when Kite reports fills the tradebook does not show yet."""
    trade_poll_interval_s: float = 0.5
    ack_wait_s: float = 10.0
    """How long a modify or cancel waits for the place reply that gives Kite's order id."""

    def __post_init__(self) -> None:
        if self.variety not in ("regular", "amo", "iceberg", "auction", "co"):
            raise ValueError(f"unknown Kite variety {self.variety!r}")
        if not (self.market_protection == -1 or 0 < self.market_protection <= 100):
            raise ValueError("market_protection must be -1 (automatic) or 1..100 (percent)")
        for name in ("held_order_max_age_s", "unknown_outcome_grace_s", "ack_wait_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.trade_poll_attempts < 0 or self.trade_poll_interval_s < 0:
            raise ValueError("trade_poll_attempts and trade_poll_interval_s must be >= 0")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> KiteBrokerConfig:
        return cls(**known_settings(cls, values))


KiteBrokerStats = LiveBrokerStats
"""What the Kite adapter did, counted (the shared live-broker counters)."""
