"""The Kite login window: Kite's own login page in an embedded browser, non-modal.

After the trader logs in (client id, password, TOTP) Kite redirects to the app's registered
redirect address with ``request_token=...``; the window catches that address (a request
interceptor sees it before any page loads, ``urlChanged`` as a second net) and emits
``redirect_captured`` with it. The composition root exchanges it for a session and calls
``login_succeeded`` or ``show_error``. When the browser cannot be used, the trader pastes the
redirect address into the field below it.

The window knows nothing of the engine and holds no secret: the request token is single-use and
is passed on at once, never stored or logged.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)


def carries_request_token(url: str) -> bool:
    """Whether an address is Kite's login redirect (it has a request_token)."""
    return bool(parse_qs(urlsplit(url).query).get("request_token"))


class _RedirectCatcher(QObject):
    """Receives addresses from the browser's network thread, on the GUI thread."""

    seen = Signal(str)


def _make_interceptor(catcher: _RedirectCatcher):  # type: ignore[no-untyped-def]
    from PySide6.QtWebEngineCore import QWebEngineUrlRequestInfo, QWebEngineUrlRequestInterceptor

    class RedirectInterceptor(QWebEngineUrlRequestInterceptor):
        def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:
            url = info.requestUrl().toString()
            if carries_request_token(url):
                # The redirect target need not exist: the token is all we want from it.
                info.block(True)
                catcher.seen.emit(url)

    return RedirectInterceptor()


class KiteLoginWindow(QWidget):
    redirect_captured = Signal(str)
    """The redirect address (or what the trader pasted), to exchange for a session."""
    logged_in = Signal()
    closed = Signal()
    """The window was closed (the trader gave up, or after the login)."""

    def __init__(
        self,
        login_url: str,
        *,
        reason: str = "",
        use_browser: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("kiteLogin")
        self.setWindowTitle("Log in to Kite — DalalDesk")
        self.login_url = login_url
        self.busy = False
        self.view = None
        self._catcher = _RedirectCatcher(self)
        self._catcher.seen.connect(self._captured)
        self._interceptor = None

        layout = QVBoxLayout(self)
        self.reason = QLabel(reason or "Log in to Zerodha Kite to trade and stream prices.")
        self.reason.setWordWrap(True)
        self.reason.setObjectName("kiteLoginReason")
        layout.addWidget(self.reason)
        if use_browser:
            self.view = self._browser()
            layout.addWidget(self.view, 1)

        paste_row = QHBoxLayout()
        self.paste = QLineEdit()
        self.paste.setPlaceholderText(
            "or paste here the address Kite sent you to after the login (…request_token=…)"
        )
        self.paste.returnPressed.connect(self._submit_pasted)
        self.paste_button = QPushButton("Log in")
        self.paste_button.clicked.connect(self._submit_pasted)
        paste_row.addWidget(self.paste, 1)
        paste_row.addWidget(self.paste_button)
        layout.addLayout(paste_row)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setObjectName("kiteLoginStatus")
        layout.addWidget(self.status)
        self.resize(520, 720 if use_browser else 160)

    # -- what the composition root calls ---------------------------------------------------------

    def login_succeeded(self) -> None:
        self.busy = False
        self.status.setText("Logged in.")
        self.logged_in.emit()
        self.close()

    def show_error(self, text: str) -> None:
        """The login failed: say why and let the trader try again."""
        self.busy = False
        self.status.setText(text)
        self.paste_button.setEnabled(True)
        self.paste.setEnabled(True)
        if self.view is not None:
            self.view.setUrl(QUrl(self.login_url))

    def ask_again(self, reason: str) -> None:
        """Shown again after the session ended (token expired, logged out elsewhere)."""
        self.reason.setText(reason)
        self.status.setText("")
        self.paste.clear()
        if self.view is not None:
            self.view.setUrl(QUrl(self.login_url))
        self.show()
        self.raise_()

    # -- internals -------------------------------------------------------------------------------

    def _browser(self) -> QWidget:
        from PySide6.QtWebEngineWidgets import QWebEngineView

        view = QWebEngineView(self)
        self._interceptor = _make_interceptor(self._catcher)
        view.page().profile().setUrlRequestInterceptor(self._interceptor)
        view.urlChanged.connect(lambda url: self._captured(url.toString()))
        view.setUrl(QUrl(self.login_url))
        return view

    def _submit_pasted(self) -> None:
        if self.busy:  # one exchange at a time: a login link works once
            return
        text = self.paste.text().strip()
        if not text:
            self.status.setText("Paste the address Kite redirected to after the login.")
            return
        self._submit(text)

    def _captured(self, url: str) -> None:
        if carries_request_token(url) and not self.busy:
            self._submit(url)

    def _submit(self, text: str) -> None:
        self.busy = True
        self.paste_button.setEnabled(False)
        self.paste.setEnabled(False)
        self.status.setText("Logging in…")
        self.paste.clear()
        self.redirect_captured.emit(text)

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        if self.view is not None:
            profile = self.view.page().profile()
            profile.setUrlRequestInterceptor(None)
        super().closeEvent(event)
        self.closed.emit()
