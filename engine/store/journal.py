"""The append-only audit journal: every order event, fill and risk decision, in order.

The flow is write, then publish: ``append`` returns only after the row is committed, so an event
the rest of the desk has seen is never lost to a process crash (SQLite WAL with
``synchronous=NORMAL``; ``FULL`` also survives power loss). If the write fails, ``append`` raises
``JournalWriteError`` and the caller must not publish. Orders, positions and P&L are rebuilt by
reading the journal from the start on restart.

``append`` is on the hot path (every order event and fill): it holds one dedicated connection open
and reuses one pre-built Core insert, with no ORM session (see ``journal_writer``). Writes are
serialised by a lock, so the journal is safe to share between the loop and a writer thread;
sequence numbers then follow commit order, which ``read(after_seq=...)`` relies on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.store.codec import decode_payload, encode_payload
from engine.store.errors import JournalWriteError
from engine.store.journal_writer import JournalWriter
from engine.store.schema import KIND_MAX_LENGTH, ORDER_ID_MAX_LENGTH
from engine.store.schema import journal as journal_table

logger = logging.getLogger(__name__)

READ_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One row of the journal as it was written."""

    seq: int
    ts_ns: int  # event time, epoch ns UTC
    recorded_ns: int  # when the journal wrote it, epoch ns UTC
    kind: str
    order_id: str | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UnreadableRow:
    """A journal row whose payload does not decode: set aside by the restore, never deleted."""

    seq: int
    ts_ns: int
    kind: str
    order_id: str | None
    reason: str


class NewJournalEntry(NamedTuple):
    """An entry for ``Journal.append_many``; a plain 4-tuple in this order works too."""

    kind: str
    payload: Mapping[str, Any]
    order_id: str | None
    ts_ns: int


EncodedEntry = dict[str, Any]
"""A journal row ready for the database (``Journal.encode``)."""


REFUSAL_REMEDY = (
    "put the book file back at its path, or close the desk and restore the copy it saved of "
    "what it had open"
)
"""What the trader can do while the journal refuses writes (``refuse_writes``)."""


class Journal:
    """Append-only log over one database; create one per database (it is the single writer)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._writer: JournalWriter | None = JournalWriter(engine)
        self._closed = False
        self._refusal: str | None = None

    def append(
        self, kind: str, payload: Mapping[str, Any], *, order_id: str | None, ts_ns: int
    ) -> int:
        """Write one entry and commit it; returns its sequence number.

        Raises ``TypeError``/``ValueError`` (nothing written) for a bad argument or payload, and
        ``JournalWriteError`` when the database did not take the write.
        """
        row = _row(kind, payload, order_id, ts_ns)
        row["recorded_ns"] = time.time_ns()
        with self._lock:
            writer = self._ready_writer(f"{kind!r}")
            try:
                return writer.insert_one(row)
            except writer.dbapi_error as exc:
                self._after_failure(writer, exc)
                raise JournalWriteError(f"journal append of {kind!r} failed: {exc}") from exc

    def append_many(self, entries: Iterable[NewJournalEntry | tuple[Any, ...]]) -> list[int]:
        """Write several entries in one transaction: all of them are committed, or none.

        Every payload is encoded before anything is written, so one bad payload writes nothing.
        """
        return self.append_encoded(self.encode(entries))

    def encode(self, entries: Iterable[NewJournalEntry | tuple[Any, ...]]) -> list[EncodedEntry]:
        """Entries checked and encoded for ``append_encoded``; ``TypeError``/``ValueError`` for a
        bad one. Rows held while the database refuses writes are encoded once this way, however
        often their write is retried."""
        return [
            _row(*(entry if type(entry) is NewJournalEntry else NewJournalEntry(*entry)))
            for entry in entries
        ]

    def append_encoded(self, rows: list[EncodedEntry]) -> list[int]:
        """``append_many`` of entries ``encode`` made: all committed, or none."""
        if not rows:
            return []
        now = time.time_ns()  # when they are written, not when they were first tried
        for row in rows:
            row["recorded_ns"] = now
        with self._lock:
            writer = self._ready_writer(f"a batch of {len(rows)} entries")
            try:
                return writer.insert_batch(rows)
            except writer.dbapi_error as exc:
                self._after_failure(writer, exc)
                raise JournalWriteError(
                    f"journal append of {len(rows)} entries failed, none written: {exc}"
                ) from exc

    def read(
        self,
        after_seq: int = 0,
        *,
        kinds: Collection[str] | None = None,
        order_id: str | None = None,
    ) -> Iterator[JournalEntry]:
        """Entries with ``seq > after_seq`` in seq order, optionally only some kinds or one order.

        Reads page by page on short-lived connections, so a long replay neither holds a snapshot
        open nor blocks appends; entries appended while iterating are included. A row whose
        payload does not decode raises ``ValueError``; ``read_tolerant`` yields it instead.
        """
        for entry in self.read_tolerant(after_seq, kinds=kinds, order_id=order_id):
            if isinstance(entry, UnreadableRow):
                raise ValueError(f"journal row {entry.seq} does not decode: {entry.reason}")
            yield entry

    def read_tolerant(
        self,
        after_seq: int = 0,
        *,
        kinds: Collection[str] | None = None,
        order_id: str | None = None,
    ) -> Iterator[JournalEntry | UnreadableRow]:
        """As ``read``, but a row whose payload does not decode comes as an ``UnreadableRow``
        and the reading goes on."""
        if isinstance(kinds, str):
            raise TypeError(f"kinds must be a collection of kinds, not the str {kinds!r}")
        query = select(journal_table).order_by(journal_table.c.seq).limit(READ_PAGE_SIZE)
        if kinds is not None:
            query = query.where(journal_table.c.kind.in_(tuple(kinds)))
        if order_id is not None:
            query = query.where(journal_table.c.order_id == order_id)
        last = after_seq
        while True:
            with self._engine.connect() as connection:
                page = connection.execute(query.where(journal_table.c.seq > last)).all()
            for row in page:
                try:
                    payload = decode_payload(row.payload)
                except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
                    yield UnreadableRow(row.seq, row.ts_ns, row.kind, row.order_id, str(exc))
                    continue
                yield JournalEntry(
                    seq=row.seq,
                    ts_ns=row.ts_ns,
                    recorded_ns=row.recorded_ns,
                    kind=row.kind,
                    order_id=row.order_id,
                    payload=payload,
                )
            if len(page) < READ_PAGE_SIZE:
                return
            last = page[-1].seq

    def last_seq(self) -> int:
        """The highest sequence number written, 0 for an empty journal."""
        with self._engine.connect() as connection:
            highest = connection.execute(select(func.max(journal_table.c.seq))).scalar_one()
        return int(highest or 0)

    def count(self) -> int:
        """How many entries the journal holds."""
        query = select(func.count()).select_from(journal_table)
        with self._engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def close(self) -> None:
        """Release the writer connection; later appends raise ``JournalWriteError``."""
        with self._lock:
            self._closed = True
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.close()

    def save_copy(self, target: Path) -> None:
        """A consistent copy of the SQLite book the journal writes to, read through the journal's
        own connection: the file the desk has open, even one deleted or replaced at its path
        since (``JournalWriter.copy_to``; its errors)."""
        with self._lock:
            if self._writer is None:
                raise JournalWriteError("the journal has no open connection to copy from")
            self._writer.copy_to(target)

    def empty_log(self) -> bool:
        """``JournalWriter.empty_log`` on the journal's own connection (True without one)."""
        with self._lock:
            if self._writer is None:
                return True
            return self._writer.empty_log()

    def refuse_writes(self, reason: str | None) -> None:
        """From now on every append raises ``JournalWriteError`` with ``reason`` (the book file
        is no longer the one open: ``engine.store.book_watch``); None takes writes again."""
        with self._lock:
            self._refusal = reason

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine of the journal's database (for readers beside it)."""
        return self._engine

    @property
    def closed(self) -> bool:
        return self._closed

    def _ready_writer(self, what: str) -> JournalWriter:
        if self._closed:
            raise JournalWriteError(f"journal is closed; {what} was not written")
        if self._refusal is not None:
            raise JournalWriteError(self._refusal, remedy=REFUSAL_REMEDY)
        if self._writer is None:
            # The previous connection was lost; a failed reconnect surfaces as a write error.
            try:
                self._writer = JournalWriter(self._engine)
            except SQLAlchemyError as exc:
                raise JournalWriteError(
                    f"journal cannot reconnect; {what} was not written"
                ) from exc
        return self._writer

    def _after_failure(self, writer: JournalWriter, error: Exception) -> None:
        if writer.is_disconnect(error):
            logger.warning("journal connection lost; reconnecting on the next append")
            self._writer = None
            try:
                writer.close(invalidate=True)
            except (SQLAlchemyError, writer.dbapi_error):
                logger.exception("closing the lost journal connection failed")


def _row(kind: str, payload: Mapping[str, Any], order_id: str | None, ts_ns: int) -> EncodedEntry:
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"journal kind must be a non-empty str, not {kind!r}")
    if len(kind) > KIND_MAX_LENGTH:
        raise ValueError(f"journal kind {kind!r} is longer than {KIND_MAX_LENGTH} characters")
    if order_id is not None:
        if not isinstance(order_id, str) or not order_id:
            raise TypeError(f"order_id must be a non-empty str or None, not {order_id!r}")
        if len(order_id) > ORDER_ID_MAX_LENGTH:
            raise ValueError(
                f"order_id {order_id!r} is longer than {ORDER_ID_MAX_LENGTH} characters"
            )
    if isinstance(ts_ns, bool) or not isinstance(ts_ns, int):
        raise TypeError(f"ts_ns must be an int (epoch nanoseconds), not {ts_ns!r}")
    return {
        "ts_ns": ts_ns,
        "recorded_ns": 0,  # set as it is written
        "kind": kind,
        "order_id": order_id,
        "payload": encode_payload(payload),
    }
