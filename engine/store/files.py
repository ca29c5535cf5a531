"""The desk's own small files (portfolios, tags, alert rules, settings): written whole or not at
all."""

from __future__ import annotations

import errno
import json
from pathlib import Path

from engine.core.files import write_whole

__all__ = ["write_json", "write_text", "write_whole"]


def write_text(path: Path, text: str) -> str | None:
    """Write ``text`` whole (``write_whole``, its folder made if need be); None, or why not in
    words."""
    try:
        write_whole(path, text)
    except OSError as problem:
        why = problem.strerror or str(problem)
        folder = problem.filename
        if folder and Path(folder) in path.parents:  # its folder, or one above, cannot be made
            if problem.errno == errno.EEXIST:
                why = "a file of that name is in the way"
            elif problem.errno == errno.ENOTDIR:
                why = "a file is in the way on its path"
            return f"{path.name} could not be written: its folder {folder} cannot be made: {why}"
        return f"{path.name} could not be written: {why}"
    return None


def write_json(path: Path, data: object) -> str | None:
    """``data`` as indented JSON, written whole (``write_text``)."""
    return write_text(path, json.dumps(data, indent=2) + "\n")
