"""Where calendar override files live."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import platformdirs


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
