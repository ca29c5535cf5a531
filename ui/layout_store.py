"""Window layouts and named workspaces, saved with Qt's saveState/restoreState in an INI file.

Layouts are versioned: a state saved by a build with a different set of panels is ignored (the
default layout is used) rather than restored half-broken. A saved layout that cannot be used
(another version's, or a file cut short or damaged) is said in words (``current_problem``), and
the file can be kept aside (``set_aside``) before the desk's next save writes over it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

LAYOUT_VERSION = 1


def workspace_name(name: str) -> str:
    """``name`` as a workspace is kept under; ``ValueError`` in words when it cannot be one (the
    file nests its keys at '/' and '\\', so such a name would be listed as another)."""
    name = name.strip()
    if not name:
        raise ValueError("a workspace needs a name")
    if "/" in name or "\\" in name:
        raise ValueError(f"a workspace name cannot hold '/' or '\\': {name!r}")
    return name


class LayoutStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._settings = QSettings(str(path), QSettings.Format.IniFormat)

    def save_current(self, geometry: QByteArray, state: QByteArray) -> None:
        self._write("current", geometry, state)

    def current(self) -> tuple[QByteArray, QByteArray] | None:
        return self._read("current")

    def current_problem(self) -> str | None:
        """Why the saved layout cannot be used, in words; None when it can, or when none is
        saved (a first run, or after Reset layout)."""
        if self._settings.status() != QSettings.Status.NoError:
            return "the file cannot be read as a layout file"
        keys = self._settings.allKeys()
        if not keys:
            return "the file holds no settings it can read" if self._has_text() else None
        if not any(key.startswith("current/") for key in keys):
            return None
        version = str(self._settings.value("current/version"))
        if version != str(LAYOUT_VERSION):
            if version.isdigit():
                return (
                    f"it was saved by another version of DalalDesk (layout version {version}; "
                    f"this one reads version {LAYOUT_VERSION})"
                )
            return "it is cut short or damaged (its version is missing)"
        if self.current() is None:
            return "it is cut short or damaged (the window arrangement is not readable)"
        return None

    def set_aside(self) -> Path:
        """Keep a copy of the file as it is now on disk beside it, as ``<name>.bad`` (or
        ``<name>.<time>.bad`` when an earlier one is there, which is kept too: the naming of
        the engine's files set aside); returns where. ``OSError`` when it cannot be copied."""
        kept = self.path.with_name(self.path.name + ".bad")
        if kept.exists():
            kept = self.path.with_name(f"{self.path.name}.{time.time_ns()}.bad")
        shutil.copyfile(self.path, kept)
        return kept

    def save_workspace(self, name: str, geometry: QByteArray, state: QByteArray) -> None:
        name = workspace_name(name)
        self._write(f"workspaces/{name}", geometry, state)
        self._settings.sync()

    def workspace(self, name: str) -> tuple[QByteArray, QByteArray] | None:
        return self._read(f"workspaces/{name}")

    def workspaces(self) -> list[str]:
        self._settings.beginGroup("workspaces")
        names = self._settings.childGroups()
        self._settings.endGroup()
        return sorted(names)

    def delete_workspace(self, name: str) -> None:
        self._settings.remove(f"workspaces/{name}")
        self._settings.sync()

    def forget_current(self) -> None:
        self._settings.remove("current")
        self._settings.sync()

    def value(self, key: str, default: object = None) -> object:
        return self._settings.value(key, default)

    def set_value(self, key: str, value: object) -> None:
        self._settings.setValue(key, value)

    def remove(self, key: str) -> None:
        self._settings.remove(key)

    def sync(self) -> None:
        self._settings.sync()

    def _has_text(self) -> bool:
        """Whether the file holds anything (an empty or missing file is no layout at all)."""
        try:
            return bool(self.path.read_bytes().strip())
        except FileNotFoundError:
            return False
        except OSError:
            return True  # something is there that cannot be read

    def _write(self, group: str, geometry: QByteArray, state: QByteArray) -> None:
        self._settings.setValue(f"{group}/version", LAYOUT_VERSION)
        self._settings.setValue(f"{group}/geometry", geometry)
        self._settings.setValue(f"{group}/state", state)

    def _read(self, group: str) -> tuple[QByteArray, QByteArray] | None:
        version = str(self._settings.value(f"{group}/version"))
        if not version.isdigit() or int(version) != LAYOUT_VERSION:
            return None  # no layout, another build's, or not readable: the default layout
        geometry = self._settings.value(f"{group}/geometry")
        state = self._settings.value(f"{group}/state")
        if not isinstance(geometry, QByteArray) or not isinstance(state, QByteArray):
            return None
        return geometry, state
