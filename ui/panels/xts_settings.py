"""Settings → Brokers → XTS: one broker's Symphony XTS server and the two apps of the account
(interactive for orders, market data for prices), kept in the OS keyring and tested.

XTS is white-labelled: each broker (IIFL, Motilal Oswal, Jainam, ...) runs its own server, so the
root URL is the broker's and has no default. Secret keys are typed in and handed straight to the
store; the page never shows them again (an empty field keeps the stored one). "Test connection"
asks the composition root to log both apps in (``test_requested``); it answers with
``show_result``.
"""

from __future__ import annotations

import logging
from typing import Protocol

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLineEdit,
    QWidget,
)

from ui.panels.broker_settings import KeysPage

log = logging.getLogger(__name__)

SOURCES = ("WEBAPI", "EXTERNAL", "MOBILEAPI")
"""The ``source`` an XTS login names; brokers give API apps WEBAPI unless they say otherwise."""


class XtsSaved(Protocol):
    """What the keyring holds for XTS, without the secrets themselves."""

    @property
    def root(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def app_key(self) -> str: ...
    @property
    def has_secret(self) -> bool: ...
    @property
    def market_data_app_key(self) -> str: ...
    @property
    def has_market_data_secret(self) -> bool: ...


class XtsKeyStore(Protocol):
    """What the page needs from the credential store (``engine.brokers.xts.check.XtsKeys``)."""

    def xts_saved(self) -> XtsSaved: ...

    def save_xts(
        self,
        root: str,
        source: str,
        app_key: str,
        secret_key: str | None,
        market_data_app_key: str,
        market_data_secret_key: str | None,
    ) -> None:
        """A secret of None keeps the stored one; ValueError says what is wrong."""
        ...

    def forget_xts(self) -> None: ...


class XtsSettingsPage(KeysPage):
    def __init__(self, store: XtsKeyStore, parent: QWidget | None = None) -> None:
        self._store = store
        self.root = QLineEdit(
            objectName="xtsRoot", placeholderText="https://your-broker-xts-host:3000"
        )
        self.source = QComboBox(objectName="xtsSource")
        self.source.addItems(SOURCES)
        self.app_key = QLineEdit(objectName="xtsAppKey")
        self.secret_key = QLineEdit(objectName="xtsSecretKey")
        self.market_data_app_key = QLineEdit(objectName="xtsMarketDataAppKey")
        self.market_data_secret_key = QLineEdit(objectName="xtsMarketDataSecretKey")
        for secret in (self.secret_key, self.market_data_secret_key):
            secret.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow("Broker's XTS root URL", self.root)
        form.addRow("Source", self.source)
        form.addRow("Interactive app key", self.app_key)
        form.addRow("Interactive secret key", self.secret_key)
        form.addRow("Market data app key", self.market_data_app_key)
        form.addRow("Market data secret key", self.market_data_secret_key)
        super().__init__(
            "Symphony XTS (IIFL, Motilal Oswal, Jainam, Nirmal Bang and other brokers): your "
            "broker's XTS server and the keys of the account's two API apps, interactive (orders) "
            "and market data (prices). Keys are kept in the operating system's keyring, never in "
            "DalalDesk's files.",
            form,
            "Test connection",
            "xtsSettingsStatus",
            parent,
        )
        self.setObjectName("xtsSettings")
        self.reload()

    def reload(self) -> None:
        try:
            saved = self._store.xts_saved()
        except (RuntimeError, ValueError) as exc:
            self.status.setText(str(exc))
            return
        self.root.setText(saved.root)
        self.source.setCurrentText(saved.source if saved.source in SOURCES else "WEBAPI")
        self.app_key.setText(saved.app_key)
        self.market_data_app_key.setText(saved.market_data_app_key)
        for field, stored in (
            (self.secret_key, saved.has_secret),
            (self.market_data_secret_key, saved.has_market_data_secret),
        ):
            field.clear()
            field.setPlaceholderText(
                "stored in the keyring (type to replace)" if stored else "not set"
            )
        self.test_button.setEnabled(bool(saved.root and saved.app_key and saved.has_secret))

    def save(self) -> bool:
        root = self.root.text().strip()
        missing = [
            name
            for name, text in (
                ("the root URL", root),
                ("the interactive app key", self.app_key.text().strip()),
                ("the market data app key", self.market_data_app_key.text().strip()),
            )
            if not text
        ]
        if missing:
            self.status.setText(f"Enter {', '.join(missing)}.")
            return False
        try:
            self._store.save_xts(
                root,
                self.source.currentText(),
                self.app_key.text().strip(),
                self.secret_key.text().strip() or None,
                self.market_data_app_key.text().strip(),
                self.market_data_secret_key.text().strip() or None,
            )
        except (RuntimeError, ValueError) as exc:
            log.warning("XTS keys not saved: %s", type(exc).__name__)
            self.status.setText(str(exc))
            return False
        return self._saved()

    def forget(self) -> None:
        self._forget(self._store.forget_xts, "XTS")
