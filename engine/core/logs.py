"""Logging: a rotating file in the user log directory, with secrets redacted from every record."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

import platformdirs

_KEY = (
    # A key naming a credential, as a whole word (``secretKey``, ``api-key``, ``access_token``,
    # ``X-Api-Key``, ``token``); Kite's ``instrument_token`` and ``exchange_token`` are not secret.
    r"(?<![A-Za-z0-9_.-])(?!(?:instrument|exchange)[_-]?token)[A-Za-z0-9_.-]{0,40}?"
    r"(?:secret|token|passphrase|password|passwd|totp|authorization|api[_-]?key|app[_-]?key)"
    r"[A-Za-z0-9_-]{0,40}"
)
_SECRET_PATTERNS = (
    # Kite's header first: "Authorization: token api_key:access_token".
    re.compile(r"(?i)(token\s+[A-Za-z0-9_]+:)([A-Za-z0-9_]+)"),
    # key=value, key: value, "key": "value", 'key': 'value'; a quoted value to its closing quote,
    # an auth scheme (``Bearer``, ``Basic``, ``token``) kept in sight and the credential after it.
    re.compile(
        rf"(?i)({_KEY}[\"']?\s*[:=]\s*)"
        r"(?:(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')|((?:bearer|basic|token)\s+)?[^\s\"'&,;}]+)"
    ),
    # A bearer credential on its own (a curl line, a header dumped without its name).
    re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{4,})"),
)


def _hidden(match: re.Match[str]) -> str:
    groups = match.groups()
    if len(groups) == 3:  # the key pattern: keep the quotes and the scheme
        key, quoted, scheme = groups
        if quoted:
            return f"{key}{quoted[0]}***{quoted[0]}"
        return f"{key}{scheme or ''}***"
    return match.group(1) + "***"


def redact(text: str) -> str:
    """``text`` with the credentials it carries in key-value or header form replaced by ``***``
    (known values, wherever they stand, are the caller's to remove: ``app.diagnostics.scrub``)."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_hidden, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


LOG_FILE_BYTES = 5_000_000
LOG_FILES_KEPT = 5
"""Rotated files kept beside the current one: the logs never take more than about
(LOG_FILES_KEPT + 1) x LOG_FILE_BYTES of the trader's disk."""


def log_dir(profile: str) -> Path:
    return Path(platformdirs.user_log_dir("dalaldesk")) / profile


LOG_FILE_RETRY_SECONDS = 60.0
"""After the log file could not be written (a full disk), records are dropped this long before
the file is tried again."""


class LogFileHandler(RotatingFileHandler):
    """The rotating log file, quiet when the file cannot be written: a full disk or a removed
    folder is said once, in words, on stderr (never logging's own traceback per record), and
    records are dropped for ``LOG_FILE_RETRY_SECONDS`` before the file is tried again."""

    def __init__(self, path: Path, max_bytes: int, kept: int) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=kept, encoding="utf-8")
        self.failures = 0
        self._paused_until = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if self._paused_until and time.monotonic() < self._paused_until:
            return
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)  # a bad format string: logging's report says which
            return
        self.failures += 1
        self._paused_until = time.monotonic() + LOG_FILE_RETRY_SECONDS
        self._drop_stream()
        if self.failures == 1 and sys.stderr is not None:
            reason = error.strerror or type(error).__name__
            sys.stderr.write(
                f"dalaldesk: the log file {self.baseFilename} cannot be written ({reason}); "
                "log records are dropped until it can be (free some space on that disk).\n"
            )

    def _drop_stream(self) -> None:
        """Let the open file go, with whatever it could not write: the next try opens it anew."""
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(OSError):  # the unwritten buffer: what could not be written
                stream.close()

    def close(self) -> None:
        try:
            super().close()
        except OSError:
            self._drop_stream()  # a full disk at the close: nothing more can be saved


class BriefFormatter(logging.Formatter):
    """A warning as one line of words, for a terminal: the traceback stays in the log file."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def setup_logging(
    profile: str,
    level: str = "INFO",
    *,
    console: bool = True,
    brief_console: bool = False,
    console_filter: logging.Filter | None = None,
    file_name: str = "dalaldesk.log",
) -> Path:
    """Log to ``<user log dir>/dalaldesk/<profile>/<file_name>`` (rotated at LOG_FILE_BYTES,
    LOG_FILES_KEPT old files kept) and warnings to stderr: as the log file has them, or with
    ``brief_console`` one line each with no traceback (a command line's output); the terminal
    shows only what ``console_filter`` lets through."""
    directory = log_dir(profile)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name
    root = logging.getLogger()
    root.setLevel(level.upper())
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    redactor = RedactingFilter()
    file = LogFileHandler(path, LOG_FILE_BYTES, LOG_FILES_KEPT)
    file.setFormatter(formatter)
    handlers: list[logging.Handler] = [file]
    if console:
        stream = logging.StreamHandler()
        stream.setLevel(logging.WARNING)
        stream.setFormatter(BriefFormatter() if brief_console else formatter)
        if console_filter is not None:
            stream.addFilter(console_filter)
        handlers.append(stream)
    for handler in handlers:
        handler.addFilter(redactor)
        root.addHandler(handler)
    return path
