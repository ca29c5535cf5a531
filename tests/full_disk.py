"""A disk that fills up under a book: a small tmpfs filled to the last byte (a real ENOSPC
from SQLite), or, where mounting is not permitted, the journal's writer made to fail as a full
disk does."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

from engine.runtime import Engine


class FullDisk:
    """Fills the disk under the book and frees it again."""

    def __init__(self, directory: Path, tmpfs: bool) -> None:
        self.directory = directory
        self.tmpfs = tmpfs
        self.filler = directory / "filler.bin"
        self._patched: list[tuple[object, str, object]] = []

    def fill(self, engine: Engine | None = None) -> None:
        """Fill the tmpfs to its last byte; where there is none, make ``engine``'s journal
        writer fail as a full disk does (a test with no desk skips without a tmpfs)."""
        if self.tmpfs:
            descriptor = os.open(self.filler, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                for size in (65536, 4096, 1):  # down to the last free byte
                    with contextlib.suppress(OSError):
                        while os.write(descriptor, b"\0" * size):
                            pass
            finally:
                os.close(descriptor)
            return
        assert engine is not None, "without a tmpfs only a desk's journal can be made to fail"
        writer = engine.journal._writer  # the injected fault: what SQLite raises on ENOSPC
        assert writer is not None

        def full(*_args: object, **_kwargs: object) -> object:
            raise sqlite3.OperationalError("database or disk is full")

        for name in ("insert_one", "insert_batch"):
            self._patched.append((writer, name, getattr(writer, name)))
            setattr(writer, name, full)

    def free(self) -> None:
        if self.tmpfs:
            self.filler.unlink()
            return
        for owner, name, original in self._patched:
            setattr(owner, name, original)
        self._patched.clear()


@contextlib.contextmanager
def small_tmpfs(mount: Path, size: str = "4m") -> Iterator[FullDisk]:
    """A tmpfs of ``size`` at ``mount`` (a plain folder where it cannot be mounted), unmounted
    after."""
    mount.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
            capture_output=True,
        ).returncode
        == 0
    )
    try:
        yield FullDisk(mount, tmpfs=mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mount)], check=False)
