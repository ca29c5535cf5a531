"""Logging: a rotating file in the user log directory, with secrets redacted from every record."""

from __future__ import annotations

import logging
import re
from logging.handlers import RotatingFileHandler
from pathlib import Path

import platformdirs

# key=value / "key": "value" pairs whose value is a credential, and Kite's auth header.
_SECRET_PATTERNS = (
    # Kite's header first: "Authorization: token api_key:access_token".
    re.compile(r"(?i)(token\s+[A-Za-z0-9_]+:)([A-Za-z0-9_]+)"),
    re.compile(
        r"(?i)((?:access_token|api_secret|request_token|password|totp(?:_seed)?|secret|enctoken|"
        r"authorization|webhook_secret)[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"
    ),
)


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
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
    file = RotatingFileHandler(
        path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILES_KEPT, encoding="utf-8"
    )
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
