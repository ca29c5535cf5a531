"""Every P&L the desk stated, rebuilt from the book alone: the journal's fills and its marks.

A ``pnl_marks`` row (``engine.domain.marks``) holds the prices a P&L was stated at. Replaying the
order events journaled before it, through the same order state table and position book the desk
restores with, and marking the positions at those prices gives back the P&L the desk stated then,
to the fraction of a paisa: per position (realised, unrealised, charges) and the totals.

Nothing here needs a running desk: ``read_sqlite_book`` reads a book file with plain SQL (read
only), ``read_book`` a book at any URL (PostgreSQL), and ``rebuild_pnl`` takes rows from it or from ``Journal.read`` of any database. This is
what a ``dalaldesk book pnl`` would print.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from engine.domain.marks import BookPnl, PnlMarks, book_pnl
from engine.domain.order_replay import replay_orders
from engine.domain.positions import PositionBook
from engine.store.codec import decode_payload
from engine.store.errors import StoreError
from engine.store.journal import JournalEntry
from engine.store.urls import book_file_of


class NoMarks(StoreError):
    """The book holds no (such) ``pnl_marks`` row: no P&L was stated from it."""


@dataclass(frozen=True, slots=True)
class BookRows:
    """A book's readable journal rows, in order, and the seqs left out (unreadable or set
    aside), which the desk does not replay either."""

    entries: list[JournalEntry]
    left_out: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RebuiltPnl:
    marks_seq: int
    marks: PnlMarks
    book: BookPnl
    fills: int
    """Fills replayed before the marks."""


def read_sqlite_book(path: Path | str, kinds: Sequence[str] | None = None) -> BookRows:
    """Every journal row of a SQLite book file (of these ``kinds`` only, when given), read only
    with plain SQL; rows in the quarantine table and rows whose payload does not decode are left
    out, as the desk does."""
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True)
    where, values = _of_kinds(kinds, "?")
    try:
        quarantined = {
            int(seq): str(reason)
            for seq, reason in connection.execute("SELECT seq, reason FROM quarantine")
        }
        rows = connection.execute(
            f"SELECT seq, ts_ns, recorded_ns, kind, order_id, payload FROM journal{where} "
            "ORDER BY seq",
            list(values.values()),
        ).fetchall()
    finally:
        connection.close()
    return _book_rows(quarantined, rows)


def _of_kinds(kinds: Sequence[str] | None, marker: str) -> tuple[str, dict[str, str]]:
    """The WHERE clause that keeps rows of these kinds (none: every row) and its values, with
    ``?`` or ``:name`` markers."""
    if kinds is None:
        return "", {}
    if not kinds:
        return " WHERE 1 = 0", {}
    values = {f"kind{index}": kind for index, kind in enumerate(kinds)}
    markers = ", ".join("?" if marker == "?" else f":{name}" for name in values)
    return f" WHERE kind IN ({markers})", values


def _book_rows(quarantined: dict[int, str], rows: list[tuple[Any, ...]]) -> BookRows:
    entries: list[JournalEntry] = []
    left_out = dict(quarantined)
    for seq, ts_ns, recorded_ns, kind, order_id, payload in rows:
        if seq in quarantined:
            continue
        try:
            decoded = decode_payload(payload)
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            left_out[seq] = f"the payload does not decode ({exc})"
            continue
        entries.append(JournalEntry(seq, ts_ns, recorded_ns, kind, order_id, decoded))
    return BookRows(entries, left_out)


def read_book(url: str, kinds: Sequence[str] | None = None) -> BookRows:
    """As ``read_sqlite_book``, for a book at any SQLAlchemy URL (a PostgreSQL book): read with
    plain SQL in one snapshot, nothing written."""
    path = book_file_of(url)
    if path is not None:
        return read_sqlite_book(path, kinds)
    where, values = _of_kinds(kinds, ":")
    engine = create_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            quarantined = {
                int(seq): str(reason)
                for seq, reason in connection.execute(text("SELECT seq, reason FROM quarantine"))
            }
            rows = connection.execute(
                text(
                    f"SELECT seq, ts_ns, recorded_ns, kind, order_id, payload FROM journal{where} "
                    "ORDER BY seq"
                ),
                values,
            ).all()
    finally:
        engine.dispose()
    return _book_rows(quarantined, [tuple(row) for row in rows])


def marks_rows(entries: Iterable[JournalEntry]) -> list[JournalEntry]:
    """Every ``pnl_marks`` row, oldest first."""
    return [entry for entry in entries if entry.kind == PnlMarks.kind]


def rebuild_pnl(entries: Iterable[JournalEntry], marks_seq: int | None = None) -> RebuiltPnl:
    """The P&L stated at the ``pnl_marks`` row ``marks_seq`` (the last one when None), from the
    order events before it. Raises ``NoMarks`` when there is no such row and ``MarksMismatch``
    when the marks do not describe the positions the fills give."""
    rows = sorted(entries, key=lambda entry: entry.seq)
    candidates = [row for row in marks_rows(rows) if marks_seq is None or row.seq == marks_seq]
    if not candidates:
        which = "no P&L marks" if marks_seq is None else f"no P&L marks at row {marks_seq}"
        raise NoMarks(f"the book holds {which}")
    marks_row = candidates[-1]
    marks = PnlMarks.from_payload(marks_row.ts_ns, marks_row.payload)
    positions = PositionBook(marks.trade_date)
    replayed = replay_orders(
        (row.kind, row.order_id, row.ts_ns, row.payload) for row in rows if row.seq < marks_row.seq
    )
    for fill in replayed.fills:
        positions.apply(fill)
    fills = len(replayed.fills)
    return RebuiltPnl(marks_row.seq, marks, book_pnl(positions.all(), marks), fills)
