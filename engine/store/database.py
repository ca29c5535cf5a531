"""Opening the desk's database: SQLite by default, any SQLAlchemy URL for a shared book.

``open_database()`` with no URL uses ``<user data dir>/dalaldesk.db``. Every open runs the Alembic
migrations to head, so a new file and one written by an older version both come up on the current
schema.

Secrets never reach the database: credentials live only in the OS keyring, journal payloads that
carry a credential-named key are refused (``engine.store.codec``), and the URL is only ever shown
through ``redact_url`` (``Database.url``), which masks a password in it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from engine.store.book_watch import RESCUED, BookFileWatch
from engine.store.errors import SchemaError, StoreError
from engine.store.journal import Journal
from engine.store.migrate import upgrade_to_head
from engine.store.urls import book_file_of, default_database_path, redact_url, sqlite_url

logger = logging.getLogger(__name__)

Synchronous = Literal["NORMAL", "FULL", "EXTRA"]
SYNCHRONOUS_LEVELS: tuple[Synchronous, ...] = ("NORMAL", "FULL", "EXTRA")
DEFAULT_BUSY_TIMEOUT_MS = 5000
SERVER_CONNECT_TIMEOUT_S = 3
CHECKPOINT_SECONDS = 1.0
"""How often the write-ahead log is copied back into the database file, off the order path."""
BOOK_CHECK_SECONDS = 1.0
"""How often, at most, the book file at its path is checked to be the one open (wall time)."""
AUTOCHECKPOINT_PAGES = 16_384
"""A commit checkpoints by itself only once the log holds this many pages (64 MiB): a backstop
should the checkpoint thread fall behind. SQLite's default, 1,000 pages, made the commit that
crossed it rewrite about 4 MB inside an order submission."""


class DatabaseNotOpened(StoreError):
    """The book's database could not be opened (a server away, a wrong password, a missing
    driver); ``backend`` says which kind it is (``sqlite``, ``postgresql``), so the trader is
    given advice for a file or for a server."""

    def __init__(self, url: URL, reason: object) -> None:
        super().__init__(f"cannot open database {redact_url(url)}: {reason}")
        self.backend = url.get_backend_name()


class _Checkpointer:
    """Copies the SQLite write-ahead log into the database file every second on a thread of its
    own, with a connection of its own, so no journal commit on the order path does it. A PASSIVE
    checkpoint never blocks the writer; SQLite's driver releases the GIL while it works."""

    def __init__(self, engine: Engine, interval: float) -> None:
        self._engine = engine
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            logger.warning("the SQLite checkpoint thread did not stop within 10 s")

    def _run(self) -> None:
        error = self._engine.dialect.loaded_dbapi.Error
        try:
            connection = self._engine.raw_connection()
        except (SQLAlchemyError, error):
            logger.exception("SQLite checkpoints are off: no connection for them")
            return
        failing = False
        try:
            while not self._stop.wait(self._interval):
                cursor = connection.cursor()
                try:
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except error as exc:
                    # Said once while it keeps failing (a full disk fails every second).
                    if not failing:
                        logger.warning(
                            "SQLite checkpoint failed (%s); it is retried every %g s",
                            exc,
                            self._interval,
                            exc_info=True,
                        )
                    failing = True
                else:
                    if failing:
                        logger.info("SQLite checkpoints work again")
                    failing = False
                finally:
                    cursor.close()
        finally:
            connection.close()


class Database:
    """An open database at the current schema, with its one journal writer."""

    def __init__(
        self,
        engine: Engine,
        *,
        checkpoint_seconds: float | None = None,
        book_file: Path | None = None,
    ) -> None:
        self._engine = engine
        self._journal: Journal | None = None
        self._closed = False
        self._book_watch: BookFileWatch | None = None
        self._rescued: Path | None = None
        self._book_checked = -1.0
        if book_file is not None:
            try:
                self._book_watch = BookFileWatch(book_file)
            except OSError as exc:
                logger.warning("the book file %s cannot be watched: %s", book_file, exc)
        self._checkpointer: _Checkpointer | None = None
        if checkpoint_seconds is not None:
            self._checkpointer = _Checkpointer(engine, checkpoint_seconds)
            self._checkpointer.start()

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def url(self) -> str:
        """The database URL with any password masked: safe for logs and the status bar."""
        return redact_url(self._engine.url)

    @property
    def dialect_name(self) -> str:
        return self._engine.dialect.name

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def journal(self) -> Journal:
        """The journal of this database; one per database, since it is the single writer."""
        if self._closed:
            raise StoreError(f"database {self.url} is closed")
        if self._journal is None:
            self._journal = Journal(self._engine)
        return self._journal

    def check_book_file(self) -> str | None:
        """Whether the book file at its path is still the one open (one ``stat``; the runtime
        asks once a second). While it is not, the journal refuses writes, so order entry pauses
        as on a full disk. Returns what the trader must be told when that changes, else None."""
        watch = self._book_watch
        if watch is None or self._closed:
            return None
        # Once a second of the wall's (a replay's market second passes far faster).
        now = time.monotonic()
        if now - self._book_checked < BOOK_CHECK_SECONDS:
            return None
        self._book_checked = now
        told = watch.check()
        if watch.problem is not None:
            # Each second while the path leads elsewhere: the log beside the path is the open
            # file's, and a kill now would leave it to be replayed onto whatever is at the path.
            self._empty_log()
        if told is None:
            return None
        self.journal.refuse_writes(watch.refusal)
        if watch.refusal is None:
            logger.warning("%s", told)
            return told
        if self._rescued is None:
            self._rescued = self._save_what_is_open(watch.path)
        if self._rescued is not None:
            told += (
                " Otherwise close the desk: everything it recorded is saved as "
                f"{self._rescued}, and `dalaldesk book restore {self._rescued}` puts it back."
            )
        else:
            told += (
                " Otherwise close the desk and restore the newest backup with `dalaldesk book "
                "restore` (`dalaldesk book backups` lists them); what was recorded since that "
                "backup could not be saved."
            )
        logger.critical("%s", told)
        return told

    def _empty_log(self) -> None:
        """Fold the open book's write-ahead log into it and leave the log at the path empty."""
        try:
            emptied = self.journal.empty_log()
        except (OSError, StoreError, self._engine.dialect.loaded_dbapi.Error) as exc:
            logger.error("the open book's write-ahead log could not be emptied: %s", exc)
            return
        if not emptied:
            logger.warning("the open book's write-ahead log is in use; emptied next second")

    def _save_what_is_open(self, book: Path) -> Path | None:
        """The book the desk has open, copied beside its path once that path leads elsewhere
        (``<book>.rescued-<time>``); None when it could not be."""
        stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S")
        target = book.with_name(f"{book.name}{RESCUED}{stamp}")
        try:
            self.journal.save_copy(target)
        except (OSError, TypeError, StoreError, self._engine.dialect.loaded_dbapi.Error) as exc:
            logger.error("the open book could not be saved as %s: %s", target, exc)
            return None
        return target

    def close(self) -> None:
        """Close the journal and every pooled connection; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._journal is not None:
            self._journal.close()
        self._engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.url!r})"


def open_database(
    url: str | URL | None = None,
    *,
    synchronous: Synchronous = "NORMAL",
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
) -> Database:
    """Open (creating if needed) the database at ``url`` and migrate it to the current schema.

    ``None`` means the default SQLite file in the user data directory. For SQLite, ``synchronous``
    picks the durability: ``NORMAL`` survives a crash of this process (what the journal promises),
    ``FULL`` or ``EXTRA`` also a power loss, at the price of an fsync per commit.
    """
    level = str(synchronous).upper()
    if level not in SYNCHRONOUS_LEVELS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS_LEVELS}, not {synchronous!r}")
    if (
        isinstance(busy_timeout_ms, bool)
        or not isinstance(busy_timeout_ms, int)
        or busy_timeout_ms < 0
    ):
        raise ValueError(f"busy_timeout_ms must be a non-negative int, not {busy_timeout_ms!r}")

    parsed = _parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        _refuse_unreadable_book(parsed)
        _create_parent_directory(parsed)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # A server that does not answer holds a (re)connect on the loop for this long at most,
        # not for TCP's minutes: the journal's retry and the desk's lease reconnect each second.
        connect_args["connect_timeout"] = SERVER_CONNECT_TIMEOUT_S
    try:
        engine = create_engine(parsed, connect_args=connect_args)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseNotOpened(parsed, exc) from exc
    if engine.dialect.name == "sqlite":
        _set_sqlite_pragmas_on_connect(engine, level, busy_timeout_ms)

    try:
        upgrade_to_head(engine)
    except SchemaError:
        engine.dispose()
        raise
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = getattr(exc, "orig", None) or type(exc).__name__
        raise DatabaseNotOpened(parsed, reason) from exc
    file_backed = engine.dialect.name == "sqlite" and engine.url.database not in (
        None,
        "",
        ":memory:",
    )
    database = Database(
        engine,
        checkpoint_seconds=CHECKPOINT_SECONDS if file_backed else None,
        book_file=_resolved(book_file_of(parsed)) if file_backed else None,
    )
    logger.info("opened database %s", database.url)
    return database


def _parse_url(url: str | URL | None) -> URL:
    if url is None:
        return sqlite_url(default_database_path())
    try:
        return make_url(url)
    except ArgumentError:
        # Neither the text nor SQLAlchemy's message (which quotes it) is repeated: it may hold a
        # password.
        raise ValueError(
            "database URL could not be parsed; expected dialect+driver://user@host/name"
        ) from None


def _refuse_unreadable_book(url: URL) -> None:
    """An empty or damaged book file is never opened (SQLite would start a new, empty book over
    a zero-length file): ``BookUnreadable`` says what is wrong and lists the backups. Nor is a
    missing one started afresh while an earlier book's files sit beside its path
    (``BookMissing``)."""
    from engine.store.backup import leftovers_of, list_backups
    from engine.store.book import BookMissing, BookUnreadable, inspect_book_file

    path = book_file_of(url)
    if path is None:
        return
    problem = inspect_book_file(path)
    if problem is not None:
        raise BookUnreadable(path, problem, list_backups(path))
    if not path.exists() and (leftovers := leftovers_of(path)):
        raise BookMissing(path, leftovers, list_backups(path))


def _create_parent_directory(url: URL) -> None:
    path = book_file_of(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def _resolved(path: Path | None) -> Path | None:
    return None if path is None else path.resolve()


def _set_sqlite_pragmas_on_connect(engine: Engine, synchronous: str, busy_timeout_ms: int) -> None:
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL needs a lock another process may hold.
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal" and not in_memory:
                logger.warning(
                    "SQLite database %s stays in %s mode (WAL unavailable on this filesystem?)",
                    redact_url(engine.url),
                    mode,
                )
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
        finally:
            cursor.close()
