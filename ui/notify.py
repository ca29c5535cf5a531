"""Desktop notifications (the OS's own: the freedesktop Notifications service over D-Bus on
Linux, the notification centre on Windows), through the maintained ``desktop-notifier`` library on
the desk's asyncio loop.

A notification that cannot be shown (no notification service, a locked-down session) is written
to the log once and the desk carries on: the alert is still in the Alerts panel, in Messages and
in the status bar.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from resources import resource_path

if TYPE_CHECKING:
    from desktop_notifier import DesktopNotifier

log = logging.getLogger(__name__)


class DesktopNotices:
    def __init__(self, app_name: str = "DalalDesk") -> None:
        self._app_name = app_name
        self._notifier: DesktopNotifier | None = None
        """Made with the first notification: importing the library and its D-Bus client costs
        tens of milliseconds that start-up does not need to pay before the first paint."""
        self._tasks: set[asyncio.Task[None]] = set()
        # The library logs each failed notification with its traceback; this class says it once.
        logging.getLogger("desktop_notifier").setLevel(logging.ERROR)
        self._failed = False
        self.sent = 0

    def notify(self, title: str, text: str, *, urgent: bool = False) -> bool:
        """Show a notification; False when there is no running loop to send it on."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        task = loop.create_task(self._send(title, text, urgent), name="desktop-notification")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _send(self, title: str, text: str, urgent: bool) -> None:
        from desktop_notifier import DesktopNotifier, Icon, Urgency

        if self._notifier is None:
            self._notifier = DesktopNotifier(
                app_name=self._app_name,
                app_icon=Icon(path=resource_path("icons", "dalaldesk.png")),
            )
        dispatched: list[bool] = []
        # desktop-notifier never raises: a notification the OS refused is one never dispatched.
        await self._notifier.send(
            title,
            text,
            urgency=Urgency.Critical if urgent else Urgency.Normal,
            on_dispatched=lambda: dispatched.append(True),
        )
        if dispatched:
            self.sent += 1
        elif not self._failed:
            self._failed = True
            log.warning(
                "desktop notifications are not available here (no notification service answered); "
                "alerts show in the Alerts panel, Messages and the status bar"
            )

    async def drain(self) -> None:
        """Wait for the notifications on their way (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
