"""A modify asked while the Kite session has ended is refused at once, in words, and never sent
(the order flow Kite shares with XTS holds places and cancels while logged out, not
modifications); after the next login the same modify goes through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.credentials import CredentialStore
from engine.domain.orders import OrderStatus
from tests.kite_desk import ADANIPORTS, adaniports_kite, open_desk, redirect_url, wait_for
from tests.kite_fake import FakeKite
from tests.memory_keyring import MemoryKeyring

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with adaniports_kite() as fake:
        yield fake


async def test_kite_modify_while_the_session_has_ended_is_refused_in_words_and_not_sent(
    kite: FakeKite, tmp_path: Path
) -> None:
    store = CredentialStore("kite-modify-session", backend=MemoryKeyring())
    store.save_kite_keys(kite.api_key, kite.api_secret)
    desk = await open_desk(kite, store, tmp_path / "book.db")
    try:
        await desk.link.watch([ADANIPORTS])
        await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
        await wait_for(lambda: not desk.broker.paused_reason, what="order flow resumed")
        order_id = await desk.place(price="399.00")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)
        await kite.expire_token()
        await wait_for(lambda: desk.connection("broker", "login required"), what="login asked")

        refused = desk.engine.api.modify(order_id, price=Decimal("398.00"))

        assert not refused.ok and refused.check == "broker_session"
        assert "the Kite session has ended" in refused.reason
        assert "log in to Kite and modify it again" in refused.reason
        await desk.broker.drain()
        modifies = lambda: [m for m, p in kite.rest.requests if m == "PUT" and "/orders" in p]  # noqa: E731
        assert modifies() == []

        await desk.link.session.complete_login(redirect_url(kite))
        await wait_for(lambda: not desk.broker.paused_reason, what="order flow resumed")
        assert desk.engine.api.modify(order_id, price=Decimal("398.00")).ok
        await wait_for(lambda: desk.engine.api.order(order_id).price == Decimal("398.00"))
        assert len(modifies()) == 1
    finally:
        await desk.stop()
