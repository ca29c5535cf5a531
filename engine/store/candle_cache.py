"""Candles kept on disk between sessions, so a chart opens without asking the broker again.

A SQLite file of its own (``history.sqlite`` beside the book), never the journal: it holds
nothing that cannot be fetched again. Two tables: ``candles`` keyed by (source, token,
timeframe, start) and ``covered``, the time ranges fetched completely (a range with no candle in
it, a holiday or a night, is covered too, so it is not asked for again).

The cache must never take the desk down. A file that is not a database or fails SQLite's quick
check is renamed aside (``history.sqlite.corrupt-<UTC time>``) and an empty one started; a file
that cannot be opened at all gives way to a cache in memory; a read that fails answers like an
empty cache (``bars`` answers None: it could not read) and a write that fails is dropped. Each
of these is logged as a warning.

The calls are blocking: ``CachedHistory`` (``engine.marketdata.history``) runs them on a worker
thread, one at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.pool import StaticPool

from engine.domain.bars import Bar, Timeframe
from engine.store.urls import sqlite_url

log = logging.getLogger(__name__)

T = TypeVar("T")

CACHE_FILE_NAME = "history.sqlite"
SCHEMA_VERSION = 1
"""Kept in SQLite's ``user_version``; a file of another version is emptied (it is only a cache)."""
BUSY_TIMEOUT_MS = 5000

_metadata = MetaData()

_candles = Table(
    "candles",
    _metadata,
    Column("source", String, primary_key=True),
    Column("token", BigInteger, primary_key=True),
    Column("timeframe", String, primary_key=True),
    Column("start_ns", BigInteger, primary_key=True),
    Column("open", BigInteger, nullable=False),
    Column("high", BigInteger, nullable=False),
    Column("low", BigInteger, nullable=False),
    Column("close", BigInteger, nullable=False),
    Column("volume", BigInteger, nullable=False),
    Column("oi", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

_covered = Table(
    "covered",
    _metadata,
    Column("source", String, primary_key=True),
    Column("token", BigInteger, primary_key=True),
    Column("timeframe", String, primary_key=True),
    Column("start_ns", BigInteger, primary_key=True),
    Column("end_ns", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)


class CandleCache:
    """The candle store of ``CachedHistory`` (``engine.marketdata.history.CandleStore``).

    ``path`` None keeps the cache in memory (tests, or a desk that cannot write its file). The
    file is opened at the first call, on the thread that makes it, not when the desk starts.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._engine: Engine | None = None
        self.set_aside: list[Path] = []
        """Where damaged cache files were moved, oldest first."""
        self.in_memory = path is None
        """True also when the file could not be opened and the cache fell back to memory."""

    # -- the store -------------------------------------------------------------------------------

    def missing(
        self, source: str, token: int, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> list[tuple[int, int]]:
        everything = [(start_ns, end_ns)] if end_ns > start_ns else []
        return self._guarded(
            "read", everything, _missing, source, token, timeframe, start_ns, end_ns
        )

    def bars(
        self, source: str, token: int, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> list[Bar] | None:
        return self._guarded("read", None, _bars, source, token, timeframe, start_ns, end_ns)

    def save(
        self,
        source: str,
        token: int,
        timeframe: Timeframe,
        bars: list[Bar],
        covered: tuple[int, int],
    ) -> None:
        start_ns, end_ns = covered
        if end_ns <= start_ns:
            return
        outside = [bar.start_ns for bar in bars if not start_ns <= bar.start_ns < end_ns]
        if outside:
            raise ValueError(f"bars starting at {outside[:3]} lie outside the range they cover")
        self._guarded("write", None, _save, source, token, timeframe, bars, start_ns, end_ns)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- opening and failing safely --------------------------------------------------------------

    def _guarded(self, what: str, fallback: T, call: Callable[..., T], *args: Any) -> T:
        """Run ``call(engine, *args)``; on a failure log it and answer ``fallback``."""
        try:
            return call(self._open(), *args)
        except OperationalError as exc:
            # Locked by another desk, disk full, I/O error: the file may be fine; skip this once.
            log.warning("candle cache %s failed (%s); going without it this time", what, exc.orig)
        except DatabaseError as exc:
            log.warning("candle cache %s found the file damaged (%s)", what, exc.orig)
            self._start_empty()
        return fallback

    def _open(self) -> Engine:
        if self._engine is not None:
            return self._engine
        if self.path is None or self.in_memory:
            self._engine = _memory_engine()
            return self._engine
        try:
            self._engine = _file_engine(self.path)
            return self._engine
        except OperationalError as exc:
            log.warning(
                "candle cache %s cannot be opened (%s); keeping candles in memory this session",
                self.path,
                exc.orig,
            )
        except OSError as exc:
            log.warning(
                "candle cache folder %s cannot be made (%s); keeping candles in memory",
                self.path.parent,
                exc,
            )
        except DatabaseError as exc:
            log.warning("candle cache %s is damaged (%s)", self.path, exc.orig)
            self._set_file_aside()
            try:
                self._engine = _file_engine(self.path)
                return self._engine
            except DatabaseError as again:
                log.warning(
                    "a new candle cache %s cannot be made either (%s); keeping candles in memory",
                    self.path,
                    again.orig,
                )
        self.in_memory = True
        self._engine = _memory_engine()
        return self._engine

    def _start_empty(self) -> None:
        self.close()
        if self.path is not None and not self.in_memory:
            self._set_file_aside()

    def _set_file_aside(self) -> None:
        assert self.path is not None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        serial = 1
        while target.exists():
            serial += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{serial}")
        try:
            self.path.rename(target)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("the damaged candle cache %s cannot be moved aside: %s", self.path, exc)
            self.in_memory = True
            return
        for suffix in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + suffix)
            try:
                companion.replace(target.with_name(target.name + suffix))
            except FileNotFoundError:
                continue  # SQLite had not made one: nothing to move
            except OSError as exc:
                log.warning("%s cannot be moved aside: %s", companion, exc)
        self.set_aside.append(target)
        log.warning("the damaged candle cache was moved to %s; starting an empty one", target)


# -- engines -------------------------------------------------------------------------------------


def _file_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sqlite_url(path))
    event.listen(engine, "connect", _file_pragmas)
    try:
        _prepare(engine)
    except DatabaseError:
        engine.dispose()
        raise
    return engine


def _memory_engine() -> Engine:
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    _prepare(engine)
    return engine


def _file_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # Losing the last moments of a cache in a power cut costs one refetch, nothing more.
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _prepare(engine: Engine) -> None:
    """Check the file and bring it to the current schema; DatabaseError when it is damaged."""
    with engine.begin() as connection:
        problems = [row[0] for row in connection.execute(text("PRAGMA quick_check"))]
        if problems != ["ok"]:
            raise DatabaseError("PRAGMA quick_check", None, Exception("; ".join(problems[:3])))
        version = connection.execute(text("PRAGMA user_version")).scalar_one()
        if version not in (0, SCHEMA_VERSION):
            log.info("candle cache schema %s is not %s: emptied", version, SCHEMA_VERSION)
            _metadata.drop_all(connection)
        _metadata.create_all(connection)
        connection.execute(text(f"PRAGMA user_version = {SCHEMA_VERSION}"))


# -- queries -------------------------------------------------------------------------------------


def _series(table: Table, source: str, token: int, timeframe: Timeframe) -> Any:
    return and_(
        table.c.source == source, table.c.token == token, table.c.timeframe == timeframe.label
    )


def _missing(
    engine: Engine, source: str, token: int, timeframe: Timeframe, start_ns: int, end_ns: int
) -> list[tuple[int, int]]:
    query = (
        select(_covered.c.start_ns, _covered.c.end_ns)
        .where(_series(_covered, source, token, timeframe))
        .where(_covered.c.end_ns > start_ns, _covered.c.start_ns < end_ns)
        .order_by(_covered.c.start_ns)
    )
    with engine.connect() as connection:
        ranges = [(row.start_ns, row.end_ns) for row in connection.execute(query)]
    return gaps_between(ranges, start_ns, end_ns)


def gaps_between(
    covered: Iterable[tuple[int, int]], start_ns: int, end_ns: int
) -> list[tuple[int, int]]:
    """The parts of ``[start_ns, end_ns)`` outside the ``covered`` ranges (sorted by start)."""
    gaps: list[tuple[int, int]] = []
    cursor = start_ns
    for range_start, range_end in covered:
        if range_start > cursor:
            gaps.append((cursor, min(range_start, end_ns)))
        cursor = max(cursor, range_end)
        if cursor >= end_ns:
            break
    if cursor < end_ns:
        gaps.append((cursor, end_ns))
    return [(a, b) for a, b in gaps if b > a]


def _bars(
    engine: Engine, source: str, token: int, timeframe: Timeframe, start_ns: int, end_ns: int
) -> list[Bar]:
    c = _candles.c
    query = (
        select(c.start_ns, c.open, c.high, c.low, c.close, c.volume, c.oi)
        .where(_series(_candles, source, token, timeframe))
        .where(c.start_ns >= start_ns, c.start_ns < end_ns)
        .order_by(c.start_ns)
    )
    with engine.connect() as connection:
        return [Bar(token, *row) for row in connection.execute(query)]


def _save(
    engine: Engine,
    source: str,
    token: int,
    timeframe: Timeframe,
    bars: list[Bar],
    start_ns: int,
    end_ns: int,
) -> None:
    key = {"source": source, "token": token, "timeframe": timeframe.label}
    rows = [
        {
            **key,
            "start_ns": bar.start_ns,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
            "oi": bar.oi,
        }
        for bar in bars
    ]
    series = _series(_covered, source, token, timeframe)
    touching = (
        select(_covered.c.start_ns, _covered.c.end_ns)
        .where(series)
        .where(_covered.c.end_ns >= start_ns, _covered.c.start_ns <= end_ns)
    )
    with engine.begin() as connection:
        if rows:
            upsert = sqlite_insert(_candles)
            fields = ("open", "high", "low", "close", "volume", "oi")
            upsert = upsert.on_conflict_do_update(
                index_elements=["source", "token", "timeframe", "start_ns"],
                set_={name: upsert.excluded[name] for name in fields},
            )
            connection.execute(upsert, rows)
        # Merge the new range with those it overlaps or touches: one row per covered stretch.
        merged_start, merged_end = start_ns, end_ns
        for row in connection.execute(touching).all():
            merged_start = min(merged_start, row.start_ns)
            merged_end = max(merged_end, row.end_ns)
        connection.execute(
            delete(_covered)
            .where(series)
            .where(_covered.c.start_ns >= merged_start, _covered.c.start_ns <= merged_end)
        )
        connection.execute(insert(_covered).values(**key, start_ns=merged_start, end_ns=merged_end))
