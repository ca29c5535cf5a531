"""A stand-in desktop notification daemon: the freedesktop Notifications interface (1.2) served
on a D-Bus bus with dbus-fast, recording what it was asked to show.

(No ``from __future__ import annotations`` here: dbus-fast reads the D-Bus signatures from the
annotations as written; they are D-Bus type codes, not Python names.)"""

# ruff: noqa: F722, F821

from dbus_fast.service import ServiceInterface, method

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


class Notifications(ServiceInterface):
    def __init__(self) -> None:
        super().__init__(NAME)
        self.received: list[tuple[str, str, str, int]] = []
        """(app name, summary, body, urgency) per notification; urgency -1 when not given."""

    @method()
    def Notify(
        self,
        app: "s",
        replaces: "u",
        icon: "s",
        summary: "s",
        body: "s",
        actions: "as",
        hints: "a{sv}",
        timeout: "i",
    ) -> "u":
        urgency = hints["urgency"].value if "urgency" in hints else -1
        self.received.append((app, summary, body, urgency))
        return len(self.received)

    @method()
    def GetCapabilities(self) -> "as":
        return ["body", "actions"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["stand-in", "dalaldesk tests", "1", "1.2"]

    @method()
    def CloseNotification(self, notification_id: "u"):  # type: ignore[no-untyped-def]
        return None
