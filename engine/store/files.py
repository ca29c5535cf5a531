"""The desk's own small files (portfolios, tags, alert rules, settings): written whole or not at
all."""

from __future__ import annotations

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
        return f"{path.name} could not be written: {problem.strerror or problem}"
    return None


def write_json(path: Path, data: object) -> str | None:
    """``data`` as indented JSON, written whole (``write_text``)."""
    return write_text(path, json.dumps(data, indent=2) + "\n")
