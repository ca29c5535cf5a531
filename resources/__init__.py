"""Data files shipped with DalalDesk (calendars, instrument tables, themes).

``resource_path`` is the one way to reach them: it works from a checkout, an installed wheel and a
PyInstaller bundle (where the files are unpacked under ``sys._MEIPASS``).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Path of a shipped data file, e.g. ``resource_path("themes", "dark.qss")``."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        candidate = Path(bundle, "resources", *parts)
        if candidate.exists():
            return candidate
    path = Path(str(resources.files(__name__).joinpath(*parts)))
    if not path.exists():
        raise FileNotFoundError(f"resource {'/'.join(parts)} is not shipped with this build")
    return path


def read_text(*parts: str) -> str:
    return resource_path(*parts).read_text(encoding="utf-8")
