"""A whole desk on the fake XTS: the account in a keyring, the interactive session and adapter,
XTS's market-data feed, and an engine, all on real sockets (127.0.0.1), timers shortened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.brokers.xts.config import XtsBrokerConfig, XtsRestConfig
from engine.brokers.xts.credentials import (
    XtsAccount,
    save_xts_account,
    save_xts_market_data_keys,
    xts_market_data_keys,
)
from engine.brokers.xts.feed import XtsFeedConfig
from engine.brokers.xts.link import XtsLink
from engine.brokers.xts.marketdata_session import MarketDataSession
from engine.brokers.xts.session import XtsSession
from engine.brokers.xts.socketio_v2 import SocketIOConfig
from engine.core.clock import Clock, LiveClock
from engine.credentials import CredentialStore
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment, make_token
from engine.runtime import Engine, EngineConfig
from tests.live_desk import LiveDesk, wait_for
from tests.memory_keyring import MemoryKeyring
from tests.xts_fake import ADANIPORTS, FakeXts, Limits

ADANIPORTS_TOKEN = make_token(ADANIPORTS.instrument_id, Segment.NSE)
"""NSE:ADANIPORTS as the desk knows it (the same token as Kite's 3861249)."""
ADANIPORTS_INSTRUMENT = Instrument(
    token=InstrumentToken(ADANIPORTS_TOKEN),
    exchange=Exchange.NSE,
    segment=Segment.NSE,
    tradingsymbol="ADANIPORTS",
    name="ADANI PORT & SEZ LTD",
    instrument_type=InstrumentType.EQ,
    underlying="ADANIPORTS",
    tick_size=5,
    lot_size=1,
)
FAST_LIMITS = Limits(orders_per_second=50, books_per_second=50, other_per_second=50)
"""The fake's limits in tests that are not about limits (the adapter is paced to match)."""


def fast_rest(xts: FakeXts, **changes: Any) -> XtsRestConfig:
    values: dict[str, Any] = {
        "root": xts.url,
        "timeout_s": 1.0,
        "books_per_second": 50,
        "orders_per_second": 50,
        "other_per_second": 50,
        "retry_first_delay_s": 0.05,
        "retry_max_delay_s": 0.2,
        "place_check_interval_s": 0.05,
        **changes,
    }
    return XtsRestConfig(**values)


def fast_broker(**changes: Any) -> XtsBrokerConfig:
    values: dict[str, Any] = {
        "trade_poll_interval_s": 0.05,
        "unknown_outcome_grace_s": 0.5,
        "ack_wait_s": 3.0,
        "poll_interval_s": 0.1,
        **changes,
    }
    return XtsBrokerConfig(**values)


FAST_SOCKET = SocketIOConfig(first_delay_s=0.02, max_delay_s=0.1, data_timeout_s=2.0)


def fast_feed() -> XtsFeedConfig:
    return XtsFeedConfig(broadcast_mode="Full", socket=FAST_SOCKET)


def save_fake_account(xts: FakeXts, store: CredentialStore) -> None:
    save_xts_account(
        store,
        XtsAccount(xts.url, xts.interactive.app_key, xts.interactive.secret_key, "WEBAPI"),
    )
    save_xts_market_data_keys(store, xts.market_data.app_key, xts.market_data.secret_key)


@dataclass
class XtsDesk(LiveDesk):
    xts: FakeXts
    store: CredentialStore
    link: XtsLink
    engine: Engine
    events: list[object] = field(default_factory=list)

    def place(self, quantity: int = 10, price: str = "399.50", **kwargs: Any) -> str:
        outcome = self.engine.api.place_order(
            ADANIPORTS_TOKEN, kwargs.pop("side", "BUY"), quantity, kwargs.pop("order_type", "LIMIT"),
            product=kwargs.pop("product", "MIS"), price=Decimal(price), **kwargs,
        )  # fmt: skip
        assert outcome.ok, outcome.reason
        assert outcome.order_id is not None
        return outcome.order_id

    def app_order_id(self, order_id: str) -> int:
        [order] = self.xts.oms.find(order_id)
        return int(order["AppOrderID"])


async def open_desk(
    xts: FakeXts,
    store: CredentialStore,
    db_path: Path,
    *,
    clock: Clock | None = None,
    login: bool = True,
    market_data: bool = True,
    broker_config: XtsBrokerConfig | None = None,
    rest_config: XtsRestConfig | None = None,
    engine_changes: dict[str, Any] | None = None,
) -> XtsDesk:
    """Log in with the keys from the keyring, build the engine on XTS and start it."""
    clock = clock or LiveClock()
    session = XtsSession(store, clock=clock, rest_config=rest_config or fast_rest(xts))
    keys = xts_market_data_keys(store) if market_data else None
    link = XtsLink(
        session,
        clock=clock,
        broker_config=broker_config or fast_broker(),
        market_data=MarketDataSession(keys, timeout_s=2.0) if keys is not None else None,
        feed_config=fast_feed(),
        socket_config=FAST_SOCKET,
    )
    if login and not session.resume_saved():
        await session.login()
    config = EngineConfig(
        db_url=f"sqlite:///{db_path}",
        broker="xts",
        feed="xts",
        always_open=True,
        var_interval_seconds=0,
        **(engine_changes or {}),
    )
    engine = Engine.build(config, clock=clock, link=link, instruments=[ADANIPORTS_INSTRUMENT])
    desk = XtsDesk(xts, store, link, engine)
    engine.bus.subscribe_all(desk.events.append)
    engine.start()
    return desk


@asynccontextmanager
async def trading_desk(db_path: Path, keyring_name: str) -> AsyncIterator[XtsDesk]:
    """A desk trading ADANIPORTS (at ₹400) on a fake XTS, its order flow open, keys in an
    in-memory keyring named ``keyring_name``; stopped on the way out."""
    async with FakeXts(limits=FAST_LIMITS) as xts:
        xts.set_market(ADANIPORTS, Decimal("400.00"))
        store = CredentialStore(keyring_name, backend=MemoryKeyring())
        save_fake_account(xts, store)
        desk = await open_desk(xts, store, db_path, market_data=False)
        await wait_for(lambda: desk.broker.paused_reason == "", what="order flow resumed")
        try:
            yield desk
        finally:
            await desk.stop()


__all__ = [
    "ADANIPORTS_INSTRUMENT",
    "ADANIPORTS_TOKEN",
    "FAST_LIMITS",
    "FAST_SOCKET",
    "XtsDesk",
    "fast_broker",
    "fast_feed",
    "fast_rest",
    "open_desk",
    "save_fake_account",
    "trading_desk",
    "wait_for",
]
