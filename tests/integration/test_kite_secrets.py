"""Broker secrets go through the real OS keyring (Secret Service: gnome-keyring on a D-Bus session,
started by .ci/run) and nowhere else: after a whole Kite session no secret is in the database,
the settings, the logs, the instruments cache or an export.

Without a Secret Service (a developer machine with no D-Bus session) these tests are skipped;
``DALALDESK_REQUIRE_SECRET_SERVICE=1`` (set by .ci/run) turns the skip into a failure.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import keyring
import pytest

from engine.core.clock import IST
from engine.credentials import SERVICE, CredentialStore
from engine.domain.orders import OrderStatus
from tests.kite_desk import ADANIPORTS, market, open_desk, redirect_url, wait_for
from tests.kite_fake import FakeKite
from tests.secret_search import (
    assert_no_leaks,
    leave_exports_and_settings,
    logging_to_file,
    secret_service,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def store() -> Iterator[CredentialStore]:
    secret_service()
    # A profile of its own: a developer's real Kite entries are never touched.
    store = CredentialStore(f"pytest-{secrets.token_hex(4)}")
    yield store
    store.forget_kite()


def test_credential_store_when_on_the_secret_service_keeps_keys_and_the_days_token(
    store: CredentialStore,
) -> None:
    issued = datetime(2026, 11, 23, 9, 1, tzinfo=IST)

    store.save_kite_keys("abc123key", "s3cretvalue")
    saved = store.save_kite_access_token("tok42", issued)

    assert keyring.get_password(SERVICE, f"kite/{store.profile}/api_secret") == "s3cretvalue"
    assert store.kite_api_key() == "abc123key"
    assert saved.expires == datetime(2026, 11, 24, 6, 0, tzinfo=IST)
    assert store.kite_access_token(issued + timedelta(hours=20)).token == "tok42"  # type: ignore[union-attr]
    assert store.kite_access_token(saved.expires) is None  # expired: gone from the keyring
    assert keyring.get_password(SERVICE, f"kite/{store.profile}/access_token") is None


async def test_full_session_when_done_leaves_no_secret_in_database_settings_logs_or_exports(
    store: CredentialStore, tmp_path: Path
) -> None:
    captured: list[str] = []
    with logging_to_file(store.profile) as log_path:
        async with FakeKite(heartbeat_s=0.1) as kite:
            kite.credentials.api_key = f"key{secrets.token_hex(6)}"
            kite.credentials.api_secret = f"secret{secrets.token_hex(12)}"
            kite.oms.set_last_price("NSE", "ADANIPORTS", Decimal("400.00"))
            kite.ticker.set_market([market()])
            issued = kite.credentials.issue_access_token
            kite.credentials.issue_access_token = lambda: captured.append(issued()) or captured[-1]  # type: ignore[method-assign]
            store.save_kite_keys(kite.api_key, kite.api_secret)

            desk = await open_desk(kite, store, tmp_path / "book.db", cache_dir=tmp_path / "cache")
            request_tokens = []
            try:
                await desk.link.watch([ADANIPORTS])
                await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None)
                order_id = await desk.place(price="400.00")
                await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)
                kite.oms.fill(desk.broker_id(order_id), 10)
                await wait_for(
                    lambda: desk.engine.api.order(order_id).status is OrderStatus.COMPLETE
                )
                # The day's token dies; the trader logs in again through the redirect.
                await kite.expire_token()
                await wait_for(lambda: desk.connection("broker", "login required"))
                redirect = redirect_url(kite)
                request_tokens.append(redirect.rsplit("=", 1)[1])
                await desk.link.session.complete_login(redirect)
                second = await desk.place(price="399.00")
                await wait_for(lambda: desk.engine.api.order(second).status is OrderStatus.OPEN)
                assert store.kite_access_token(desk.engine.clock.now()) is not None

                leave_exports_and_settings(desk.engine.api, tmp_path, "kite", ADANIPORTS)
            finally:
                await desk.stop()

            secret_values = {
                "api secret": kite.api_secret,
                **{f"access token {n}": token for n, token in enumerate(captured)},
                **{f"request token {n}": token for n, token in enumerate(request_tokens)},
            }
    assert len(captured) == 2 and log_path.stat().st_size > 0
    assert_no_leaks(tmp_path, log_path, secret_values)
