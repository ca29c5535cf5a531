"""The broker's login windows as a trader meets them: closed at the start of the day, the desk
says so instead of waiting unseen; a redirect caught and pasted too is exchanged once; a window
closed mid-day can always be had back (Settings → Log in to the broker again…)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

# QtWebEngineWidgets must be imported before the QApplication exists.
from PySide6 import QtWebEngineWidgets  # noqa: F401
from PySide6.QtWidgets import QApplication

from app.broker_logins import BrokerLogins
from app.main import gui_login
from engine.brokers.kite.session import KiteSession, request_token_from
from engine.brokers.registry import ConnectProblem
from engine.core.clock import LiveClock
from engine.credentials import CredentialStore
from tests.memory_keyring import MemoryKeyring
from ui.panels.broker_settings import BrokerSettingsPage
from ui.panels.kite_login import KiteLoginWindow

REDIRECT = "https://127.0.0.1/kite/redirect?action=login&status=success&request_token=Req42"
NOWHERE = "http://127.0.0.1:9/connect/login"
"""The login page's address in these tests: nothing listens there (no call leaves the machine)."""

pytestmark = pytest.mark.qt_log_ignore(
    "^QRhiGles2", "^Failed to create RHI", "propagateSizeHints", "^GPUInfo not initialized"
)


@pytest.fixture
def session() -> KiteSession:
    store = CredentialStore("logins", backend=MemoryKeyring())
    store.save_kite_keys("fakeapikey", "fakeapisecret")
    return KiteSession(store, clock=LiveClock(), login_root=NOWHERE)


def login_windows() -> list[KiteLoginWindow]:
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, KiteLoginWindow)]
    return [w for w in found if w.isVisible()]


def test_login_window_while_exchanging_takes_no_second_redirect(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = KiteLoginWindow(NOWHERE, use_browser=False)
    qtbot.addWidget(window)
    sent: list[str] = []
    window.redirect_captured.connect(sent.append)
    window.paste.setText(REDIRECT)
    window.paste_button.click()

    window.paste.setText(REDIRECT)  # pasted again while the first is on its way
    window.paste.returnPressed.emit()
    window._captured(REDIRECT)  # and the browser's own catch of it

    assert sent == [REDIRECT], "a login link works once: it is sent once"
    assert not window.paste.isEnabled() and not window.paste_button.isEnabled()
    window.show_error("Kite could not log in: Token is invalid or has expired")
    assert window.paste.isEnabled() and window.paste_button.isEnabled()


def test_gui_login_when_the_window_is_closed_first_says_the_desk_needs_a_session(
    qtbot,
    qloop: Callable[[Coroutine[Any, Any, Any]], Any],
    session: KiteSession,  # type: ignore[no-untyped-def]
) -> None:
    async def scenario() -> str:
        asked = asyncio.ensure_future(gui_login(session, "Log in to start the day."))
        await asyncio.sleep(0.2)
        [window] = login_windows()
        window.close()  # the title bar's X
        try:
            await asyncio.wait_for(asked, 5)
        except ConnectProblem as problem:
            return str(problem)
        finally:
            await session.close()
        return "gui_login returned as if logged in"

    said = qloop(scenario())

    assert said == (
        "the Kite login window was closed before the login finished: the desk needs a Kite "
        "session to start"
    )
    assert login_windows() == []


def test_broker_logins_window_closed_mid_day_is_shown_again_on_request(
    qtbot,
    qloop: Callable[[Coroutine[Any, Any, Any]], Any],
    session: KiteSession,  # type: ignore[no-untyped-def]
) -> None:
    account = SimpleNamespace(link=SimpleNamespace(session=session))
    logins = BrokerLogins()

    async def scenario() -> list[str]:
        logins.show(account, "the session ended: Kite refused the access token")  # type: ignore[arg-type]
        [first] = login_windows()
        first.close()  # the trader closed it, orders still held
        await asyncio.sleep(0)
        assert login_windows() == []
        logins.show(account)  # type: ignore[arg-type]  # Settings → Log in to the broker again…
        shown = login_windows()
        assert shown == [first], "the same window, back in front"
        texts = [first.reason.text()]
        logins.close()
        await session.close()
        return texts

    assert qloop(scenario()) == ["asked from the window's menu"]


@pytest.mark.parametrize(
    ("pasted", "token"),
    [
        (REDIRECT.replace("&", "&amp;"), "Req42"),  # copied from a page's source
        ("request_token=Req42&action=login&status=success", "Req42"),  # the query alone
        ("  Req42 ", "Req42"),
    ],
)
def test_request_token_from_a_pasted_address_in_the_forms_traders_copy(
    pasted: str, token: str
) -> None:
    assert request_token_from(pasted) == token


def test_request_token_from_an_address_that_cannot_be_read_says_so_in_words() -> None:
    from engine.brokers.kite.session import LoginError

    with pytest.raises(LoginError, match="that address cannot be read"):
        request_token_from("http://[::1:5000/kite/redirect?request_token=AbC123")


def test_broker_settings_new_api_key_without_its_secret_is_refused(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = CredentialStore("keys", backend=MemoryKeyring())
    store.save_kite_keys("key1", "secret1")
    page = BrokerSettingsPage(store)
    qtbot.addWidget(page)

    page.api_key.setText("key2")  # another Kite Connect app, its secret not typed
    assert not page.save()

    assert page.status.text() == (
        "A new API key needs its own API secret: enter the secret of that Kite Connect app too."
    )
    assert store.kite_api_key() == "key1" and store.kite_api_secret() == "secret1"
