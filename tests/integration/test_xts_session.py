"""The XTS interactive session over the fake XTS: keys from the keyring, the day's token kept in
the keyring only and resumed, expiry by the clock, a dealer login naming its client on every
call, and connecting a desk's profile (``connect_xts``: both apps and the instrument master)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from engine.brokers.registry import ConnectProblem, broker_spec
from engine.brokers.session_state import SessionChange, SessionState
from engine.brokers.xts.connect import connect_xts
from engine.brokers.xts.credentials import (
    XtsAccount,
    save_xts_account,
    xts_account,
    xts_token,
)
from engine.brokers.xts.errors import LoginRefused
from engine.brokers.xts.session import LoginError, XtsSession
from engine.core.clock import IST, LiveClock, TestClock
from engine.credentials import CredentialStore
from tests.memory_keyring import MemoryKeyring
from tests.xts_desk import FAST_LIMITS, fast_rest, save_fake_account
from tests.xts_fake import ADANIPORTS, FakeXts

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def xts() -> AsyncIterator[FakeXts]:
    async with FakeXts(limits=FAST_LIMITS) as fake:
        fake.set_market(ADANIPORTS, Decimal("400.00"))
        yield fake


@pytest.fixture
def store(xts: FakeXts) -> CredentialStore:
    store = CredentialStore("xts-session", backend=MemoryKeyring())
    save_fake_account(xts, store)
    return store


def test_xts_session_without_an_account_says_where_to_enter_it() -> None:
    empty = CredentialStore("nobody", backend=MemoryKeyring())
    with pytest.raises(LoginError, match="Settings → Brokers"):
        XtsSession(empty, clock=LiveClock())


async def test_xts_login_keeps_the_token_in_the_keyring_and_a_new_session_resumes_it(
    xts: FakeXts, store: CredentialStore
) -> None:
    first = XtsSession(store, clock=LiveClock(), rest_config=fast_rest(xts))
    changes: list[SessionChange] = []
    first.listen(changes.append)
    await first.login()
    await first.close()
    assert [c.state for c in changes] == [SessionState.LOGGED_IN]
    saved = xts_token(store, LiveClock().now())
    assert saved is not None and saved.token == xts.interactive.issued[0]
    assert saved.user_id == "XTSUSER1" and saved.is_investor_client

    second = XtsSession(store, clock=LiveClock(), rest_config=fast_rest(xts))
    try:
        assert second.resume_saved()
        assert await second.rest.orders() == []
    finally:
        await second.close()
    assert xts.interactive.logins == 1  # the saved token served; no second login


async def test_xts_session_expires_at_its_expiry_and_forgets_the_token(
    xts: FakeXts, store: CredentialStore
) -> None:
    clock = TestClock(datetime.now(IST))
    session = XtsSession(store, clock=clock, rest_config=fast_rest(xts))
    try:
        await session.login()
        assert session.expires_at is not None and not session.check_expiry()
        clock.set(session.expires_at + timedelta(seconds=1))
        assert session.check_expiry()
    finally:
        await session.close()
    assert session.state is SessionState.EXPIRED and session.token is None
    assert xts_token(store, clock.now()) is None


async def test_xts_logout_ends_the_token_at_xts_and_in_the_keyring(
    xts: FakeXts, store: CredentialStore
) -> None:
    session = XtsSession(store, clock=LiveClock(), rest_config=fast_rest(xts))
    try:
        await session.login()
        await session.logout()
    finally:
        await session.close()
    assert session.state is SessionState.LOGGED_OUT
    assert not xts.interactive.tokens and xts_token(store, LiveClock().now()) is None


async def test_xts_changed_app_key_forgets_the_old_keys_token(
    xts: FakeXts, store: CredentialStore
) -> None:
    session = XtsSession(store, clock=LiveClock(), rest_config=fast_rest(xts))
    await session.login()
    await session.close()
    account = xts_account(store)
    assert account is not None
    save_xts_account(store, XtsAccount(account.root, "another-key", "another-secret"))
    assert xts_token(store, LiveClock().now()) is None


async def test_xts_dealer_login_names_its_client_on_every_call(store: CredentialStore) -> None:
    async with FakeXts(limits=FAST_LIMITS, investor=False) as dealer:
        save_fake_account(dealer, store)
        session = XtsSession(store, clock=LiveClock(), rest_config=fast_rest(dealer))
        try:
            await session.login()
            assert session.rest.client_id == "CLIENT7"  # the first of the login's clientCodes
            assert await session.rest.orders() == []
            assert await session.rest.positions() == []
        finally:
            await session.close()
        assert dealer.interactive.token_rejections == 0


async def test_xts_wrong_secret_is_refused_in_words(xts: FakeXts, store: CredentialStore) -> None:
    account = xts_account(store)
    assert account is not None
    save_xts_account(store, XtsAccount(account.root, account.app_key, "wrong"))
    session = XtsSession(store, clock=LiveClock(), rest_config=fast_rest(xts))
    try:
        with pytest.raises(LoginRefused, match="Invalid appKey or secretKey"):
            await session.login()
    finally:
        await session.close()
    assert not session.logged_in


async def test_xts_is_a_registered_live_broker_that_trades_on_its_own_prices() -> None:
    spec = broker_spec("xts")
    assert spec.live and spec.own_feed_only and spec.title == "Symphony XTS"


async def test_xts_connect_logs_in_both_apps_and_loads_the_instrument_master(
    xts: FakeXts, store: CredentialStore
) -> None:
    connected = await connect_xts("xts-session", login=None, store=store)
    try:
        assert connected.link.session.logged_in
        symbols = {i.tradingsymbol for i in connected.instruments}
        assert "RELIANCE" in symbols and any(s.startswith("NIFTY") for s in symbols)
        assert any(i.instrument_type.value == "INDEX" for i in connected.instruments)
        assert xts.interactive.logins == 1 and xts.market_data.logins == 1
    finally:
        await connected.link.close()


async def test_xts_connect_without_market_data_keys_says_what_to_enter(xts: FakeXts) -> None:
    store = CredentialStore("no-md", backend=MemoryKeyring())
    save_xts_account(
        store, XtsAccount(xts.url, xts.interactive.app_key, xts.interactive.secret_key)
    )
    with pytest.raises(ConnectProblem, match="market-data app key"):
        await connect_xts("no-md", login=None, store=store)
