"""The login windows of a running desk's live brokers: one per account, shown when the broker
asks for a login (the session ended: the token expired, a logout elsewhere) and again whenever
the trader asks (Settings → Log in to the broker again…). A window closed before the login is
never lost: orders stay held until the login, and the trader can always have the window back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.api import ConnectionChanged

if TYPE_CHECKING:
    from engine.runtime import Engine

ASKED_BY_THE_TRADER = "asked from the window's menu"


class BrokerLogins:
    def __init__(self) -> None:
        self._windows: dict[int, Any] = {}
        """Each account's login window (by the engine's id), kept to be shown again."""

    def watch(self, account: Engine) -> None:
        """Show the account's login window whenever its broker asks for a login."""

        def on_connection(event: ConnectionChanged) -> None:
            if event.component == "broker" and event.state == "login required":
                self.show(account, event.detail)

        account.api.subscribe(ConnectionChanged, on_connection)

    def action(self, account: Engine) -> Callable[[], None] | None:
        """The window's "Log in to the broker again…" for ``account`` (None on the paper
        market: no broker to log in to)."""
        return None if account.link is None else lambda: self.show(account)

    def show(self, account: Engine, reason: str = ASKED_BY_THE_TRADER) -> None:
        """The account's login window, in front: the same window again once it was made."""
        if account.link is None:
            return
        window = self._windows.get(id(account))
        if window is not None:
            window.ask_again(reason)
            return
        from app.main import login_window

        window, _done = login_window(account.link.session, reason)
        self._windows[id(account)] = window

    def close(self) -> None:
        for window in self._windows.values():
            window.close()
        self._windows.clear()
