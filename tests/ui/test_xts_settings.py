"""Settings → Brokers → XTS: the keys go to the keyring (the secrets never shown again), an empty
secret keeps the stored one, and Test connection logs both apps in at the fake XTS on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from engine.brokers.xts.check import XtsKeys, check_xts_keys
from engine.credentials import CredentialStore
from tests.memory_keyring import MemoryKeyring
from tests.xts_fake import FakeXts
from ui.panels.xts_settings import XtsSettingsPage


@pytest.fixture
def store() -> CredentialStore:
    return CredentialStore("ui", backend=MemoryKeyring())


def fill(page: XtsSettingsPage, root: str, keys: tuple[str, str, str, str]) -> None:
    page.root.setText(root)
    for field, text in zip(
        (page.app_key, page.secret_key, page.market_data_app_key, page.market_data_secret_key),
        keys,
        strict=True,
    ):
        field.setText(text)


def test_xts_settings_save_keeps_the_keys_in_the_keyring_and_never_shows_a_secret(
    qtbot, store: CredentialStore
) -> None:  # type: ignore[no-untyped-def]
    keys = XtsKeys(store)
    page = XtsSettingsPage(keys)
    qtbot.addWidget(page)
    fill(page, "https://xts.broker.example:3000/", ("ia-key", "ia-secret", "md-key", "md-secret"))

    with qtbot.waitSignal(page.saved):
        page.save_button.click()

    stored = keys.xts_saved()
    assert (stored.root, stored.app_key, stored.market_data_app_key) == (
        "https://xts.broker.example:3000",
        "ia-key",
        "md-key",
    )
    assert stored.has_secret and stored.has_market_data_secret
    assert page.secret_key.text() == page.market_data_secret_key.text() == ""
    assert "keyring" in page.secret_key.placeholderText()
    assert page.test_button.isEnabled()

    page.app_key.setText("ia-key-2")  # secrets left empty: the stored ones stay
    assert page.save()
    assert (
        store.get("xts", "interactive_secret_key") == "ia-secret"
        and keys.xts_saved().app_key == "ia-key-2"
    )


def test_xts_settings_bad_or_missing_input_is_explained_and_forget_clears(
    qtbot, store: CredentialStore
) -> None:  # type: ignore[no-untyped-def]
    keys = XtsKeys(store)
    page = XtsSettingsPage(keys)
    qtbot.addWidget(page)
    assert not page.save()
    assert (
        page.status.text()
        == "Enter the root URL, the interactive app key, the market data app key."
    )
    fill(page, "xts.broker.example", ("k", "s", "mk", "ms"))
    assert not page.save()
    assert "must start with https://" in page.status.text()
    fill(page, "https://xts.broker.example", ("k", "", "mk", "ms"))
    assert not page.save()
    assert page.status.text() == "Enter the interactive secret key."

    fill(page, "https://xts.broker.example", ("k", "s", "mk", "ms"))
    assert page.save()
    page.forget_button.click()
    assert keys.xts_saved().app_key == "" and not keys.xts_saved().has_secret
    assert page.root.text() == ""


def test_xts_settings_test_connection_logs_both_apps_in_at_the_fake_xts(
    store: CredentialStore,
) -> None:
    async def scenario() -> None:
        xts = FakeXts()
        await xts.start()
        try:
            keys = XtsKeys(store)
            keys.save_xts(
                xts.url,
                "WEBAPI",
                xts.interactive.app_key,
                xts.interactive.secret_key,
                xts.market_data.app_key,
                xts.market_data.secret_key,
            )
            ok, text = await check_xts_keys(store, None)
            assert ok, text
            assert text == "XTS accepts both apps (interactive and market data) of XTSUSER1"

            keys.save_xts(
                xts.url,
                "WEBAPI",
                xts.interactive.app_key,
                "a wrong secret",
                xts.market_data.app_key,
                None,
            )
            ok, text = await check_xts_keys(store, None)
            assert not ok and text
            assert "a wrong secret" not in text
        finally:
            await xts.close()

    asyncio.run(scenario())


def test_xts_login_window_offers_a_login_with_the_stored_keys(qtbot) -> None:  # type: ignore[no-untyped-def]
    from ui.panels.key_login import KeyLoginWindow

    window = KeyLoginWindow("XTS", reason="a login elsewhere ended this session")
    qtbot.addWidget(window)
    assert "a login elsewhere ended this session. New orders are held" in window.reason.text()
    with qtbot.waitSignal(window.redirect_captured) as asked:
        window.login_button.click()
    assert asked.args == [""] and not window.login_button.isEnabled()
    window.show_error("XTS refused the keys")
    assert window.status.text() == "✗ XTS refused the keys" and window.login_button.isEnabled()
    window.login_succeeded()
    assert window.status.text() == "✓ Logged in."
