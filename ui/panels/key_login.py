"""The login window of a broker whose stored keys are the login (XTS): no web page to visit,
only why the session ended and a button to log in again with the keys in the keyring.

It speaks the same signals as the Kite login window, so the composition root drives both alike:
``redirect_captured`` (emitted with an empty text: there is no redirect) asks for the login,
``show_error`` and ``login_succeeded`` answer.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class KeyLoginWindow(QWidget):
    redirect_captured = Signal(str)
    closed = Signal()
    """The window was closed (the trader gave up, or after the login)."""

    def __init__(self, broker: str, reason: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keyLogin")
        self._broker = broker
        self.setWindowTitle(f"{broker} — log in")
        self.reason = QLabel(self._reason_text(reason), self)
        self.reason.setWordWrap(True)
        self.login_button = QPushButton("Log in again", self)
        self.login_button.setDefault(True)
        self.login_button.clicked.connect(self._login)
        self.status = QLabel("", self, objectName="keyLoginStatus")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.login_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.reason)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self.resize(460, 160)

    def _login(self) -> None:
        self.login_button.setEnabled(False)
        self.status.setText("Logging in…")
        self.redirect_captured.emit("")

    def _reason_text(self, reason: str) -> str:
        broker = self._broker
        said = f"The {broker} session needs a login" + (f": {reason}" if reason else "")
        return (
            f"{said}. New orders are held until then. The desk logs in with the {broker} keys "
            "stored in Settings → Brokers."
        )

    def ask_again(self, reason: str) -> None:
        """Shown again (the session ended again, or the trader asked for it)."""
        self.reason.setText(self._reason_text(reason))
        self.login_button.setEnabled(True)
        self.status.setText("")
        self.show()
        self.raise_()

    def show_error(self, text: str) -> None:
        self.login_button.setEnabled(True)
        self.status.setText(f"✗ {text}")

    def login_succeeded(self) -> None:
        self.status.setText("✓ Logged in.")
        QTimer.singleShot(1200, self.close)

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().closeEvent(event)
        self.closed.emit()
