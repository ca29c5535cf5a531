"""The crash handler: uncaught exceptions and fatal signals go to a crash log and the trader sees a
non-modal message (never a traceback dialog, never a silent death)."""

from __future__ import annotations

import faulthandler
import logging
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from engine.core.logs import redact

log = logging.getLogger("dalaldesk.crash")


class CrashHandler:
    def __init__(self, directory: Path, notify: Callable[[str], None] | None = None) -> None:
        self.directory = directory
        self.notify = notify
        self.crashes: list[Path] = []
        self._fault_file: IO[str] | None = None
        self._previous_hook = sys.excepthook

    def install(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # faulthandler needs a real file that stays open: a segfault in Qt still leaves a trace.
        self._fault_file = open(self.directory / "faults.log", "a", encoding="utf-8")  # noqa: SIM115
        faulthandler.enable(self._fault_file)
        sys.excepthook = self.handle

    def uninstall(self) -> None:
        sys.excepthook = self._previous_hook
        if self._fault_file is not None:
            faulthandler.disable()
            self._fault_file.close()
            self._fault_file = None

    def handle(
        self, kind: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous_hook(kind, error, tb)
            return
        text = redact("".join(traceback.format_exception(kind, error, tb)))
        stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S-%f")
        path = self.directory / f"crash-{stamp}.log"
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as unsaved:  # a full disk: the trader is still told, the log has it
            log.critical("uncaught %s: %s\n%s", kind.__name__, redact(str(error)), text)
            where = f"The details could not be saved to {path} ({unsaved.strerror or unsaved})."
        else:
            self.crashes.append(path)
            log.critical("uncaught %s: %s (details in %s)", kind.__name__, redact(str(error)), path)
            where = f"Details were saved to {path}"
        if self.notify is not None:
            self.notify(f"{kind.__name__}: {redact(str(error))}\n\n{where}")

    def loop_exception(self, loop: Any, context: dict[str, Any]) -> None:
        """asyncio's exception handler: errors in tasks and callbacks end up here."""
        error = context.get("exception")
        if isinstance(error, BaseException):
            self.handle(type(error), error, error.__traceback__)
        else:
            log.error("event loop: %s", redact(str(context.get("message"))))
