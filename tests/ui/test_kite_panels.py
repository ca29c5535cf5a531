"""The Kite login window and the Settings → Brokers page."""

from __future__ import annotations

from pathlib import Path

import pytest

# QtWebEngineWidgets must be imported before the QApplication exists.
from PySide6 import QtWebEngineWidgets  # noqa: F401

from engine.credentials import CredentialStore
from tests.memory_keyring import MemoryKeyring
from ui.panels.broker_settings import BrokerSettingsPage
from ui.panels.kite_login import KiteLoginWindow, carries_request_token

REDIRECT = "https://127.0.0.1/kite/redirect?action=login&status=success&request_token=Req42"


def test_carries_request_token_when_asked_knows_the_redirect_from_other_pages() -> None:
    assert carries_request_token(REDIRECT)
    assert not carries_request_token("https://kite.zerodha.com/connect/login?api_key=k&v=3")


def test_login_window_when_redirect_is_pasted_emits_it_once_and_waits(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = KiteLoginWindow("https://127.0.0.1/login", reason="Session expired", use_browser=False)
    qtbot.addWidget(window)
    window.paste.setText(REDIRECT)

    with qtbot.waitSignal(window.redirect_captured) as captured:
        window.paste_button.click()

    assert captured.args == [REDIRECT]
    assert window.busy and not window.paste_button.isEnabled()
    assert window.paste.text() == ""  # the single-use token is not left on screen
    assert window.reason.text() == "Session expired"


def test_login_window_when_the_exchange_fails_shows_why_and_lets_the_trader_retry(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = KiteLoginWindow("https://127.0.0.1/login", use_browser=False)
    qtbot.addWidget(window)
    window.paste.setText(REDIRECT)
    window.paste_button.click()

    window.show_error("Kite could not log in: Token is invalid or has expired")

    assert window.status.text().startswith("Kite could not log in")
    assert not window.busy and window.paste_button.isEnabled()


def test_login_window_when_nothing_is_pasted_asks_for_the_address(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = KiteLoginWindow("https://127.0.0.1/login", use_browser=False)
    qtbot.addWidget(window)
    with qtbot.assertNotEmitted(window.redirect_captured):
        window.paste_button.click()
    assert "Paste the address" in window.status.text()


# Offscreen and without a GPU, QtWebEngine says it falls back to software rendering.
@pytest.mark.qt_log_ignore(
    "^QRhiGles2", "^Failed to create RHI", "propagateSizeHints", "^GPUInfo not initialized"
)
def test_login_window_when_the_browser_is_redirected_catches_the_request_token(
    qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # A stand-in login page that redirects as Kite's does after a successful login; the target
    # does not exist (port 9): the interceptor catches the address before any connection.
    page = tmp_path / "login.html"
    page.write_text(
        "<html><body><script>window.location.href="
        "'http://127.0.0.1:9/redirect?action=login&status=success&request_token=Tok9';"
        "</script></body></html>"
    )
    window = KiteLoginWindow(page.as_uri())
    qtbot.addWidget(window)
    window.show()

    with qtbot.waitSignal(window.redirect_captured, timeout=20_000) as captured:
        pass

    assert "request_token=Tok9" in captured.args[0]
    window.close()
    assert window.view is not None
    window.view.page().deleteLater()
    window.view.deleteLater()
    qtbot.wait(50)


@pytest.fixture
def store() -> CredentialStore:
    return CredentialStore("ui", backend=MemoryKeyring())


def test_broker_settings_when_saved_stores_keys_and_never_shows_the_secret(  # type: ignore[no-untyped-def]
    qtbot, store: CredentialStore
) -> None:
    page = BrokerSettingsPage(store)
    qtbot.addWidget(page)
    page.api_key.setText("key1")
    page.api_secret.setText("secret1")

    with qtbot.waitSignal(page.saved):
        page.save_button.click()

    assert store.kite_api_key() == "key1" and store.kite_api_secret() == "secret1"
    assert page.api_secret.text() == ""
    assert "keyring" in page.api_secret.placeholderText()
    assert page.test_button.isEnabled()


def test_broker_settings_when_the_secret_is_left_empty_keeps_the_stored_one(  # type: ignore[no-untyped-def]
    qtbot, store: CredentialStore
) -> None:
    store.save_kite_keys("key1", "secret1")
    page = BrokerSettingsPage(store)
    qtbot.addWidget(page)
    assert page.api_key.text() == "key1" and page.api_secret.text() == ""

    page.api_key.setText(" key1 ")  # saved again as it was (a new key needs its own secret)
    assert page.save()

    assert store.kite_api_key() == "key1" and store.kite_api_secret() == "secret1"


def test_broker_settings_when_input_is_bad_or_forgotten_says_so(
    qtbot, store: CredentialStore
) -> None:  # type: ignore[no-untyped-def]
    page = BrokerSettingsPage(store)
    qtbot.addWidget(page)
    page.api_key.setText("key 1")
    page.api_secret.setText("s")
    assert not page.save()
    assert "letters and digits" in page.status.text()

    store.save_kite_keys("key1", "secret1")
    page.forget()
    assert store.kite_api_key() is None and "removed" in page.status.text()

    with qtbot.waitSignal(page.test_requested):
        page._test()
    page.show_result(False, "the API key or secret is missing")
    assert page.status.text() == "✗ the API key or secret is missing"
