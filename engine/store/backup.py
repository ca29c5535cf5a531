"""Rotating copies of a book: at each clean close and at the first start of each day.

Copies are taken with SQLite's online backup API, so they are consistent even while the desk
writes, into ``<book folder>/backups/<book>-<YYYYmmdd-HHMMSS-micro>-<reason>.db``. The newest
``KEEP[reason]`` of each kind are kept. Restoring moves the damaged file aside (never deletes it)
and puts the copy in its place, and only while no desk holds the book.
"""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import time
from datetime import date, datetime
from pathlib import Path

from engine.store.book import BackupInfo
from engine.store.book_lock import BookLock
from engine.store.errors import StoreError

log = logging.getLogger(__name__)

KEEP = {"close": 10, "daily": 7, "manual": 10}
"""How many copies of each kind are kept."""
_SIDE_FILES = ("-wal", "-shm")


def backup_dir(book: Path) -> Path:
    return book.parent / "backups"


def backup_book(book: Path, reason: str) -> Path:
    """Copy the book at ``book`` (a SQLite file) and rotate; returns the copy's path."""
    if reason not in KEEP:
        raise ValueError(f"backup reason must be one of {', '.join(KEEP)}, not {reason!r}")
    folder = backup_dir(book)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"{book.stem}-{stamp}-{reason}.db"
    partial = target.with_suffix(".partial")
    source = sqlite3.connect(f"{book.resolve().as_uri()}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    partial.replace(target)  # a copy is either whole or absent
    _rotate(book, reason)
    log.info("book backed up to %s", target)
    return target


def has_backup_of(book: Path, day: date, reason: str) -> bool:
    stamp = day.strftime("%Y%m%d")
    return any(
        b.reason == reason and b.path.name.startswith(f"{book.stem}-{stamp}-")
        for b in list_backups(book)
    )


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
    the book."""
    if not backup.is_file():
        raise StoreError(f"no backup at {backup}")
    with BookLock.acquire(book):
        aside = None
        if book.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            aside = book.with_name(f"{book.name}.damaged-{stamp}")
            book.replace(aside)
            for suffix in _SIDE_FILES:
                side = book.with_name(book.name + suffix)
                if side.exists():
                    side.replace(aside.with_name(aside.name + suffix))
        partial = book.with_name(book.name + ".restoring")
        shutil.copyfile(backup, partial)
        partial.replace(book)
    log.warning("book %s restored from %s (the replaced file is %s)", book, backup, aside)
    return aside


def _rotate(book: Path, reason: str) -> None:
    kind = [b for b in list_backups(book) if b.reason == reason]
    for old in kind[KEEP[reason] :]:
        try:
            old.path.unlink()
        except OSError as exc:
            log.warning("an old backup %s could not be removed: %s", old.path, exc)
