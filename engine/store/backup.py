"""Rotating copies of a book: at each clean close and at the first start of each day.

Copies are taken with SQLite's online backup API, so they are consistent even while the desk
writes, into ``<book folder>/backups/<book>-<YYYYmmdd-HHMMSS-micro>-<reason>.db``, the time in IST
like every other time the desk shows (copies made before were named in the computer's zone; their
names have the same shape and are listed and rotated alike, by the file's time). The newest
``KEEP[reason]`` of each kind are kept. Restoring moves the damaged file aside (never deletes it)
and puts the copy in its place, and only while no desk holds the book: the copy is made whole beside the book
first (``<book>.restoring``, synced to disk) and then renamed over it, so a restore killed at any
point leaves the old book or the new one at its path, never none.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import sqlite3
from datetime import date, datetime
from pathlib import Path

from engine.core.clock import IST
from engine.store.book import SQLITE_SIDE_FILES, BackupInfo
from engine.store.book_lock import BookLock
from engine.store.book_watch import RESCUED
from engine.store.errors import StoreError

log = logging.getLogger(__name__)

KEEP = {"close": 10, "daily": 14, "manual": 10}
"""How many copies of each kind are kept: a day has up to two daily copies (when the desk first
opens, and after the session), so a week of them."""
RESTORING = ".restoring"
"""The suffix of the copy a restore makes beside the book before it renames it over the book."""
DAMAGED = ".damaged-"
"""What a restore adds to the name of the file it sets aside (then a time stamp)."""


def backup_dir(book: Path) -> Path:
    return book.parent / "backups"


def backup_book(book: Path, reason: str) -> Path:
    """Copy the book at ``book`` (a SQLite file) and rotate; returns the copy's path."""
    if reason not in KEEP:
        raise ValueError(f"backup reason must be one of {', '.join(KEEP)}, not {reason!r}")
    folder = backup_dir(book)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(IST).strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"{book.stem}-{stamp}-{reason}.db"
    partial = target.with_suffix(".partial")
    _remove_unfinished(book)
    source = sqlite3.connect(f"{book.resolve().as_uri()}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    partial.replace(target)  # a copy is either whole or absent
    _rotate(book, reason)
    log.info("book backed up to %s", target)
    return target


def _remove_unfinished(book: Path) -> None:
    """Remove the unfinished copies of ``book`` a process killed while backing it up left (as
    big as the book, and never a backup: only a whole copy is renamed to ``.db``). The book's
    lock is held, so no other copy of it is being made now."""
    own = re.compile(rf"{re.escape(book.stem)}-\d{{8}}-\d{{6}}-\d{{6}}-[a-z]+\.partial")
    for leftover in backup_dir(book).glob("*.partial"):
        if not own.fullmatch(leftover.name):
            continue
        try:
            leftover.unlink()
        except OSError as exc:
            log.warning("an unfinished backup %s could not be removed: %s", leftover, exc)
        else:
            log.info("removed an unfinished backup %s", leftover)


def has_backup_of(book: Path, day: date, reason: str) -> bool:
    """Whether a ``reason`` copy of ``book`` was named on ``day`` (an IST date)."""
    stamp = day.strftime("%Y%m%d")
    return any(
        b.reason == reason and b.path.name.startswith(f"{book.stem}-{stamp}-")
        for b in list_backups(book)
    )


def copied_since(book: Path, moment: datetime, reason: str) -> BackupInfo | None:
    """The newest ``reason`` copy of ``book`` made at or after ``moment``, if there is one (by
    the file's time, whatever zone its name was written in)."""
    since = moment.timestamp()
    return next((b for b in list_backups(book) if b.reason == reason and b.created >= since), None)


def list_backups(book: Path) -> list[BackupInfo]:
    """The copies of ``book``, newest first."""
    folder = backup_dir(book)
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"{re.escape(book.stem)}-\d{{8}}-\d{{6}}-\d{{6}}-([a-z]+)\.db")
    found = []
    for path in folder.iterdir():
        match = pattern.fullmatch(path.name)
        if match is None or match.group(1) not in KEEP:
            continue
        stat = path.stat()
        found.append(BackupInfo(path, stat.st_mtime, stat.st_size, match.group(1)))
    return sorted(found, key=lambda b: (b.created, b.path.name), reverse=True)


def restore_backup(backup: Path, book: Path) -> Path | None:
    """Put ``backup`` in place of ``book``; the file it replaces is moved aside, never deleted.
    Returns where the replaced file went (None if there was none). Refused while a desk holds
    the book.

    The copy is written whole and synced as ``<book>.restoring`` first, the old book is kept
    under a second name beside it (a hard link, else a synced copy), and only then is the copy
    renamed over the book: killed at any point, the restore leaves the old book or the new one
    at its path."""
    if not backup.is_file():
        raise StoreError(f"no backup at {backup}")
    with BookLock.acquire(book):
        restoring = book.with_name(book.name + RESTORING)
        _copy_synced(backup, restoring)
        stamp = _unused_stamp(book, datetime.now(IST).strftime("%Y%m%d-%H%M%S"))
        aside: Path | None = None
        if book.exists():
            aside = book.with_name(f"{book.name}{DAMAGED}{stamp}")
            _fold_write_ahead_log(book)
            _keep_under_second_name(book, aside)
        # A write-ahead log left at the path belongs to the old book; kept beside it, never
        # replayed into the new one.
        for suffix in SQLITE_SIDE_FILES:
            side = book.with_name(book.name + suffix)
            if side.exists():
                side.replace(book.with_name(f"{book.name}{DAMAGED}{stamp}{suffix}"))
        os.replace(restoring, book)
        _sync_folder(book.parent)
    log.warning("book %s restored from %s (the replaced file is %s)", book, backup, aside)
    return aside


def leftovers_of(book: Path) -> list[Path]:
    """What an earlier book at ``book`` left beside its path: SQLite's write-ahead log, a copy a
    restore was making, the copy a desk saved when the book was deleted under it, files a restore
    set aside, and its backups (newest first)."""
    found = [
        side
        for suffix in SQLITE_SIDE_FILES
        if (side := book.with_name(book.name + suffix)).exists()
    ]
    restoring = book.with_name(book.name + RESTORING)
    if restoring.exists():
        found.append(restoring)
    if book.parent.is_dir():
        for kind in (RESCUED, DAMAGED):
            found += sorted(book.parent.glob(f"{glob.escape(book.name)}{kind}*"), reverse=True)
    return found + [b.path for b in list_backups(book)]


def _unused_stamp(book: Path, stamp: str) -> str:
    """``stamp``, or it with a count, so that nothing set aside before is overwritten."""

    def taken(candidate: str) -> bool:
        return any(
            book.with_name(f"{book.name}{DAMAGED}{candidate}{suffix}").exists()
            for suffix in ("", *SQLITE_SIDE_FILES)
        )

    candidate, count = stamp, 1
    while taken(candidate):
        count += 1
        candidate = f"{stamp}-{count}"
    return candidate


def _copy_synced(source: Path, target: Path) -> None:
    """``source`` copied to ``target`` and synced to disk (a crash after this keeps it whole)."""
    with open(source, "rb") as reader, open(target, "wb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)
        writer.flush()
        os.fsync(writer.fileno())


def _fold_write_ahead_log(book: Path) -> None:
    """Copy the book's write-ahead log (left by a desk that was killed) into the book file, so
    the file set aside is whole by itself. A book SQLite cannot open keeps its log beside it."""
    if not book.with_name(book.name + "-wal").exists():
        return
    try:
        connection = sqlite3.connect(f"{book.resolve().as_uri()}?mode=rw", uri=True)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            connection.close()  # the last connection to close removes the log
    except sqlite3.Error as exc:
        log.warning("the write-ahead log of %s could not be folded into it: %s", book, exc)


def _keep_under_second_name(book: Path, aside: Path) -> None:
    """``aside`` names the same file as ``book`` (a hard link) or, where the file system has
    none, a synced copy of it; ``book`` stays at its path meanwhile."""
    try:
        os.link(book, aside)
    except OSError as exc:
        log.info("no hard link for %s (%s): copying it aside", book, exc)
        _copy_synced(book, aside)


def _sync_folder(folder: Path) -> None:
    """Make renames in ``folder`` durable (POSIX); Windows has no folder handle to sync."""
    if os.name == "nt":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _rotate(book: Path, reason: str) -> None:
    kind = [b for b in list_backups(book) if b.reason == reason]
    for old in kind[KEEP[reason] :]:
        try:
            old.path.unlink()
        except OSError as exc:
            log.warning("an old backup %s could not be removed: %s", old.path, exc)
