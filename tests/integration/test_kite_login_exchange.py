"""The Kite login exchange when the keyring will not take the new token: the login link is
spent by then, so the trader is told to unlock the keyring and log in to Kite again (not to
"try again" with the same link, which Kite would refuse)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from engine.brokers.kite.config import KiteRestConfig
from engine.brokers.kite.session import KiteSession, LoginError
from engine.core.clock import LiveClock
from engine.credentials import CredentialStore
from tests.kite_desk import redirect_url
from tests.kite_fake import FakeKite
from tests.memory_keyring import MemoryKeyring


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with FakeKite() as fake:
        yield fake


async def test_kite_login_when_the_keyring_locks_at_the_token_says_to_log_in_again(
    kite: FakeKite,
) -> None:
    keyring = MemoryKeyring()
    store = CredentialStore("locks", backend=keyring)
    store.save_kite_keys(kite.api_key, kite.api_secret)
    keyring.locks_at.add("access_token")  # locked by the time the day's token is saved
    session = KiteSession(store, clock=LiveClock(), rest_config=KiteRestConfig(root=kite.rest.url))
    try:
        with pytest.raises(LoginError) as refused:
            await session.complete_login(redirect_url(kite))
    finally:
        await session.close()

    said = str(refused.value)
    assert said.endswith(
        "The Kite login itself is used up: unlock the keyring, then log in to Kite again"
    )
    assert kite.api_secret not in said and not re.search(r"acc\d+[0-9a-f]{24}", said)
    assert not session.logged_in
