"""A Kite account and an XTS account traded from one desk, both on their fakes (127.0.0.1): each
order goes to its own broker, positions and P&L stay per account, and one kill switch, pressed
on either account or on the desk, halts both and cancels at both brokers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.api import TradingState
from engine.credentials import CredentialStore
from engine.domain.orders import OrderStatus
from engine.runtime.accounts import Accounts
from tests import kite_desk, xts_desk
from tests.kite_desk import ADANIPORTS, KiteDesk, market
from tests.kite_fake import FakeKite
from tests.live_desk import wait_for
from tests.memory_keyring import MemoryKeyring
from tests.xts_desk import ADANIPORTS_TOKEN, FAST_LIMITS, XtsDesk, save_fake_account
from tests.xts_fake import ADANIPORTS as XTS_ADANIPORTS
from tests.xts_fake import FakeXts

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def desks(tmp_path: Path) -> AsyncIterator[tuple[KiteDesk, XtsDesk, Accounts]]:
    async with FakeKite(heartbeat_s=0.1) as kite, FakeXts(limits=FAST_LIMITS) as xts:
        kite.oms.set_last_price("NSE", "ADANIPORTS", Decimal("400.00"))
        kite.ticker.set_market([market()])
        xts.set_market(XTS_ADANIPORTS, Decimal("400.00"))
        kite_store = CredentialStore("accounts", backend=MemoryKeyring())
        kite_store.save_kite_keys(kite.api_key, kite.api_secret)
        xts_store = CredentialStore("accounts", backend=MemoryKeyring())
        save_fake_account(xts, xts_store)
        on_kite = await kite_desk.open_desk(kite, kite_store, tmp_path / "kite.db")
        on_xts = await xts_desk.open_desk(xts, xts_store, tmp_path / "xts.db", market_data=False)
        await wait_for(lambda: on_xts.broker.paused_reason == "", what="XTS order flow")
        accounts = Accounts({"kite": on_kite.engine, "xts": on_xts.engine})
        try:
            yield on_kite, on_xts, accounts
        finally:
            await accounts.stop()


def place(
    accounts: Accounts, account: str, token: int, side: str, quantity: int, price: str
) -> str:
    outcome = accounts.place_order(
        account, token, side, quantity, "LIMIT", product="MIS", price=Decimal(price)
    )
    assert outcome.ok, outcome.reason
    assert outcome.order_id is not None
    return outcome.order_id


async def test_each_order_goes_to_its_own_broker_and_positions_stay_per_account(desks) -> None:
    on_kite, on_xts, accounts = desks
    bought = place(accounts, "kite", ADANIPORTS, "BUY", 10, "399.50")
    sold = place(accounts, "xts", ADANIPORTS_TOKEN, "SELL", 4, "400.50")
    kite_api, xts_api = accounts.api("kite"), accounts.api("xts")
    await wait_for(lambda: kite_api.order(bought).status is OrderStatus.OPEN, what="Kite open")
    await wait_for(lambda: xts_api.order(sold).status is OrderStatus.OPEN, what="XTS open")
    assert [o["tag"] for o in on_kite.kite.oms.orders.values()] == [bought]
    assert [o["OrderUniqueIdentifier"] for o in on_xts.xts.oms.orders.values()] == [sold]
    assert kite_api.order(sold) is None and xts_api.order(bought) is None, "books apart"

    on_kite.kite.oms.fill(on_kite.broker_id(bought), 10)
    on_xts.xts.oms.fill(on_xts.app_order_id(sold), 4)
    await wait_for(lambda: kite_api.order(bought).status is OrderStatus.COMPLETE, what="Kite fill")
    await wait_for(lambda: xts_api.order(sold).status is OrderStatus.COMPLETE, what="XTS fill")
    positions = accounts.positions()
    assert [(p.instrument.token, p.net_quantity) for p in positions["kite"]] == [(ADANIPORTS, 10)]
    assert [(p.instrument.token, p.net_quantity) for p in positions["xts"]] == [
        (ADANIPORTS_TOKEN, -4)
    ]
    pnl = accounts.day_pnl()
    assert set(pnl) == {"kite", "xts"} and pnl["kite"] == kite_api.day_pnl()
    rows = {row.account: row for row in accounts.status()}
    assert (rows["kite"].broker, rows["kite"].open_positions) == ("kite", 1)
    assert (rows["xts"].broker, rows["xts"].open_positions) == ("xts", 1)
    with pytest.raises(ValueError, match="no account 'zerodha' on this desk"):
        accounts.place_order("zerodha", ADANIPORTS, "BUY", 1, "MARKET")


@pytest.mark.parametrize("pressed_on", ["kite", "xts", "desk"])
async def test_one_kill_switch_halts_both_accounts_and_cancels_at_both_brokers(
    desks, pressed_on: str
) -> None:
    on_kite, on_xts, accounts = desks
    resting = {
        "kite": place(accounts, "kite", ADANIPORTS, "BUY", 10, "399.00"),
        "xts": place(accounts, "xts", ADANIPORTS_TOKEN, "BUY", 10, "399.00"),
    }
    for name, order_id in resting.items():
        await wait_for(
            lambda n=name, o=order_id: accounts.api(n).order(o).status is OrderStatus.OPEN,
            what=f"{name} order open",
        )
    if pressed_on == "desk":
        reports = accounts.kill_switch(reason="kill switch pressed by the trader")
        assert set(reports) == {"kite", "xts"}
    else:
        accounts.api(pressed_on).kill_switch(reason="kill switch pressed by the trader")
    for name, order_id in resting.items():
        api = accounts.api(name)
        assert api.trading_state().state is TradingState.HALTED, name
        await wait_for(
            lambda a=api, o=order_id: a.order(o).status is OrderStatus.CANCELLED,
            what=f"{name} order cancelled at its broker",
        )
        refused = accounts.place_order(
            name, ADANIPORTS, "BUY", 1, "LIMIT", product="MIS", price=Decimal("399.00")
        )
        assert not refused.ok and "HALTED" in refused.reason.upper(), refused.reason
    [kite_order] = on_kite.kite.oms.orders.values()
    assert kite_order["status"] == "CANCELLED"
    [xts_order] = on_xts.xts.oms.orders.values()
    assert xts_order["OrderStatus"] == "Cancelled"
    assert accounts.rearm() == {"kite": True, "xts": True}
    assert {r.state for r in accounts.status()} == {TradingState.ACTIVE}
