"""XTS secrets go through the real OS keyring (Secret Service, as for Kite) and nowhere else:
after a whole XTS session (both apps logged in, orders placed and filled, the session taken over
by a login elsewhere and logged in again, prices streamed) no app key, secret key or token of
either app is in the database, the settings, the logs or an export.

Skipped without a Secret Service; ``DALALDESK_REQUIRE_SECRET_SERVICE=1`` (.ci/run) fails instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import keyring
import pytest

from engine.brokers.xts.credentials import forget_xts, xts_token
from engine.core.clock import IST
from engine.credentials import SERVICE, CredentialStore
from engine.domain.orders import OrderStatus
from tests.secret_search import (
    assert_no_leaks,
    leave_exports_and_settings,
    logging_to_file,
    secret_service,
)
from tests.xts_desk import ADANIPORTS_TOKEN, FAST_LIMITS, open_desk, save_fake_account, wait_for
from tests.xts_fake import ADANIPORTS, FakeXts

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def store() -> Iterator[CredentialStore]:
    secret_service()
    store = CredentialStore(f"pytest-{secrets.token_hex(4)}")  # never a developer's own entries
    yield store
    forget_xts(store)


def test_xts_token_on_the_secret_service_is_kept_until_its_expiry(
    store: CredentialStore,
) -> None:
    from engine.brokers.xts.credentials import save_xts_token

    issued = datetime(2026, 11, 23, 9, 1, tzinfo=IST)
    saved = save_xts_token(store, "tok-xts-42", "XTSUSER1", True, issued)

    entry = keyring.get_password(SERVICE, f"xts/{store.profile}/interactive_token")
    assert entry is not None and "tok-xts-42" in entry
    assert xts_token(store, issued + timedelta(hours=20)).token == "tok-xts-42"  # type: ignore[union-attr]
    assert xts_token(store, saved.expires) is None  # expired: deleted from the keyring
    assert keyring.get_password(SERVICE, f"xts/{store.profile}/interactive_token") is None


async def test_xts_full_session_leaves_no_key_secret_or_token_in_files(
    store: CredentialStore, tmp_path: Path
) -> None:
    md_tokens: list[str] = []
    with logging_to_file(store.profile) as log_path:
        async with FakeXts(limits=FAST_LIMITS) as xts:
            secret_values = await _full_session(xts, store, tmp_path, md_tokens)
    assert len(xts.interactive.issued) == 3 and md_tokens  # login, the takeover, login again
    assert log_path.stat().st_size > 0
    assert_no_leaks(tmp_path, log_path, secret_values)


async def _full_session(
    xts: FakeXts, store: CredentialStore, tmp_path: Path, md_tokens: list[str]
) -> dict[str, str]:
    """Both apps logged in, an order filled, the session taken over and logged in again, a
    second order live, the exports and settings written; the secrets that were in play."""
    xts.interactive.app_key = f"iakey{secrets.token_hex(6)}"
    xts.interactive.secret_key = f"iasecret{secrets.token_hex(12)}"
    xts.market_data.app_key = f"mdkey{secrets.token_hex(6)}"
    xts.market_data.secret_key = f"mdsecret{secrets.token_hex(12)}"
    xts.oms.exchange_matching = True
    xts.set_market(ADANIPORTS, Decimal("400.00"))
    save_fake_account(xts, store)

    desk = await open_desk(xts, store, tmp_path / "book.db")
    try:
        await desk.link.watch([ADANIPORTS_TOKEN])
        await wait_for(lambda: desk.engine.api.tick(ADANIPORTS_TOKEN) is not None)
        await wait_for(lambda: desk.link.socket_connected, what="order socket open")
        order_id = desk.place(10, "400.00")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.COMPLETE)
        # Another login with the same app key takes the session over; the desk logs in again.
        await xts.interactive.log_in_elsewhere()
        await wait_for(lambda: desk.connection("broker", "login required"))
        await desk.link.session.login()
        second = desk.place(10, "399.00")
        await wait_for(lambda: desk.engine.api.order(second).status is OrderStatus.OPEN)
        assert xts_token(store, desk.engine.clock.now()) is not None
        assert xts.market_data.logins == 1 and xts.market_data.session is not None
        md_tokens.append(xts.market_data.session.token)

        leave_exports_and_settings(desk.engine.api, tmp_path, "xts", ADANIPORTS_TOKEN)
    finally:
        await desk.stop()
    return {
        "interactive app key": xts.interactive.app_key,
        "interactive secret key": xts.interactive.secret_key,
        "market-data app key": xts.market_data.app_key,
        "market-data secret key": xts.market_data.secret_key,
        **{f"interactive token {n}": t for n, t in enumerate(xts.interactive.issued)},
        **{f"market-data token {n}": t for n, t in enumerate(md_tokens)},
    }
