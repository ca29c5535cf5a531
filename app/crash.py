"""The crash handler: uncaught exceptions and fatal signals go to a crash log and the trader sees a
non-modal message (never a traceback dialog, never a silent death).

An error that repeats (the same exception type raised at the same place: a broken panel's refresh
on a timer) is one error with a count: its crash file is written once and the trader is told the
count, not shown a new message each time. A session writes at most ``CRASH_FILES_PER_SESSION``
crash files and says once when it stops; later errors go to the log only. Crash files and messages
carry no secret: the log redaction, then every known secret value (``secrets``) removed.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from app.diagnostics import scrub
from engine.core.logs import redact

log = logging.getLogger("dalaldesk.crash")

CRASH_FILES_PER_SESSION = 20
"""Crash files one session writes at most: an error storm must not fill the disk."""
SECRETS_FRESH_SECONDS = 60.0
"""The known secret values are read again after this long (a keyring read can be slow: errors
in a burst share one read)."""

ErrorPlace = tuple[str, str, int]
"""An error's identity for merging repeats: its exception type, file and line."""


@dataclass(slots=True)
class SeenError:
    summary: str
    """``Type: message``, cleaned of secrets, as first seen."""
    where: str
    """Where the details are (or why they are not)."""
    count: int = 1


class CrashHandler:
    def __init__(
        self,
        directory: Path,
        notify: Callable[[str], None] | None = None,
        secrets: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self.directory = directory
        self.notify = notify
        self.secrets = secrets
        """The secret values to remove (the keyring's, ``app.diagnostics.known_secrets``)."""
        self.crashes: list[Path] = []
        self.seen: dict[ErrorPlace, SeenError] = {}
        self._secrets_read: tuple[float, Sequence[str]] | None = None
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
        place = _place(kind, tb)
        seen = self.seen.get(place)
        if seen is not None:
            seen.count += 1
            if seen.count & (seen.count - 1) == 0:  # 2, 4, 8, ...: the log is not flooded either
                log.error("%s again (%d times this session)", seen.summary, seen.count)
        else:
            seen = self.seen[place] = self._record(kind, error, tb)
        self._tell(seen)

    def _record(
        self, kind: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> SeenError:
        """The first time of an error: its crash file (while the session may write one)."""
        secrets = self._known_secrets()
        text = _clean("".join(traceback.format_exception(kind, error, tb)), secrets)
        summary = f"{kind.__name__}: {_clean(str(error), secrets)}"
        if len(self.crashes) >= CRASH_FILES_PER_SESSION:
            log.critical("uncaught %s\n%s", summary, text)
            return SeenError(summary, "The details are in the log.")
        stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S-%f")
        path = self.directory / f"crash-{stamp}.log"
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as unsaved:  # a full disk: the trader is still told, the log has it
            log.critical("uncaught %s\n%s", summary, text)
            return SeenError(
                summary,
                f"The details could not be saved to {path} ({unsaved.strerror or unsaved}).",
            )
        self.crashes.append(path)
        log.critical("uncaught %s (details in %s)", summary, path)
        where = f"Details were saved to {path}"
        if len(self.crashes) == CRASH_FILES_PER_SESSION:
            limit = (
                f"{CRASH_FILES_PER_SESSION} crash files were written this session: the next "
                "errors go to the log only."
            )
            log.warning("%s", limit)
            where = f"{where}\n\n{limit}"
        return SeenError(summary, where)

    def _tell(self, seen: SeenError) -> None:
        if self.notify is None:
            return
        times = f"\n\nThis error happened {seen.count} times." if seen.count > 1 else ""
        try:
            self.notify(f"{seen.summary}{times}\n\n{seen.where}")
        except Exception:  # the message could not be shown: the log still has the error
            log.exception("the error message could not be shown")

    def _known_secrets(self) -> Sequence[str]:
        if self.secrets is None:
            return ()
        now = time.monotonic()
        if self._secrets_read is not None and now - self._secrets_read[0] < SECRETS_FRESH_SECONDS:
            return self._secrets_read[1]
        try:
            found = tuple(self.secrets())
        except Exception as exc:  # a crash handler must not crash: the redaction still runs
            log.warning("crash report: the known secrets could not be read (%s)", redact(str(exc)))
            found = ()
        self._secrets_read = (now, found)
        return found

    def loop_exception(self, loop: Any, context: dict[str, Any]) -> None:
        """asyncio's exception handler: errors in tasks and callbacks end up here."""
        error = context.get("exception")
        if isinstance(error, BaseException):
            self.handle(type(error), error, error.__traceback__)
        else:
            log.error("event loop: %s", redact(str(context.get("message"))))


def _place(kind: type[BaseException], tb: TracebackType | None) -> ErrorPlace:
    """The exception type and the innermost frame it was raised in."""
    name = f"{kind.__module__}.{kind.__qualname__}"
    if tb is None:
        return (name, "", 0)
    while tb.tb_next is not None:
        tb = tb.tb_next
    return (name, tb.tb_frame.f_code.co_filename, tb.tb_lineno)


def _clean(text: str, secrets: Sequence[str]) -> str:
    """``text`` redacted and without any of ``secrets`` (``scrub``: the diagnostics bundle's)."""
    data = text.encode("utf-8", "backslashreplace")  # a lone surrogate must not stop the report
    return scrub(data, secrets)[0].decode("utf-8", "replace")
