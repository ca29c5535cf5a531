"""Kite going away and coming back: prices resume promptly, reconciliations never pile up, and
orders held while logged out reach Kite once each, at Kite's rate, right after the login."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.brokers.kite.adapter import KiteBrokerConfig
from engine.brokers.kite.config import KiteRestConfig, KiteTickerConfig
from engine.domain.orders import OrderStatus
from tests.integration.test_kite_end_to_end import keyring_store
from tests.kite_desk import ADANIPORTS, KiteDesk, market, open_desk, redirect_url, wait_for
from tests.kite_fake import FakeKite

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with FakeKite(heartbeat_s=0.2) as fake:
        fake.oms.set_last_price("NSE", "ADANIPORTS", Decimal("400.00"))
        fake.ticker.set_market([market()])
        yield fake


class Concurrency:
    """Wraps the reconciler's run to count how many run at once."""

    def __init__(self, desk: KiteDesk) -> None:
        reconciler = desk.link.reconciler
        assert reconciler is not None
        self.now = self.most = self.runs = 0
        original = reconciler.reconcile

        async def counted(reason: str):  # type: ignore[no-untyped-def]
            self.now += 1
            self.runs += 1
            self.most = max(self.most, self.now)
            try:
                return await original(reason)
            finally:
                self.now -= 1

        reconciler.reconcile = counted  # type: ignore[method-assign]


def test_kite_ticker_backoff_is_capped_near_ten_seconds_with_jitter() -> None:
    config = KiteTickerConfig()
    assert config.reconnect_max_delay_s == 10.0
    assert 0 < config.reconnect_jitter <= 0.2


async def test_kite_down_a_minute_then_back_prices_resume_within_15s_one_reconcile_at_a_time(
    kite: FakeKite, tmp_path: Path
) -> None:
    # The ticker's real backoff (1 s doubling to the 10 s cap), not the tests' fast one.
    desk = await open_desk(
        kite,
        keyring_store(kite),
        tmp_path / "book.db",
        ticker_changes={"reconnect_first_delay_s": 1.0, "reconnect_max_delay_s": 10.0},
    )
    try:
        await desk.link.watch([ADANIPORTS])
        await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
        counted = Concurrency(desk)
        open_order = await desk.place(price="399.00")
        await wait_for(lambda: desk.engine.api.order(open_order).status is OrderStatus.OPEN)

        await kite.go_down()
        await asyncio.sleep(60)
        before = desk.engine.ticks_seen
        kite.ticker.set_market([market(price=40_100)])
        back = time.monotonic()
        await kite.come_back()
        await wait_for(
            lambda: desk.engine.ticks_seen > before, timeout=20, what="prices after the outage"
        )
        resumed = time.monotonic() - back
        print(
            f"kite recovery: prices resumed {resumed:.1f}s after Kite came back; "
            f"reconciliations {counted.runs}, at most {counted.most} at a time"
        )
        assert resumed < 15
        assert counted.most <= 1
        assert counted.runs <= 20, "reconciliations are debounced during the outage"
    finally:
        await desk.stop()


async def test_kite_forty_orders_held_while_logged_out_reach_kite_within_10s_once_each(
    kite: FakeKite, tmp_path: Path, book_url: str
) -> None:
    # Kite's own REST and order settings, not the tests' fast ones; on each backend's book.
    desk = await open_desk(
        kite,
        keyring_store(kite),
        tmp_path / "book.db",
        rest_config=KiteRestConfig(root=kite.rest.url),
        broker_config=KiteBrokerConfig(),
        db_url=book_url,
    )
    try:
        await desk.link.watch([ADANIPORTS])
        await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
        await kite.expire_token()
        await wait_for(lambda: desk.connection("broker", "login required"), what="login asked")
        held = []
        for n in range(40):  # small buys below the market: they rest at Kite
            held.append(await desk.place(quantity=1, price=f"{390 + n * 0.05:.2f}"))
        await wait_for(lambda: len(desk.broker.held) == 40, timeout=10, what="all 40 held")
        placed_before = kite.oms.placed

        login = time.monotonic()
        await desk.link.session.complete_login(redirect_url(kite))
        await wait_for(
            lambda: all(desk.engine.api.order(i).status is OrderStatus.OPEN for i in held),
            timeout=15,
            what="the 40 held orders at Kite",
        )
        drained = time.monotonic() - login
        tags = Counter(o["tag"] for o in kite.oms.order_list())
        print(f"kite recovery: 40 held orders at Kite {drained:.1f}s after the login")
        assert drained < 10
        assert kite.oms.placed == placed_before + 40
        assert all(tags[i] == 1 for i in held), "each once"
    finally:
        await desk.stop()
