"""Settings → Brokers: the Kite API key and secret, stored in the OS keyring and tested.

The secret is typed in and handed straight to the keyring; the page never shows it again (an
empty secret field keeps the stored one). "Test" asks the composition root to check the keys
(``test_requested``); it answers with ``show_result``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)


class KiteKeyStore(Protocol):
    """What the page needs from the credential store (``engine.credentials.CredentialStore``)."""

    def kite_api_key(self) -> str | None: ...

    def kite_api_secret(self) -> str | None: ...

    def save_kite_keys(self, api_key: str, api_secret: str) -> None: ...

    def forget_kite(self) -> None: ...


class KeysPage(QWidget):
    """What every broker's page shares: an introduction, the broker's form, Save / Test / Forget
    and a status line. A page saves and forgets through its store and reloads what is stored;
    Test asks the composition root (``test_requested``), which answers with ``show_result``."""

    test_requested = Signal()
    saved = Signal()

    def __init__(
        self,
        intro: str,
        form: QFormLayout,
        test_label: str,
        status_name: str,
        parent: QWidget | None,
    ) -> None:
        super().__init__(parent)
        text = QLabel(intro)
        text.setWordWrap(True)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.test_button = QPushButton(test_label)
        self.test_button.clicked.connect(self._test)
        self.forget_button = QPushButton("Forget")
        self.forget_button.clicked.connect(self.forget)
        buttons = QHBoxLayout()
        for button in (self.save_button, self.test_button, self.forget_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.status = QLabel("", objectName=status_name)
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def reload(self) -> None:
        raise NotImplementedError

    def save(self) -> bool:
        raise NotImplementedError

    def forget(self) -> None:
        raise NotImplementedError

    def _saved(self) -> bool:
        self.status.setText("Saved in the keyring.")
        self.reload()
        self.saved.emit()
        return True

    def _forget(self, forget: Callable[[], None], broker: str) -> None:
        try:
            forget()
        except (RuntimeError, ValueError) as exc:
            self.status.setText(str(exc))
            return
        self.status.setText(f"{broker} keys and session removed from the keyring.")
        self.reload()

    def show_result(self, ok: bool, text: str) -> None:
        self.test_button.setEnabled(True)
        self.status.setText(("✓ " if ok else "✗ ") + text)

    def _test(self) -> None:
        self.test_button.setEnabled(False)
        self.status.setText("Testing…")
        self.test_requested.emit()


class BrokerSettingsPage(KeysPage):
    def __init__(self, store: KiteKeyStore, parent: QWidget | None = None) -> None:
        self._store = store
        self.api_key = QLineEdit()
        self.api_key.setObjectName("kiteApiKey")
        self.api_secret = QLineEdit()
        self.api_secret.setObjectName("kiteApiSecret")
        self.api_secret.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow("API key", self.api_key)
        form.addRow("API secret", self.api_secret)
        super().__init__(
            "Zerodha Kite Connect: the API key and secret of your Kite Connect app "
            "(developers.kite.trade). They are kept in the operating system's keyring, "
            "never in DalalDesk's files.",
            form,
            "Test",
            "brokerSettingsStatus",
            parent,
        )
        self.setObjectName("brokerSettings")
        self.reload()

    def reload(self) -> None:
        try:
            key = self._store.kite_api_key()
            has_secret = self._store.kite_api_secret() is not None
        except (RuntimeError, ValueError) as exc:
            self.status.setText(str(exc))
            return
        self.api_key.setText(key or "")
        self.api_secret.clear()
        self.api_secret.setPlaceholderText(
            "stored in the keyring (type to replace)" if has_secret else "not set"
        )
        self.test_button.setEnabled(bool(key) and has_secret)

    def save(self) -> bool:
        key = self.api_key.text().strip()
        secret = self.api_secret.text().strip()
        try:
            if not secret:
                stored = self._store.kite_api_secret()
                if stored is None:
                    self.status.setText("Enter the API secret.")
                    return False
                if key != (self._store.kite_api_key() or ""):  # a secret is its app's own
                    self.status.setText(
                        "A new API key needs its own API secret: enter the secret of that "
                        "Kite Connect app too."
                    )
                    return False
                secret = stored
            self._store.save_kite_keys(key, secret)
        except (RuntimeError, ValueError) as exc:
            log.warning("Kite keys not saved: %s", type(exc).__name__)
            self.status.setText(str(exc))
            return False
        finally:
            secret = ""
        return self._saved()

    def forget(self) -> None:
        self._forget(self._store.forget_kite, "Kite")


class BrokersWindow(QTabWidget):
    """Settings → Brokers: one tab per broker (Kite, XTS); ``saved`` when either saves keys."""

    saved = Signal()

    def __init__(
        self, pages: dict[str, QWidget], current: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("brokersWindow")
        self.setWindowTitle("Brokers")
        self.pages = pages
        for title, page in pages.items():
            self.addTab(page, title)
            page.saved.connect(self.saved)  # type: ignore[attr-defined]
        if current in pages:
            self.setCurrentWidget(pages[current])
        self.resize(620, 420)
