"""The health of a book: rows the desk cannot read are set aside, never the whole book.

A journal row that no longer decodes (a payload written by a defect, a hand edit, a damaged page)
must not stop the desk from opening its book. The restore reads every row it can, records the
others in the ``quarantine`` table with the reason (the journal itself is append-only and keeps
them), and tells the trader. ``dalaldesk book check`` lists them; ``book repair`` quarantines any
not yet set aside. Nothing is ever deleted.

Before a book file is opened at all, ``inspect_book_file`` makes sure it is one: an empty or
damaged file is never taken for a new book (opening it would start an empty journal over it).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select

from engine.core.clock import IST
from engine.domain.events import (
    ORDER_EVENT_TYPES,
    BreakerTripped,
    RiskStateChanged,
    order_event_from_journal,
)
from engine.domain.marks import PnlMarks
from engine.store.errors import StoreError
from engine.store.journal import Journal, JournalEntry, UnreadableRow
from engine.store.schema import quarantine

SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
"""What SQLite keeps beside a database file while it is open (or after a crash)."""

_DOMAIN_READERS: dict[str, Callable[[JournalEntry], object]] = {
    RiskStateChanged.kind: lambda e: RiskStateChanged.from_payload(e.ts_ns, e.payload),
    BreakerTripped.kind: lambda e: BreakerTripped.from_payload(e.ts_ns, e.payload),
    PnlMarks.kind: lambda e: PnlMarks.from_payload(e.ts_ns, e.payload),
}


def _domain_problem(entry: JournalEntry) -> str | None:
    """Why the desk cannot rebuild this entry into its event, or None."""
    try:
        if entry.kind in ORDER_EVENT_TYPES:
            if entry.order_id is None:
                return "an order event without an order id"
            order_event_from_journal(entry.kind, entry.order_id, entry.ts_ns, entry.payload)
        else:
            reader = _DOMAIN_READERS.get(entry.kind)
            if reader is not None:
                reader(entry)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        name = type(exc).__name__
        return f"{name}: {exc}" if str(exc) else name
    return None


@dataclass(frozen=True, slots=True)
class SetAside:
    """A journal row the desk does not read, with why."""

    seq: int
    kind: str
    order_id: str | None
    reason: str
    new: bool
    """Found now (and quarantined now, unless only checking)."""

    def describe(self) -> str:
        order = f" of order {self.order_id}" if self.order_id else ""
        return f"row {self.seq} ({self.kind}{order}): {self.reason}"


@dataclass(slots=True)
class JournalScan:
    entries: list[JournalEntry] = field(default_factory=list)
    set_aside: list[SetAside] = field(default_factory=list)

    @property
    def newly_set_aside(self) -> list[SetAside]:
        return [row for row in self.set_aside if row.new]


def quarantined(journal: Journal) -> dict[int, str]:
    """seq -> reason of every row already set aside."""
    with journal.engine.connect() as connection:
        rows = connection.execute(select(quarantine.c.seq, quarantine.c.reason)).all()
    return {int(seq): str(reason) for seq, reason in rows}


def scan_journal(journal: Journal, *, record: bool) -> JournalScan:
    """Every entry the desk can read, and every row it cannot; with ``record`` the newly found
    ones are written to the quarantine table."""
    known = quarantined(journal)
    scan = JournalScan()
    for row in journal.read_tolerant():
        if row.seq in known:
            kind, order_id = row.kind, row.order_id
            scan.set_aside.append(SetAside(row.seq, kind, order_id, known[row.seq], False))
            continue
        if isinstance(row, UnreadableRow):
            reason: str | None = f"the payload does not decode ({row.reason})"
        else:
            reason = _domain_problem(row)
        if reason is None:
            scan.entries.append(row)  # type: ignore[arg-type]
        else:
            scan.set_aside.append(SetAside(row.seq, row.kind, row.order_id, reason, True))
    if record and scan.newly_set_aside:
        _quarantine(journal, scan.newly_set_aside)
    return scan


def _quarantine(journal: Journal, rows: Iterable[SetAside]) -> None:
    now = time.time_ns()
    values = [{"seq": r.seq, "reason": r.reason[:2000], "quarantined_ns": now} for r in rows]
    with journal.engine.begin() as connection:
        connection.execute(insert(quarantine), values)


@dataclass(frozen=True, slots=True)
class BookReport:
    url: str
    rows: int
    orders: int
    fills: int
    set_aside: tuple[SetAside, ...]
    repaired: int = 0

    @property
    def healthy(self) -> bool:
        return not any(row.new for row in self.set_aside)

    def lines(self) -> list[str]:
        out = [
            f"book {self.url}",
            f"journal rows: {self.rows:,}; orders: {self.orders:,}; fills: {self.fills:,}",
        ]
        old = [r for r in self.set_aside if not r.new]
        new = [r for r in self.set_aside if r.new]
        if old:
            out.append(f"set aside earlier ({len(old)}), kept in the journal, not read:")
            out += [f"  {row.describe()}" for row in old]
        if new and self.repaired:
            out.append(f"set aside now ({len(new)}), kept in the journal, not read:")
            out += [f"  {row.describe()}" for row in new]
        elif new:
            out.append(f"rows the desk cannot read ({len(new)}); `book repair` sets them aside:")
            out += [f"  {row.describe()}" for row in new]
        if not self.set_aside:
            out.append("every row reads: the book is healthy")
        return out


def check_journal(journal: Journal, url: str, *, repair: bool) -> BookReport:
    scan = scan_journal(journal, record=repair)
    orders = sum(1 for e in scan.entries if e.kind == "order_submitted")
    fills = sum(1 for e in scan.entries if e.kind == "order_filled")
    return BookReport(
        url,
        journal.count(),
        orders,
        fills,
        tuple(scan.set_aside),
        repaired=len(scan.newly_set_aside) if repair else 0,
    )


# -- the book file ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    created: float
    """Seconds since the epoch."""
    size: int
    reason: str


class BookUnreadable(StoreError):
    """The book file exists but is not a readable book; it is never opened as a new one."""

    def __init__(self, path: Path, problem: str, backups: list[BackupInfo]) -> None:
        self.path = path
        self.problem = problem
        self.backups = backups
        super().__init__(describe_unreadable(path, problem, backups))


class BookMissing(BookUnreadable):
    """The book file is gone while what an earlier book left sits beside its path (its backups,
    a file a restore set aside, its write-ahead log): a new, empty book is never started over it
    unasked."""

    def __init__(self, path: Path, leftovers: list[Path], backups: list[BackupInfo]) -> None:
        self.path = path
        self.problem = "is missing"
        self.backups = backups
        self.leftovers = leftovers
        StoreError.__init__(self, describe_missing(path, leftovers, backups))


def describe_missing(path: Path, leftovers: list[Path], backups: list[BackupInfo]) -> str:
    """What the trader is told when the book file is missing but an earlier book left traces."""
    found = "; ".join(str(p) for p in leftovers[:6])
    more = f" and {len(leftovers) - 6} more" if len(leftovers) > 6 else ""
    text = (
        f"The book file {path} is missing, but an earlier book left files beside it: "
        f"{found}{more}. The desk does not start a new, empty book in its place, which would "
        "show no orders or positions and, with each close, push the good backups out."
    )
    if backups:
        text += (
            f" To bring the book back, restore its newest backup with `dalaldesk book restore "
            f"{backups[0].path}` (`dalaldesk book backups` lists them all)."
        )
    else:
        text += " No backup of it was found: put the book file back at its path if it was moved"
        aside = [p for p in leftovers if not p.name.endswith(SQLITE_SIDE_FILES)]
        text += (
            f", or put {aside[0].name} back with `dalaldesk book restore {aside[0]}`."
            if aside
            else "."
        )
    return text + (
        " To start a new, empty book on purpose, first move those files out of "
        f"{path.parent} (keep them somewhere), or choose another profile or --db."
    )


def describe_unreadable(path: Path, problem: str, backups: list[BackupInfo]) -> str:
    text = (
        f"The book file {path} {problem}. It is not opened as a new, empty book, and it is left "
        "exactly as it is."
    )
    if not backups:
        return text + (
            " No backup of it was found. Restore a copy you keep elsewhere, or move the file "
            "aside to start a new book."
        )
    listed = "; ".join(
        f"{b.path.name} ({datetime.fromtimestamp(b.created, IST):%d %b %Y %H:%M} IST, "
        f"{b.size / 1024:,.0f} KB)"
        for b in backups[:5]
    )
    return (
        f"{text} Backups of it (newest first): {listed}. Restore the newest with "
        f"`dalaldesk book restore {backups[0].path}` (the damaged file is kept beside it)."
    )


def inspect_book_file(path: Path) -> str | None:
    """What is wrong with the book file at ``path`` ("is empty (0 bytes)", ...), or None when
    it is a readable book or does not exist yet (a new book)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if size == 0:
        return "is empty (0 bytes): it was probably truncated by a failed copy or sync"
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if header != SQLITE_HEADER:
        return "is not a DalalDesk book (it is not a SQLite database)"
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return f"cannot be opened ({exc})"
    try:
        verdict = connection.execute("PRAGMA quick_check").fetchone()
        tables = {
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    except sqlite3.DatabaseError as exc:
        return f"is damaged ({exc})"
    finally:
        connection.close()
    if not verdict or verdict[0] != "ok":
        return f"is damaged (SQLite's check says: {verdict[0] if verdict else 'nothing'})"
    if tables and not tables & {"journal", "alembic_version"}:
        return "is not a DalalDesk book (it has no journal)"
    return None


def set_aside_text(rows: list[SetAside]) -> str:
    """What the trader is told about journal rows the restore set aside."""
    shown = "; ".join(row.describe() for row in rows[:5])
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return (
        f"{len(rows)} journal row(s) could not be read and were set aside (kept in the "
        f"journal, not replayed): {shown}{more}. Everything else was restored; "
        "`dalaldesk book check` lists them."
    )
