"""Files written whole or not at all: the one way the desk replaces a small file of its own; and
where one it cannot read is kept aside."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


def write_whole(path: Path, text: str, *, make_folder: bool = True) -> None:
    """Write ``text`` to a temporary file beside ``path``, fsync it and rename it over ``path``:
    a full disk or a crash leaves the file as it was, never half written. Raises ``OSError``."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        if make_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError:
        try:
            temporary.unlink(missing_ok=True)
        except OSError as leftover:  # no folder to write in: no temporary file either
            log.debug("%s not removed: %s", temporary, leftover)
        raise


def aside_path(path: Path) -> Path:
    """Where a file of the desk's that cannot be read is kept: ``<name>.bad``, or
    ``<name>.<time>.bad`` when an earlier one is there (that one is kept too)."""
    kept = path.with_name(path.name + ".bad")
    if kept.exists():
        kept = path.with_name(f"{path.name}.{time.time_ns()}.bad")
    return kept
