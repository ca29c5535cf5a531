"""Database URLs: the default location, and a form that is safe to show or log.

A URL can carry a password (``postgresql://desk:secret@host/book``). Whatever is shown to the
trader, written to a log or a crash report goes through ``redact_url`` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode

import platformdirs
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from engine.store.errors import StoreError

APP_NAME = "dalaldesk"
DATABASE_FILE_NAME = "dalaldesk.db"
MASK = "***"
UNREADABLE_URL = "<unreadable database URL>"

# Query parameters whose values may be credentials for some driver (libpq's ``password``,
# ODBC's ``pwd``, cloud drivers' tokens). Matched as substrings of the lower-cased name.
_SECRET_QUERY_WORDS = ("password", "passwd", "pwd", "secret", "token", "key", "credential")


DEFAULT_PROFILE = "default"
PAPER_BOOK = "paper"


PATH_NAME_MAX = 100
"""The longest profile or book name: a folder name with room for what the desk adds to it."""


def check_path_name(what: str, name: str) -> str:
    """``name`` if it can name one directory or file (a profile, a book); ValueError if not."""
    if not name or name in (".", "..") or any(c in name for c in "/\\:"):
        raise ValueError(f"{what} {name!r} cannot name a directory or file: no / \\ : in it")
    if len(name) > PATH_NAME_MAX:
        raise ValueError(
            f"{what} name is {len(name)} characters long: at most {PATH_NAME_MAX}, as a folder "
            "or file name must fit every system"
        )
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
    except (ArgumentError, ValueError):  # ValueError: a port that is no number
        return UNREADABLE_URL
    if parsed.host is not None and "@" in parsed.host:
        # An unescaped @ in the password: what comes before the host's last @ is the password's.
        spilled, _, host = parsed.host.rpartition("@")
        parsed = parsed.set(password=f"{parsed.password or ''}@{spilled}", host=host)
    rendered = parsed.set(query={}).render_as_string(hide_password=True)
    if not parsed.query:
        return rendered
    masked_query = {
        name: MASK if _looks_secret(name) else value for name, value in parsed.query.items()
    }
    return f"{rendered}?{urlencode(sorted(masked_query.items()), doseq=True, safe='*/')}"


def redact_command(argv: Sequence[str]) -> str:
    """A command line (its program first) as one line that is safe to keep where others read
    it (the book's ``desk`` table, a lock file): the value of ``--db`` and anything that looks
    like a URL go through ``redact_url``, so no password is kept."""
    words: list[str] = []
    after_db = False
    for index, arg in enumerate(argv):
        if index == 0:
            words.append(Path(arg).name)
        elif after_db:
            words.append(redact_url(arg))
        elif "=" in arg and (arg.startswith("--db=") or "://" in arg.partition("=")[2]):
            name, _, value = arg.partition("=")
            words.append(f"{name}={redact_url(value)}")
        elif "://" in arg:
            words.append(redact_url(arg))
        else:
            words.append(arg)
        after_db = index > 0 and arg == "--db"
    return " ".join(words)


def check_book_url(url: str | URL) -> None:
    """Refuse a book URL the desk must not trade in (``BookUrlRefused``): an in-memory SQLite
    database (lost at exit, and no lock keeps a second desk off it), or one whose host holds an
    ``@`` (an unescaped ``@`` in the password or user name: the rest would be taken for the host,
    and shown). Raises ``ArgumentError`` for text that is no URL at all."""
    parsed = make_url(url)
    if parsed.host is not None and "@" in parsed.host:
        raise BookUrlRefused(
            "the book's URL holds more than one unescaped @, so part of the password (or user "
            "name) would be read as the server's name. Write each @ inside the user name or "
            "password as %40 (percent-encoded), e.g. postgresql://desk:pa%40ss@host/book"
        )
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise BookUrlRefused(
                "the SQLite URL given as the book names an in-memory database, not a file: its "
                "orders would be lost when the desk closes and no lock could keep a second desk "
                "off it. Name the book's file, e.g. --db sqlite:////path/to/book.db"
            )
        book_file_of(parsed)  # a URI filename that names no file is refused there


def _looks_secret(query_name: str) -> bool:
    lowered = query_name.lower()
    return any(word in lowered for word in _SECRET_QUERY_WORDS)


class BookUrlRefused(StoreError):
    """A SQLite URL names no file the desk can lock (an in-memory SQLite URI): refused, since a
    book nobody can lock could be opened by two desks, and one in memory is lost at exit."""


def book_file_of(url: str | URL | None) -> Path | None:
    """The SQLite file a book URL names (None: the default book file); None for a server or
    in-memory database, or a URL that does not parse. A SQLite URI filename
    (``sqlite:///file:/path/book.db?uri=true``) names the file in its path; one that names no file
    (``mode=memory``) raises ``BookUrlRefused``."""
    if url is None:
        return default_database_path()
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    database = str(parsed.database)
    if database.startswith("file:") and _is_true(parsed.query.get("uri")):
        return _file_of_sqlite_uri(database, parsed.query)
    # Without uri=true SQLAlchemy hands SQLite a plain file name, even one that starts "file:".
    return Path(database).expanduser()


def _one(value: object) -> str:
    """A URL query value as one string (SQLAlchemy gives a tuple for a repeated name)."""
    return str(value[-1] if isinstance(value, tuple) and value else value)


def _is_true(value: object) -> bool:
    return _one(value).strip().lower() in ("true", "yes", "on", "y", "t", "1")


def _file_of_sqlite_uri(database: str, query: Mapping[str, object]) -> Path:
    """The file SQLite opens for the URI filename ``database`` (its rules: an empty or
    ``localhost`` authority, %-escapes decoded, ``?query`` and ``#fragment`` not part of it)."""
    rest, _, fragment_and_query = database[len("file:") :].partition("?")
    rest = rest.partition("#")[0]
    inline = dict(parse_qsl(fragment_and_query.partition("#")[0]))
    mode = _one(inline.get("mode", query.get("mode")))
    if rest.startswith("//"):
        authority, slash, tail = rest[2:].partition("/")
        if authority.lower() not in ("", "localhost"):
            raise BookUrlRefused(
                f"the SQLite URI file:{rest} names a file on another host ({authority}); "
                "name a file on this machine, e.g. --db sqlite:////path/to/book.db"
            )
        rest = slash + tail
    path = unquote(rest)
    if os.name == "nt" and re.match(r"/[A-Za-z]:", path):
        path = path[1:]  # file:///C:/books/paper.db
    if mode.lower() == "memory" or path in ("", ":memory:"):
        raise BookUrlRefused(
            "the SQLite URI given as the book names an in-memory database, not a file: its "
            "orders would be lost when the desk closes and no lock could keep a second desk off "
            "it. Name the book's file, e.g. --db sqlite:////path/to/book.db (or "
            "sqlite:///file:/path/to/book.db?uri=true)"
        )
    return Path(path).expanduser()
