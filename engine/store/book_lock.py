"""One writer per book: an operating-system lock held for as long as a desk has the book open.

A second desk on the same book (a double-clicked icon, two headless runs on one ``--db``) would
restore the first one's open orders into its own venue and fill them again. The lock refuses it,
naming the process that holds the book.

The lock is the OS's own (``flock`` on POSIX, a byte-range lock on Windows) on ``<book>.lock``
beside the book file, so it dies with its process: after a crash or a SIGKILL the next desk takes
it over at once, with nothing stale to clean up. The holder writes who it is into the same file
(pid, host, user, start time, command line); a desk that is refused reads that to name it.
``filelock`` would do the locking but truncates the file on every attempt, which would erase the
holder's name, hence these few lines of our own.

A book that is not a file (PostgreSQL) has no lock here: it needs a lease in the database itself.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from engine.store.errors import StoreError

_WINDOWS_LOCK_OFFSET = 1 << 30
"""On Windows the lock covers one byte far past the holder text, so readers can still read it."""


@dataclass(frozen=True, slots=True)
class BookHolder:
    """Who holds a book, as the holder wrote it."""

    pid: int | None
    host: str
    user: str
    started: str
    command: str

    def describe(self) -> str:
        parts = [f"process {self.pid}" if self.pid else "another process"]
        if self.host and self.host != socket.gethostname():
            parts[0] += f" on {self.host}"
        if self.user:
            parts.append(f"user {self.user}")
        if self.started:
            parts.append(f"since {self.started}")
        if self.command:
            parts.append(f"started as '{self.command}'")
        return ", ".join(parts)


class BookInUse(StoreError):
    """The book is open in another desk; this desk must not write to it."""

    def __init__(self, book: str, holder: BookHolder | None) -> None:
        self.book = book
        self.holder = holder
        held_by = holder.describe() if holder is not None else "another process"
        super().__init__(
            f"the book {book} is already open in another DalalDesk ({held_by}). Two desks on one "
            "book would send and fill the same orders twice, so this one does not open it. "
            "Close the other desk, or choose another profile or --db."
        )


class BookLock:
    """The held lock of one book; release it with ``release`` (or use it as a context manager)."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle: IO[str] | None = handle

    @classmethod
    def acquire(cls, book_file: Path) -> BookLock:
        """Take the lock of the book at ``book_file``; raises ``BookInUse`` naming the holder."""
        path = lock_path(book_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Never truncate on open: the text inside is the holder's name until we hold the lock.
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        handle = os.fdopen(descriptor, "r+", encoding="utf-8")
        try:
            if not _try_lock(handle):
                holder = _read_holder(handle)
                raise BookInUse(str(book_file), holder)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(_this_process()))
            handle.flush()
        except BookInUse:
            handle.close()
            raise
        except OSError as exc:  # a full disk: the file is named, as os.open names it
            _close_quietly(handle)
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        except BaseException:
            _close_quietly(handle)
            raise
        return cls(path, handle)

    @property
    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        """Let the book go; releasing twice is harmless. The file stays (removing it would race
        with a desk that has just opened it)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.flush()
        finally:
            handle.close()  # closing the descriptor releases the OS lock

    def __enter__(self) -> BookLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _close_quietly(handle: IO[str]) -> None:
    """Close ``handle`` after a failed write: its buffer cannot be written either (the same full
    disk), and that second error must not hide the first. The descriptor is closed all the same,
    which releases the lock."""
    with contextlib.suppress(OSError):
        handle.close()


def lock_path(book_file: Path) -> Path:
    return book_file.with_name(book_file.name + ".lock")


def book_holder(book_file: Path) -> BookHolder | None:
    """Who holds the book now, or None when nobody does (the lock is free)."""
    path = lock_path(book_file)
    if not path.exists():
        return None
    try:
        lock = BookLock.acquire(book_file)
    except BookInUse as in_use:
        return in_use.holder or BookHolder(None, "", "", "", "")
    lock.release()
    return None


def _this_process() -> dict[str, object]:
    from engine.store.urls import redact_command

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        user = ""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "user": user,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": redact_command(sys.argv)[:300],  # no password of --db in the lock file
    }


def _read_holder(handle: IO[str]) -> BookHolder | None:
    handle.seek(0)
    try:
        data = json.loads(handle.read(4096) or "null")
    except (ValueError, OSError):
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    return BookHolder(
        pid if isinstance(pid, int) else None,
        str(data.get("host", "")),
        str(data.get("user", "")),
        str(data.get("started", "")),
        str(data.get("command", "")),
    )


if sys.platform == "win32":
    import msvcrt

    def _try_lock(handle: IO[str]) -> bool:
        handle.seek(_WINDOWS_LOCK_OFFSET)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            handle.seek(0)
        return True

else:
    import fcntl

    def _try_lock(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def lock_book(url: str | None) -> BookLock | None:
    """The lock of the book at SQLAlchemy ``url`` (None: the default book file) when it is a file
    (None for an in-memory or server database); raises ``BookInUse`` when another desk holds it."""
    from engine.store.urls import book_file_of

    path = book_file_of(url)
    return None if path is None else BookLock.acquire(path.resolve())
