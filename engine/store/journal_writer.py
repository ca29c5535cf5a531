"""The journal's hot write path: one dedicated connection, one statement compiled once.

An ``append`` is one INSERT in driver-level autocommit, so the database commits it as a single
statement before the call returns; a batch is wrapped in an explicit BEGIN/COMMIT. The statement is
built with SQLAlchemy Core and compiled once for the engine's dialect (placeholders, quoting,
RETURNING), then executed on the DBAPI cursor directly: ``Connection.execute`` plus ``commit`` per
call measured about twice the cost of the SQLite write itself (~40-60 µs against ~15-25 µs on a
2-core machine), and every column is a plain int or str, so no bind processor is skipped.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DisconnectionError

from engine.store.schema import journal

logger = logging.getLogger(__name__)

INSERTED_COLUMNS = ("ts_ns", "recorded_ns", "kind", "order_id", "payload")
CALL_DEADLINE_S = 5.0
"""A call to the book's database server not answered in this long is cut, as a disconnect."""
WATCH_EVERY_S = 0.25
"""How often the watchdog looks at the calls under way."""
PROBE_TIMEOUT_S = 3
"""How long the watchdog waits for a server that stopped answering to take a new connection."""


class JournalWriter:
    """Executes journal inserts on a connection it owns; not thread-safe (the Journal locks)."""

    def __init__(self, engine: Engine) -> None:
        refuse_if_unanswered(engine)
        dialect = engine.dialect
        # SQLite and MySQL report the new key as cursor.lastrowid; others need RETURNING.
        self._reads_lastrowid = _reports_lastrowid(dialect) or not dialect.insert_returning
        statement = insert(journal)
        if not self._reads_lastrowid:
            statement = statement.returning(journal.c.seq)
        compiled = statement.compile(dialect=dialect, column_keys=list(INSERTED_COLUMNS))
        self._sql = compiled.string
        self._parameters: Callable[[Mapping[str, Any]], Any]
        if compiled.positional:
            self._parameters = itemgetter(*(compiled.positiontup or ()))
        else:
            self._parameters = dict
        # IMMEDIATE takes SQLite's write lock up front, so a batch never fails half-way on it.
        self._begin_sql = "BEGIN IMMEDIATE" if dialect.name == "sqlite" else "BEGIN"
        # On SQLite a batch is one multi-row INSERT: a single statement is atomic on its own, and
        # it saves the BEGIN/COMMIT round trips on the order path (one unit of work = one write).
        self._multi_row = dialect.name == "sqlite" and compiled.positional and self._reads_lastrowid
        self._values_sql = "(" + ", ".join("?" * len(compiled.positiontup or ())) + ")"
        self._multi_sql: dict[int, str] = {}
        self._engine = engine
        self._connection: Connection = engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        )
        self._dbapi_connection = self._connection.connection.dbapi_connection
        if self._dbapi_connection is None:
            raise RuntimeError("the writer connection has no DBAPI connection")
        self._cursor = self._dbapi_connection.cursor()
        self._watch = watch_calls(self._connection, engine)
        """Set while a write runs on a server connection (None for SQLite)."""

    @property
    def dbapi_error(self) -> type[Exception]:
        """The driver's base exception class: what a failed write raises."""
        error: type[Exception] = self._engine.dialect.loaded_dbapi.Error
        return error

    def insert_one(self, row: Mapping[str, Any]) -> int:
        """Insert and commit one row (autocommit); returns its seq. On a server connection a
        write not answered within ``CALL_DEADLINE_S`` fails as a disconnect."""
        if self._watch is None:  # SQLite, on the order path: no deadline to keep
            return self._insert_one(row)
        with timed(self._watch):
            return self._insert_one(row)

    def _insert_one(self, row: Mapping[str, Any]) -> int:
        cursor = self._cursor
        cursor.execute(self._sql, self._parameters(row))
        if self._reads_lastrowid:
            seq: int = cursor.lastrowid
            return seq
        returned = cursor.fetchone()
        if returned is None:
            raise RuntimeError("INSERT ... RETURNING returned no row")
        return int(returned[0])

    def insert_batch(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert rows in one transaction; on any error the transaction is rolled back."""
        if len(rows) == 1:
            return [self.insert_one(rows[0])]
        if self._multi_row and len(rows) <= 100:
            return self._insert_multi_row(rows)
        cursor = self._cursor
        with timed(self._watch):
            cursor.execute(self._begin_sql)
            try:
                seqs = [self._insert_one(row) for row in rows]
                cursor.execute("COMMIT")
            except BaseException:
                self._roll_back()
                raise
        return seqs

    def _insert_multi_row(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        count = len(rows)
        sql = self._multi_sql.get(count)
        if sql is None:
            sql = self._multi_sql[count] = self._sql + (", " + self._values_sql) * (count - 1)
        parameters: list[Any] = []
        for row in rows:
            parameters.extend(self._parameters(row))
        self._cursor.execute(sql, parameters)
        last: int = self._cursor.lastrowid
        # One statement under SQLite's single writer: its rows take consecutive rowids.
        return list(range(last - count + 1, last + 1))

    def _roll_back(self) -> None:
        # Called while another error is propagating; that error is the one the caller must see.
        try:
            self._cursor.execute("ROLLBACK")
        except self.dbapi_error:
            if not getattr(self._dbapi_connection, "in_transaction", True):
                return  # the database ended it itself (SQLite does on a full disk): all undone
            logger.exception("journal ROLLBACK after a failed batch also failed")

    def is_disconnect(self, error: Exception) -> bool:
        """Whether the error means the connection is gone (so a new one is needed)."""
        dialect: Any = self._engine.dialect  # typed for DBAPI errors, which are untyped here
        return bool(dialect.is_disconnect(error, self._dbapi_connection, self._cursor))

    def copy_to(self, target: Path) -> None:
        """A consistent copy of the SQLite database this connection has open, written whole to
        ``target`` (SQLite's online backup). Read through this connection, it is the file the
        desk opened, even once another is at its path. ``sqlite3.Error``/``OSError`` on failure;
        ``TypeError`` when the database is not SQLite."""
        source = self._dbapi_connection
        if not isinstance(source, sqlite3.Connection):
            raise TypeError("only a SQLite book can be copied this way")
        partial = target.with_name(target.name + ".partial")
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
        partial.replace(target)

    def empty_log(self) -> bool:
        """Copy SQLite's write-ahead log into the file this connection has open, and cut the log
        to nothing (a TRUNCATE checkpoint); True when done, False when a reader held it back.
        Once the book's path leads to another file, the log beside that path is still this
        file's: left whole, a restart would replay it onto the other file. ``sqlite3.Error``/
        ``OSError`` on failure; nothing to do for a server database."""
        connection = self._dbapi_connection
        if not isinstance(connection, sqlite3.Connection):
            return True
        busy, _frames, _copied = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return not busy

    def close(self, *, invalidate: bool = False) -> None:
        """Release the connection; ``invalidate`` discards it rather than return it to the pool."""
        try:
            self._cursor.close()
        finally:
            if invalidate:
                self._connection.invalidate()
            self._connection.close()


def _reports_lastrowid(dialect: Dialect) -> bool:
    # A DefaultDialect attribute that the Dialect interface does not declare.
    return bool(getattr(dialect, "postfetch_lastrowid", False))


# -- a deadline for calls to a database server ------------------------------------------------------
#
# A server that stops answering (a frozen VM, a hung host, a network that drops packets without a
# reset) leaves a call waiting for ever: the kernel of a stopped server still acknowledges TCP, so
# neither keepalives nor a user timeout end it, and the call holds the desk's event loop. One
# watchdog thread for the process looks at the calls under way a few times a second and shuts down
# the socket of one past its deadline, so the driver fails it as a lost connection and the
# journal's paused-entry path takes over. The per-call cost is two attribute stores.
#
# The server is then marked as not answering: a reconnect would wait its whole connect timeout on
# the loop, so it is refused at once, and the watchdog tries a connection off the loop until the
# server takes one.


class CallWatch:
    """A server connection whose calls the watchdog times: ``since`` is set while one runs."""

    __slots__ = ("__weakref__", "_dbapi_connection", "engine", "since")

    def __init__(self, dbapi_connection: Any, engine: Engine) -> None:
        self.since: float | None = None
        self.engine = engine
        self._dbapi_connection = dbapi_connection

    def cut(self) -> None:
        """Shut the connection's socket down: the call waiting on it fails as a disconnect."""
        fd = _socket_of(self._dbapi_connection)
        if fd is None or fd < 0:
            return
        try:
            # A duplicate of the descriptor: shutting it down ends the connection itself, and
            # closing it leaves the driver's own descriptor to the driver.
            with socket.socket(fileno=os.dup(fd)) as duplicate:
                duplicate.shutdown(socket.SHUT_RDWR)
        except OSError:
            logger.debug("cutting a server connection failed", exc_info=True)


@contextmanager
def timed(watch: CallWatch | None) -> Iterator[None]:
    """The call inside timed against ``CALL_DEADLINE_S`` (nothing for SQLite: ``watch`` None)."""
    if watch is None:
        yield
        return
    watch.since = time.monotonic()
    try:
        yield
    finally:
        watch.since = None


def watch_calls(connection: Connection, engine: Engine) -> CallWatch | None:
    """A watch for the calls on ``connection`` when it talks to a server over a socket (None
    for SQLite)."""
    dbapi_connection = connection.connection.dbapi_connection
    if _socket_of(dbapi_connection) is None:
        return None
    watch = CallWatch(dbapi_connection, engine)
    _WATCHDOG.add(watch)
    return watch


def unanswered(engine: Engine) -> bool:
    """Whether the server of ``engine`` is marked as not answering (a call to it was cut)."""
    return id(engine) in _WATCHDOG.unanswered


def refuse_if_unanswered(engine: Engine) -> None:
    """Raise ``DisconnectionError`` at once while the server of ``engine`` is marked as not
    answering: a connection tried now would wait its whole connect timeout on the loop."""
    if unanswered(engine):
        raise DisconnectionError(
            f"the book's database server has not answered for over {CALL_DEADLINE_S:g} s; a "
            "new connection is tried once it takes one"
        )


def _socket_of(dbapi_connection: Any) -> int | None:
    pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg 3
    if pgconn is not None:
        try:
            return int(pgconn.socket)
        except Exception:  # a closed connection has no socket any more
            return -1
    fileno = getattr(dbapi_connection, "fileno", None)  # psycopg2 and most socket drivers
    if callable(fileno) and not isinstance(dbapi_connection, sqlite3.Connection):
        try:
            return int(fileno())
        except Exception:
            return -1
    return None


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: weakref.WeakSet[CallWatch] = weakref.WeakSet()
        self.unanswered: dict[int, Engine] = {}
        """The engines whose server stopped answering, by id (read from the loop, lock-free)."""
        self._thread: threading.Thread | None = None
        self._probing: threading.Thread | None = None

    def add(self, watch: CallWatch) -> None:
        with self._lock:
            self._watches.add(watch)
            self._start()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="dalaldesk-server-deadline", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(WATCH_EVERY_S)
            with self._lock:
                watches = list(self._watches)
                if not watches and not self.unanswered:
                    self._thread = None  # started again by the next watch
                    return
            now = time.monotonic()
            for watch in watches:
                since = watch.since
                if since is not None and now - since > CALL_DEADLINE_S:
                    watch.since = None
                    self.unanswered[id(watch.engine)] = watch.engine
                    logger.warning(
                        "the book's database server did not answer a call within %g s: its "
                        "connection is cut, and it is reconnected once the server answers",
                        CALL_DEADLINE_S,
                    )
                    watch.cut()
            if self.unanswered and (self._probing is None or not self._probing.is_alive()):
                # Off this thread: a probe waits up to its timeout, and calls go on being timed.
                self._probing = threading.Thread(
                    target=self._probe, name="dalaldesk-server-probe", daemon=True
                )
                self._probing.start()

    def _probe(self) -> None:
        while self.unanswered:
            for key, engine in list(self.unanswered.items()):
                if _takes_a_connection(engine):
                    self.unanswered.pop(key, None)
                    logger.info("the book's database server answers again")
            if self.unanswered:
                time.sleep(WATCH_EVERY_S)


def _takes_a_connection(engine: Engine) -> bool:
    """Whether the server takes a new connection now (a plain driver connection, off the pool,
    closed without waiting for the server)."""
    dialect = engine.dialect
    cargs, cparams = dialect.create_connect_args(engine.url)
    try:
        dbapi_connection = dialect.loaded_dbapi.connect(
            *cargs, **{**cparams, "connect_timeout": PROBE_TIMEOUT_S}
        )
    except Exception:
        return False
    try:
        dbapi_connection.close()
    except Exception:
        logger.debug("closing the probe connection failed", exc_info=True)
    return True


_WATCHDOG = _Watchdog()


def _after_fork_in_child() -> None:
    # The watchdog's threads stay in the parent: a forked child (a worker) starts its own.
    global _WATCHDOG
    _WATCHDOG = _Watchdog()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
