"""A whole desk on the fake Kite: credentials, session, link, instruments and an engine.

Real components on real sockets (127.0.0.1), with timers shortened so that tests stay fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from engine.brokers.kite.adapter import KiteBrokerConfig
from engine.brokers.kite.config import KiteRestConfig, KiteTickerConfig
from engine.brokers.kite.link import KiteLink
from engine.brokers.kite.session import KiteSession
from engine.core.clock import Clock, LiveClock
from engine.credentials import CredentialStore
from engine.runtime import Engine, EngineConfig
from tests.kite_fake import FakeKite, MarketState
from tests.live_desk import LiveDesk, wait_for
from tests.memory_keyring import MemoryKeyring

ADANIPORTS = 3861249
"""NSE:ADANIPORTS in the official mock instruments master (tick 0.05, lot 1)."""
ADANIPORTS_PRICE = 40_000  # paise


def fast_rest(kite: FakeKite, **changes: Any) -> KiteRestConfig:
    values: dict[str, Any] = {
        "root": kite.rest.url,
        "timeout_s": 1.0,
        "retry_first_delay_s": 0.05,
        "retry_max_delay_s": 0.2,
        "place_check_interval_s": 0.05,
        **changes,
    }
    return KiteRestConfig(**values)


def fast_ticker(kite: FakeKite, **changes: Any) -> KiteTickerConfig:
    values: dict[str, Any] = {
        "url": kite.ticker.url,
        "data_timeout_s": 1.0,
        "reconnect_first_delay_s": 0.02,
        "reconnect_max_delay_s": 0.1,
        **changes,
    }
    return KiteTickerConfig(**values)


def fast_broker(**changes: Any) -> KiteBrokerConfig:
    values: dict[str, Any] = {
        "trade_poll_interval_s": 0.05,
        "unknown_outcome_grace_s": 0.5,
        "ack_wait_s": 3.0,
        **changes,
    }
    return KiteBrokerConfig(**values)


def redirect_url(kite: FakeKite) -> str:
    """Where Kite's login page sends the browser after a successful login."""
    query = urlencode(
        {
            "action": "login",
            "type": "login",
            "status": "success",
            "request_token": kite.credentials.issue_request_token(),
        }
    )
    return f"https://127.0.0.1/kite/redirect?{query}"


def market(price: int = ADANIPORTS_PRICE, token: int = ADANIPORTS) -> MarketState:
    return MarketState(
        token=token,
        last_price=price,
        last_quantity=5,
        average_price=price,
        volume=10_000,
        buy_quantity=5_000,
        sell_quantity=6_000,
        open=price - 100,
        high=price + 200,
        low=price - 300,
        close=price - 50,
        bids=tuple((100 * (i + 1), price - 5 * (i + 1), i + 1) for i in range(5)),
        asks=tuple((120 * (i + 1), price + 5 * (i + 1), i + 1) for i in range(5)),
    )


@dataclass
class KiteDesk(LiveDesk):
    kite: FakeKite
    store: CredentialStore
    link: KiteLink
    engine: Engine
    events: list[object] = field(default_factory=list)

    async def place(self, quantity: int = 10, price: str = "399.50", **kwargs: Any) -> str:
        outcome = self.engine.api.place_order(
            ADANIPORTS, kwargs.pop("side", "BUY"), quantity, "LIMIT",
            product="MIS", price=Decimal(price), **kwargs,
        )  # fmt: skip
        assert outcome.ok, outcome.reason
        assert outcome.order_id is not None
        return outcome.order_id

    def broker_id(self, order_id: str) -> str:
        snapshot = self.engine.orders.orders[order_id]  # type: ignore[index]
        assert snapshot.broker_order_id is not None, f"{order_id} has no Kite order id yet"
        return snapshot.broker_order_id


async def open_desk(
    kite: FakeKite,
    store: CredentialStore,
    db_path: Path,
    *,
    clock: Clock | None = None,
    broker: str = "kite",
    login: bool = True,
    broker_config: KiteBrokerConfig | None = None,
    rest_config: KiteRestConfig | None = None,
    cache_dir: Path | None = None,
    ticker_changes: dict[str, Any] | None = None,
    engine_changes: dict[str, Any] | None = None,
    db_url: str | None = None,
) -> KiteDesk:
    """Log in through the redirect (checksum exchange), load the master, build and start.
    The book is ``db_path`` (a SQLite file), or ``db_url`` (a PostgreSQL book) when given; the
    instrument cache stays beside ``db_path``."""
    clock = clock or LiveClock()
    session = KiteSession(
        store, clock=clock, rest_config=rest_config or fast_rest(kite),
        login_root=f"{kite.rest.url}/connect/login",
    )  # fmt: skip
    link = KiteLink(
        session,
        clock=clock,
        ticker_config=fast_ticker(kite, **(ticker_changes or {})),
        broker_config=broker_config or fast_broker(),
    )
    if login and not session.resume_saved():
        await session.complete_login(redirect_url(kite))
    loaded = await link.load_instruments(cache_dir or db_path.parent / "cache")
    config = EngineConfig(
        db_url=db_url or f"sqlite:///{db_path}",
        broker=broker,
        feed="kite",
        always_open=True,
        var_interval_seconds=0,
        **(engine_changes or {}),
    )
    engine = Engine.build(config, clock=clock, link=link, instruments=loaded.instruments)
    desk = KiteDesk(kite, store, link, engine)
    engine.bus.subscribe_all(desk.events.append)
    engine.start()
    return desk


__all__ = [
    "ADANIPORTS",
    "ADANIPORTS_PRICE",
    "KiteDesk",
    "fast_broker",
    "fast_rest",
    "fast_ticker",
    "market",
    "open_desk",
    "redirect_url",
    "wait_for",
]


@asynccontextmanager
async def adaniports_kite() -> AsyncIterator[FakeKite]:
    """The fake Kite with NSE:ADANIPORTS at ₹400 in its OMS and ticking, heartbeats 0.1 s apart."""
    async with FakeKite(heartbeat_s=0.1) as fake:
        fake.oms.set_last_price("NSE", "ADANIPORTS", Decimal("400.00"))
        fake.ticker.set_market([market()])
        yield fake


async def open_ticking_desk(
    kite: FakeKite, db_path: Path, profile: str, *, retry_limit: int
) -> KiteDesk:
    """A desk on ``kite`` (keys in a memory keyring under ``profile``) whose ticker gives up
    after ``retry_limit`` failed connections, once ADANIPORTS's first tick has come."""
    store = CredentialStore(profile, backend=MemoryKeyring())
    store.save_kite_keys(kite.api_key, kite.api_secret)
    desk = await open_desk(
        kite, store, db_path, ticker_changes={"max_reconnect_attempts": retry_limit}
    )
    await desk.link.watch([ADANIPORTS])
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
    return desk
