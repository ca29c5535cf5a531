"""The Kite login session: redirect parsing, the saved token, expiry and its listeners."""

from __future__ import annotations

from datetime import datetime

import pytest

from engine.brokers.kite.session import (
    KiteSession,
    LoginError,
    SessionChange,
    SessionState,
    login_url,
    request_token_from,
)
from engine.core.clock import IST, TestClock
from engine.credentials import CredentialStore
from tests.memory_keyring import MemoryKeyring

MORNING = datetime(2026, 11, 23, 8, 45, tzinfo=IST)


def test_request_token_when_redirect_url_is_given_is_read_from_its_query() -> None:
    url = "https://example.com/kite?action=login&type=login&status=success&request_token=AbC123"

    assert request_token_from(url) == "AbC123"
    assert request_token_from("  AbC123 ") == "AbC123"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "paste the address"),
        ("https://example.com/kite?status=error&request_token=x", "'error'"),
        ("https://example.com/kite?status=success", "no request_token"),
        ("https://example.com/kite?request_token=a%26b", "letters and digits"),
    ],
)
def test_request_token_when_redirect_is_wrong_says_why(text: str, message: str) -> None:
    with pytest.raises(LoginError, match=message):
        request_token_from(text)


def test_login_url_when_built_names_the_api_key_and_version_3() -> None:
    assert login_url("abc") == "https://kite.zerodha.com/connect/login?api_key=abc&v=3"


def make_session(clock: TestClock) -> tuple[KiteSession, CredentialStore, list[SessionChange]]:
    store = CredentialStore("unit", backend=MemoryKeyring())
    store.save_kite_keys("key1", "secret1")
    session = KiteSession(store, clock=clock)
    changes: list[SessionChange] = []
    session.listen(changes.append)
    return session, store, changes


def test_session_when_no_api_key_is_stored_asks_for_it_in_settings() -> None:
    store = CredentialStore("unit", backend=MemoryKeyring())

    with pytest.raises(LoginError, match="Settings → Brokers"):
        KiteSession(store, clock=TestClock(MORNING))


async def test_session_when_a_token_was_saved_today_resumes_and_expires_at_0600() -> None:
    clock = TestClock(MORNING)
    session, store, changes = make_session(clock)
    store.save_kite_access_token("tok1", clock.now())

    assert session.resume_saved()
    assert session.access_token == "tok1" and session.rest.session_ok
    clock.set(datetime(2026, 11, 24, 5, 59, tzinfo=IST))
    assert not session.check_expiry()
    clock.set(datetime(2026, 11, 24, 6, 0, tzinfo=IST))
    assert session.check_expiry()

    assert [c.state for c in changes] == [SessionState.LOGGED_IN, SessionState.EXPIRED]
    assert "06:00 IST" in changes[-1].reason
    assert session.access_token is None
    assert store.kite_access_token(clock.now()) is None
    await session.close()


async def test_session_when_not_logged_in_ignores_expiry_and_has_no_token() -> None:
    session, _, changes = make_session(TestClock(MORNING))

    session.expire("TokenException")

    assert not session.resume_saved()
    assert session.state is SessionState.LOGGED_OUT and changes == []
    await session.close()


async def test_session_when_a_listener_fails_still_tells_the_others() -> None:
    clock = TestClock(MORNING)
    session, store, changes = make_session(clock)
    store.save_kite_access_token("tok1", clock.now())

    def broken(change: SessionChange) -> None:
        raise RuntimeError("listener bug")

    session._listeners.insert(0, broken)
    assert session.resume_saved()

    assert [c.state for c in changes] == [SessionState.LOGGED_IN]
    await session.close()
