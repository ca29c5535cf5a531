"""Files written whole or not at all: the one way the desk replaces a file (its own small files,
and the exports and reports a trader asks for); and where one it cannot read is kept aside.

A file is written to a temporary file beside it, flushed to the disk and renamed over it, so a
full disk or a crash leaves the file as it was, never half written. A link is followed: the file
it points to is replaced and the link stays. A file written over keeps its permissions (a report
kept private stays private); a new one gets what any new file gets (0o666 less the umask). The
temporary has a short name of its own, so a file of the trader's beside the target (``x.tmp``)
is never touched, two writers never share one, and any name the folder accepts can be written.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["aside_path", "leftover_temporaries", "replacing", "write_whole"]

_TEMPORARY_PREFIX, _TEMPORARY_SUFFIX = ".dalaldesk-", ".part"


def write_whole(path: Path, text: str, *, make_folder: bool = True) -> None:
    """Write ``text`` (UTF-8) in place of the file ``path`` names (``replacing``), its folder
    made first when ``make_folder``. Raises ``OSError`` naming ``path``."""
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as temporary, open(temporary, "w", encoding="utf-8") as file:
        file.write(text)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A new empty temporary file beside the file ``path`` names, to be written by the caller;
    it replaces that file only if the block ends without an error, and is removed otherwise.

    Flushed to the disk before the rename, so the file is the old one or the whole new one even
    after a power cut. Errors are raised as ``OSError`` naming ``path`` (the file the trader
    chose), never the temporary.
    """
    target = Path(os.path.realpath(path))
    with _said_of(path):
        kept_mode = _regular_file_mode(target)
        temporary = _create_beside(target, private=kept_mode is not None)
    try:
        with _said_of(path):
            yield temporary
            _flush_to_disk(temporary)
            if kept_mode is not None:
                os.chmod(temporary, kept_mode)
            os.replace(temporary, target)
    except BaseException:
        try:
            temporary.unlink(missing_ok=True)
        except OSError as leftover:  # the error that brought us here is the one to raise
            log.warning("temporary file %s not removed: %s", temporary, leftover)
        raise


def leftover_temporaries(folder: Path) -> list[Path]:
    """The temporaries ``replacing`` left in ``folder`` when the process was killed before its
    rename. Only a folder's one writer may remove them, between its writes: another writer's
    temporary looks the same while it is being written."""
    return sorted(folder.glob(f"{_TEMPORARY_PREFIX}*{_TEMPORARY_SUFFIX}"))


LEFTOVER_AGE_SECONDS = 60.0
"""A temporary untouched this long is a killed writer's leftover; a younger one may be another
desk's write under way."""


def remove_leftovers(folder: Path, what: str) -> None:
    """Remove the temporaries a desk killed while writing ``what`` (its settings, its alerts)
    left in ``folder``; a young one is left. What cannot be removed is logged, never raised."""
    try:
        leftovers = leftover_temporaries(folder)
    except OSError as exc:
        log.warning("%s: %s could not be looked in for leftover files: %s", what, folder, exc)
        return
    for leftover in leftovers:
        try:
            if time.time() - leftover.stat().st_mtime < LEFTOVER_AGE_SECONDS:
                continue
            leftover.unlink()
        except FileNotFoundError:
            continue  # gone already: another desk's write renamed it
        except OSError as exc:
            log.warning("%s: leftover file %s not removed: %s", what, leftover, exc)


def aside_path(path: Path) -> Path:
    """Where a file of the desk's that cannot be read is kept: ``<name>.bad``, or
    ``<name>.<time>.bad`` when an earlier one is there (that one is kept too)."""
    kept = path.with_name(path.name + ".bad")
    if kept.exists():
        kept = path.with_name(f"{path.name}.{time.time_ns()}.bad")
    return kept


@contextmanager
def _said_of(path: Path) -> Iterator[None]:
    """An ``OSError`` raised inside, raised again as said of ``path`` (the same subclass: the
    errno chooses it)."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def _regular_file_mode(target: Path) -> int | None:
    """The permission bits of the file at ``target``; None where no file is (a first write)."""
    try:
        status = target.stat()
    except FileNotFoundError:
        return None
    return stat.S_IMODE(status.st_mode) if stat.S_ISREG(status.st_mode) else None


def _create_beside(target: Path, *, private: bool) -> Path:
    """A new empty file in ``target``'s folder under a short hidden name of its own. It is
    created 0o666 so the umask gives it a new file's mode, or 0o600 (``private``) until the
    caller gives it the permissions of the file it replaces (never readable by more meanwhile).
    """
    for _ in range(100):
        name = f"{_TEMPORARY_PREFIX}{secrets.token_hex(4)}{_TEMPORARY_SUFFIX}"
        temporary = target.with_name(name)
        try:
            handle = os.open(
                temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666
            )
        except FileExistsError:
            continue
        os.close(handle)
        return temporary
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(target.parent))


def _flush_to_disk(temporary: Path) -> None:
    """What the caller wrote to ``temporary`` and closed, flushed to the disk (write access:
    Windows flushes no file opened to read)."""
    handle = os.open(temporary, os.O_WRONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
