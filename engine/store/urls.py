"""Database URLs: the default location, and a form that is safe to show or log.

A URL can carry a password (``postgresql://desk:secret@host/book``). Whatever is shown to the
trader, written to a log or a crash report goes through ``redact_url`` first.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import platformdirs
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

APP_NAME = "dalaldesk"
DATABASE_FILE_NAME = "dalaldesk.db"
MASK = "***"
UNREADABLE_URL = "<unreadable database URL>"

# Query parameters whose values may be credentials for some driver (libpq's ``password``,
# ODBC's ``pwd``, cloud drivers' tokens). Matched as substrings of the lower-cased name.
_SECRET_QUERY_WORDS = ("password", "passwd", "pwd", "secret", "token", "key", "credential")


DEFAULT_PROFILE = "default"
PAPER_BOOK = "paper"


def check_path_name(what: str, name: str) -> str:
    """``name`` if it can name one directory or file (a profile, a book); ValueError if not."""
    if not name or name in (".", "..") or any(c in name for c in "/\\:"):
        raise ValueError(f"{what} {name!r} cannot name a directory or file: no / \\ : in it")
    return name


def profile_folder(profile: str, folder: str) -> Path:
    """A folder of the profile's own files (``strategies``, ``portfolios``):
    ``<user data dir>/<profile>/<folder>``."""
    check_path_name("profile", profile)
    return Path(platformdirs.user_data_dir(APP_NAME)) / profile / folder


def default_database_path(profile: str = DEFAULT_PROFILE, book: str = PAPER_BOOK) -> Path:
    """Where a profile keeps one book (``paper``, ``paper-kite``, ``kite``): each its own file, so
    paper orders, fills and limits never mix with a live broker's. The default profile's paper
    book is ``<user data dir>/dalaldesk.db``; every other is ``<user data dir>/<profile>/<book>.db``
    (platformdirs decides the directory for this OS user)."""
    check_path_name("profile", profile)
    check_path_name("book", book)
    root = Path(platformdirs.user_data_dir(APP_NAME))
    if profile == DEFAULT_PROFILE and book == PAPER_BOOK:
        return root / DATABASE_FILE_NAME
    return root / profile / f"{book}.db"


def sqlite_url(path: Path) -> URL:
    """A SQLite URL for a file path; built from parts so no character in the path needs escaping."""
    return URL.create("sqlite", database=str(path))


def redact_url(url: str | URL) -> str:
    """The URL as a string with its password and any credential-like query values masked.

    Text that does not parse as a URL is never echoed back: it might be a secret pasted by mistake.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        return UNREADABLE_URL
    rendered = parsed.set(query={}).render_as_string(hide_password=True)
    if not parsed.query:
        return rendered
    masked_query = {
        name: MASK if _looks_secret(name) else value for name, value in parsed.query.items()
    }
    return f"{rendered}?{urlencode(sorted(masked_query.items()), doseq=True, safe='*/')}"


def _looks_secret(query_name: str) -> bool:
    lowered = query_name.lower()
    return any(word in lowered for word in _SECRET_QUERY_WORDS)


def book_file_of(url: str | URL | None) -> Path | None:
    """The SQLite file a book URL names (None: the default book file); None for a server or
    in-memory database, or a URL that does not parse."""
    if url is None:
        return default_database_path()
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if str(parsed.database).startswith("file:"):
        return None
    return Path(str(parsed.database)).expanduser()
