"""Where calendar override files live, and in which order they apply.

The file imported later must win: a Muhurat timings file imported after the year's list opens its
hour, whatever the two files are called. An import is therefore saved as
``imported-<sequence>-<name>.json`` when other files are in the folder (alone, it keeps its own
name: nothing to rank against). Files the trader dropped in by hand, and files kept before imports
were numbered, have no sequence: they apply first, in name order, as they always did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import platformdirs

_IMPORTED = re.compile(r"^imported-(\d{4,})-(.+)$")


class UseDefault:
    """Type of :data:`USER_DIRECTORY`."""

    def __repr__(self) -> str:
        return "USER_DIRECTORY"


USER_DIRECTORY: Final = UseDefault()
"""Marker for "read overrides from :func:`default_override_dir`" (``None`` means read none)."""

OverrideDir = Path | str | UseDefault | None


def default_override_dir() -> Path:
    """``<user config dir>/dalaldesk/calendars``, where a user drops ``*.json`` override files."""
    return Path(platformdirs.user_config_dir("dalaldesk")) / "calendars"


def rank(path: Path) -> tuple[int, int, str]:
    """The sort key of an override file: lower applies first, the last one wins a day."""
    match = _IMPORTED.match(path.name)
    if match is None:
        return (0, 0, path.name)
    return (1, int(match.group(1)), path.name)


def is_numbered(path: Path) -> bool:
    """Whether the file was saved by an import that numbered it (its place in the order known)."""
    return _IMPORTED.match(path.name) is not None


def own_name(name: str) -> str:
    """``name`` without the sequence an import gave it: the name the trader knows it by."""
    match = _IMPORTED.match(name)
    return match.group(2) if match else name


def imported_name(name: str, folder_names: Iterable[str]) -> str:
    """The name that ranks ``name`` after every file named in ``folder_names``."""
    numbers = [int(m.group(1)) for m in map(_IMPORTED.match, folder_names) if m is not None]
    return f"imported-{max(numbers, default=0) + 1:04d}-{own_name(name)}"
