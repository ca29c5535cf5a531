"""The whole Kite path against the fake Kite on 127.0.0.1: login, ticks, orders, drops, limits,
token expiry. Real sockets, the official REST client, the real engine and journal."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.credentials import CredentialStore
from engine.domain.events import FundsChanged, OrderFilled
from engine.domain.orders import OrderStatus
from engine.domain.origin import OrderSource
from tests.kite_desk import (
    ADANIPORTS,
    KiteDesk,
    adaniports_kite,
    fast_broker,
    fast_rest,
    market,
    open_desk,
    redirect_url,
    wait_for,
)
from tests.kite_fake import FakeKite, RateLimits
from tests.memory_keyring import MemoryKeyring

pytestmark = pytest.mark.timeout(120)


def keyring_store(kite: FakeKite) -> CredentialStore:
    store = CredentialStore("e2e", backend=MemoryKeyring())
    store.save_kite_keys(kite.api_key, kite.api_secret)
    return store


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with adaniports_kite() as fake:
        yield fake


@pytest.fixture
async def desk(kite: FakeKite, tmp_path: Path) -> AsyncIterator[KiteDesk]:
    desk = await open_desk(kite, keyring_store(kite), tmp_path / "book.db")
    await desk.link.watch([ADANIPORTS])
    yield desk
    await desk.stop()


def status(desk: KiteDesk, order_id: str) -> OrderStatus:
    snapshot = desk.engine.api.order(order_id)
    assert snapshot is not None
    return snapshot.status


def journal_fills(desk: KiteDesk) -> list[str]:
    return [e.payload["trade_id"] for e in desk.engine.journal.read() if e.kind == OrderFilled.kind]


async def test_login_subscribe_place_modify_cancel_fill_when_run_end_to_end_books_a_position(
    kite: FakeKite, desk: KiteDesk
) -> None:
    # Login went through the checksum exchange and the token is in the keyring.
    assert kite.credentials.exchanges == 1
    assert desk.store.kite_access_token(desk.engine.clock.now()) is not None
    # Ticks reach the engine's quote cache (and the bus) through the runtime.
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
    kite.ticker.push([market(40_010)])
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS).ltp == 40_010, what="pushed tick")
    assert kite.ticker.subscribed()[ADANIPORTS] == "full"

    # Place, modify, cancel through the engine facade; statuses come back from Kite.
    first = await desk.place(price="399.50")
    await wait_for(lambda: status(desk, first) is OrderStatus.OPEN, what="first open")
    assert kite.oms.find_by_tag(first)[0]["status"] == "OPEN"
    assert desk.engine.api.modify(first, price=Decimal("399.00")).ok
    await wait_for(lambda: desk.engine.api.order(first).price == Decimal("399.00"), what="modified")
    assert desk.engine.api.cancel(first).ok
    await wait_for(lambda: status(desk, first) is OrderStatus.CANCELLED, what="cancelled")

    # A second order fills in two trades at Kite: both become fills and one position.
    second = await desk.place(price="400.00")
    await wait_for(lambda: status(desk, second) is OrderStatus.OPEN, what="second open")
    kite.oms.fill(desk.broker_id(second), 4)
    await wait_for(lambda: desk.engine.api.order(second).filled_quantity == 4, what="part fill")
    kite.oms.fill(desk.broker_id(second), 6)
    await wait_for(lambda: status(desk, second) is OrderStatus.COMPLETE, what="complete")

    positions = desk.engine.api.positions()
    assert [(p.instrument.tradingsymbol, p.net_quantity) for p in positions] == [("ADANIPORTS", 10)]
    assert positions[0].average_price == Decimal("400.00")
    assert sorted(journal_fills(desk)) == sorted(t["trade_id"] for t in kite.oms.trades)
    assert kite.oms.placed == 2


async def test_socket_when_dropped_20_times_resubscribes_reconciles_and_never_counts_a_fill_twice(
    kite: FakeKite, desk: KiteDesk
) -> None:
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
    order_id = await desk.place(quantity=40, price="400.00")
    await wait_for(lambda: status(desk, order_id) is OrderStatus.OPEN, what="open")
    broker_id = desk.broker_id(order_id)
    feed = desk.link.feed
    reconciler = desk.link.reconciler
    assert feed is not None and reconciler is not None

    for drop in range(1, 21):
        runs = reconciler.runs
        await kite.ticker.drop_all()
        # A fill while the socket is down: its order update is lost with the connection.
        kite.oms.fill(broker_id, 1)
        await wait_for(lambda d=drop: feed.client.stats.reconnects >= d, what=f"reconnect {drop}")
        await wait_for(lambda r=runs: reconciler.runs > r, what=f"reconcile {drop}")
        await wait_for(
            lambda d=drop: desk.engine.api.order(order_id).filled_quantity == d,
            what=f"fill {drop} booked",
        )
        await wait_for(lambda: ADANIPORTS in kite.ticker.subscribed(), what="resubscribed")
        kite.ticker.push([market(40_000 + drop * 5)])
        await wait_for(
            lambda d=drop: desk.engine.api.tick(ADANIPORTS).ltp == 40_000 + d * 5,
            what=f"tick after reconnect {drop}",
        )
    # The same trades again, read by yet another reconciliation, change nothing.
    await reconciler.reconcile("test")
    await desk.broker.drain()

    trade_ids = journal_fills(desk)
    assert len(trade_ids) == 20 and len(set(trade_ids)) == 20
    assert Counter(f.trade_id for f in desk.engine.orders.fills).most_common(1)[0][1] == 1
    assert desk.engine.api.positions()[0].net_quantity == 20
    assert feed.client.stats.reconnects >= 20
    assert reconciler.runs >= 21
    assert reconciler.last is not None and reconciler.last.position_differences == ()
    assert desk.broker.stats.duplicate_fills > 0  # the same trades were offered again, ignored


async def test_rate_limit_when_kite_answers_429_slows_down_and_places_every_order_once(
    tmp_path: Path,
) -> None:
    async with FakeKite(heartbeat_s=0.1, limits=RateLimits(orders_per_second=2)) as kite:
        kite.oms.set_last_price("NSE", "ADANIPORTS", Decimal("400.00"))
        kite.ticker.set_market([market()])
        desk = await open_desk(kite, keyring_store(kite), tmp_path / "book.db")
        try:
            await desk.link.watch([ADANIPORTS])
            await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None)
            started = asyncio.get_running_loop().time()
            orders = [
                await desk.place(quantity=1, price=f"{398 + n * 0.05:.2f}") for n in range(12)
            ]
            await wait_for(
                lambda: all(status(desk, o) is OrderStatus.OPEN for o in orders),
                timeout=30,
                what="all 12 open",
            )
            took = asyncio.get_running_loop().time() - started
            rest = desk.link.session.rest
            tags = [o["tag"] for o in kite.oms.order_list()]
            assert kite.rest.rate_limited > 0 and rest.rate_limited > 0
            assert sorted(tags) == sorted(orders)  # every order placed, none twice
            assert took >= 4.0  # 12 orders at 2 a second cannot go faster
        finally:
            await desk.stop()


async def test_token_expiry_when_kite_refuses_the_token_pauses_orders_and_asks_for_login(
    kite: FakeKite, desk: KiteDesk
) -> None:
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
    live = await desk.place(price="399.00")
    await wait_for(lambda: status(desk, live) is OrderStatus.OPEN, what="open")

    await kite.expire_token()
    await wait_for(lambda: desk.connection("broker", "login required"), what="login asked")
    assert desk.messages("order flow is paused")
    assert desk.store.kite_access_token(desk.engine.clock.now()) is None

    placed_before = kite.oms.placed
    held = await desk.place(price="399.10")
    refused = desk.engine.api.modify(live, price=Decimal("398.00"))
    assert not refused.ok and f"modify of {live} not sent" in refused.reason  # a dead session
    assert status(desk, held) is OrderStatus.PENDING_SUBMIT
    assert desk.broker.held == [held]
    assert kite.oms.placed == placed_before

    await desk.link.session.complete_login(redirect_url(kite))
    await wait_for(lambda: status(desk, held) is OrderStatus.OPEN, what="held order sent")
    await wait_for(lambda: desk.link.feed.client.states[0].value == "open", what="ticker back")
    assert kite.oms.placed == placed_before + 1
    assert [o["tag"] for o in kite.oms.order_list()].count(held) == 1
    assert desk.connection("broker", "connected")
    assert kite.credentials.exchanges == 2


async def test_token_expiry_when_the_login_comes_before_the_link_looks_still_resumes_orders(
    kite: FakeKite, desk: KiteDesk
) -> None:
    """The token dies and the trader's new login lands before the link's next turn: the link
    sees a session that is logged in, but on a new login, and resumes the paused order flow."""
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
    session = desk.link.session
    exchange = session.rest.generate_session

    async def refused_just_before_the_new_token_arrives(*args: str) -> dict[str, object]:
        kite.credentials.expire()
        data = await exchange(*args)
        session.expire("Kite refused the access token")  # no turn of the loop until the login
        return data

    session.rest.generate_session = refused_just_before_the_new_token_arrives  # type: ignore[method-assign]
    await session.complete_login(redirect_url(kite))
    assert desk.broker.paused_reason, "the expiry paused order flow"

    order_id = await desk.place(price="399.00")
    await wait_for(lambda: status(desk, order_id) is OrderStatus.OPEN, what="sent on the new login")
    assert not desk.broker.paused_reason
    assert [o["tag"] for o in kite.oms.order_list()].count(order_id) == 1


async def test_place_when_the_reply_is_lost_finds_the_order_by_tag_and_never_sends_it_twice(
    kite: FakeKite, desk: KiteDesk
) -> None:
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
    kite.rest.hang_next_place_s = 2.0  # the client gives up after 1 s; Kite has the order

    order_id = await desk.place(price="399.00")
    await wait_for(lambda: status(desk, order_id) is OrderStatus.OPEN, what="open")
    await desk.broker.drain()

    assert kite.oms.placed == 1
    assert desk.broker.stats.recovered_by_tag == 1
    assert desk.engine.api.order(order_id).status is OrderStatus.OPEN


async def test_order_placed_outside_dalaldesk_when_reconciled_appears_with_its_fills(
    kite: FakeKite, desk: KiteDesk
) -> None:
    outside = kite.oms.place(
        "regular",
        {
            "exchange": "NSE",
            "tradingsymbol": "ADANIPORTS",
            "transaction_type": "SELL",
            "quantity": "5",
            "product": "MIS",
            "order_type": "LIMIT",
            "price": "401.00",
        },
    )
    kite.oms.fill(outside, 5)
    assert desk.link.reconciler is not None
    report = await desk.link.reconciler.reconcile("test")

    adopted = desk.engine.api.order(f"K{outside}")
    assert adopted is not None and adopted.status is OrderStatus.COMPLETE
    assert adopted.source is OrderSource.BROKER
    assert report.position_differences == ()
    assert desk.engine.api.positions()[0].net_quantity == -5


async def test_restart_when_an_order_was_never_sent_cancels_it_instead_of_sending_it(
    kite: FakeKite, tmp_path: Path, book_url: str
) -> None:
    store = keyring_store(kite)
    desk = await open_desk(kite, store, tmp_path / "book.db", cache_dir=tmp_path, db_url=book_url)
    await desk.link.watch([ADANIPORTS])
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
    await kite.expire_token()
    await wait_for(lambda: desk.connection("broker", "login required"), what="paused")
    # Logged out: the order is held; then the desk stops (a crash would leave the same).
    waiting = await desk.place(price="399.00")
    await desk.stop()

    again = await open_desk(
        kite,
        store,
        tmp_path / "book.db",
        cache_dir=tmp_path,
        broker_config=fast_broker(),
        db_url=book_url,
    )
    try:
        await wait_for(lambda: status(again, waiting) is OrderStatus.CANCELLED, what="settled")
        assert kite.oms.find_by_tag(waiting) == []
        assert "not placed" in again.engine.api.order(waiting).status_message
    finally:
        await again.stop()


async def test_session_when_restarted_the_same_day_reuses_the_saved_token_without_a_login(
    kite: FakeKite, tmp_path: Path
) -> None:
    store = keyring_store(kite)
    first = await open_desk(kite, store, tmp_path / "a.db")
    await first.stop()

    second = await open_desk(kite, store, tmp_path / "b.db", rest_config=fast_rest(kite))
    try:
        assert kite.credentials.exchanges == 1
        assert second.link.session.logged_in
    finally:
        await second.stop()


async def test_margin_check_when_live_uses_the_funds_kite_shows_and_follows_them(
    kite: FakeKite, desk: KiteDesk
) -> None:
    risk = desk.engine.risk
    assert risk is not None
    gate = risk.gate
    # The reconciliation at connect read Kite's funds: the fixture's equity net, ₹99,725.05.
    await wait_for(lambda: gate.broker_funds is not None, what="funds from Kite")
    assert gate.broker_funds is not None and gate.broker_funds[0] == pytest.approx(99_725.05)
    funds = [e for e in desk.events if isinstance(e, FundsChanged)]
    assert funds[-1].available == Decimal("99725.05") and funds[-1].used == Decimal("145706.55")
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")

    # Kite now shows ₹5,000 available: ₹8,000 of delivery buying needs more than that.
    kite.rest.equity_net = 5000.0
    assert desk.link.funds is not None
    await desk.link.funds.read()
    assert gate.broker_funds is not None and gate.broker_funds[0] == 5000.0
    refused = desk.engine.api.place_order(
        ADANIPORTS, "BUY", 20, "LIMIT", product="CNC", price=Decimal("400.00")
    )
    assert not refused and refused.check == "margin"
    assert "the broker shows ₹5,000 available" in refused.reason
    assert not kite.oms.find_by_tag(refused.order_id or "")  # never reached Kite

    # Funds come back: the same order goes through.
    kite.rest.equity_net = 50_000.0
    await desk.link.funds.read()
    placed = desk.engine.api.place_order(
        ADANIPORTS, "BUY", 20, "LIMIT", product="CNC", price=Decimal("400.00")
    )
    assert placed, placed.reason
