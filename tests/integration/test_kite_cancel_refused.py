"""A cancel Kite turns down while the order is still open there (its modification on its way) is
owed and sent again until Kite takes it, never dropped (the order flow Kite shares with XTS)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.credentials import CredentialStore
from engine.domain.orders import OrderStatus
from tests.kite_desk import ADANIPORTS, KiteDesk, adaniports_kite, open_desk, wait_for
from tests.kite_fake import FakeKite
from tests.memory_keyring import MemoryKeyring

pytestmark = pytest.mark.timeout(60)

BEING_MODIFIED = "Order cannot be cancelled as it is being modified. Try later"


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with adaniports_kite() as fake:
        yield fake


async def _desk(kite: FakeKite, tmp_path: Path) -> KiteDesk:
    store = CredentialStore("kite-cancel-refused", backend=MemoryKeyring())
    store.save_kite_keys(kite.api_key, kite.api_secret)
    desk = await open_desk(kite, store, tmp_path / "book.db")
    await desk.link.watch([ADANIPORTS])
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
    await wait_for(lambda: not desk.broker.paused_reason, what="order flow resumed")
    return desk


def _at_kite(kite: FakeKite, order_id: str) -> list[str]:
    return [row["status"] for row in kite.oms.find_by_tag(order_id)]


async def test_kite_cancel_refused_while_the_order_is_being_modified_is_sent_again(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await _desk(kite, tmp_path)
    try:
        order_id = await desk.place(price="399.00")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)
        kite.rest.fail_next("DELETE", "/orders", 400, "OrderException", BEING_MODIFIED)

        assert desk.engine.api.cancel(order_id).ok

        await wait_for(lambda: _at_kite(kite, order_id) == ["CANCELLED"], 10, "sent again")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.CANCELLED)
        broker_id = desk.broker_id(order_id)
        cancels = [p for m, p in kite.rest.requests if m == "DELETE" and broker_id in p]
        assert len(cancels) == 2
        [said] = desk.messages(f"cancel of {order_id} not done yet")
        assert "being modified" in said.text and "sent again" in said.text
    finally:
        await desk.stop()
