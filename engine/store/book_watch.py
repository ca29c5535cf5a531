"""Is the book file still the one the desk has open?

Deleting or replacing a SQLite file under an open connection goes unnoticed by SQLite: the desk
would go on writing, and acknowledging orders, into a file no longer at its path, and all of it
would be gone at the next start. The runtime's heartbeat asks ``BookFileWatch.check`` once a
second (one ``stat``); while the path does not lead to the file opened, the journal refuses
writes, so order entry pauses as on a full disk, and the trader is told once. Should the same file
come back to its path (moved back), the journal writes again and trading resumes by itself.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

RESCUED = ".rescued-"
"""What is added to the book's name (then a time stamp) for the copy of the book the desk had
open, saved when its path was found to lead elsewhere."""


def file_identity(path: Path) -> tuple[int, int]:
    """The device and inode (file index on Windows) of the file at ``path``; ``OSError`` if none."""
    status = os.stat(path)
    return status.st_dev, status.st_ino


class BookFileWatch:
    """Watches that ``path`` still leads to the file that was there when the watch began."""

    __slots__ = ("_identity", "path", "problem")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._identity = file_identity(path)
        self.problem: str | None = None
        """Why the book file is not the one open, while it is not ('' never: None when it is)."""

    def check(self) -> str | None:
        """One ``stat``. Returns what the trader must be told when the state changes (the file
        is found gone or replaced, or back again); None while nothing changed. ``problem`` says
        whether the file at the path is the open one now."""
        try:
            now = file_identity(self.path)
        except FileNotFoundError:
            problem: str | None = "deleted or moved away"
        except OSError as exc:  # a passing fault (a network share): no verdict this second
            log.debug("the book file %s could not be checked: %s", self.path, exc)
            return None
        else:
            problem = None if now == self._identity else "replaced by another file"
        if problem == self.problem:
            return None
        before, self.problem = self.problem, problem
        if problem is None:
            return (
                f"The book file {self.path} is back at its path: the journal writes to it again "
                "and order entry resumes."
            )
        if before is not None:
            return None  # gone, then replaced (or the other way): the trader knows already
        return (
            f"The book file {self.path} was {problem} while the desk has it open. Whatever the "
            "desk recorded from now on would be lost, so the journal stops writing: order entry "
            "and paper matching are paused. Put the file back if it was moved: trading then "
            "resumes by itself."
        )

    @property
    def refusal(self) -> str | None:
        """The journal's reason to refuse a write now, or None."""
        if self.problem is None:
            return None
        return f"the book file {self.path} was {self.problem} while the desk has it open"
