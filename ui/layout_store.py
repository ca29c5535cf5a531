"""Window layouts and named workspaces, saved with Qt's saveState/restoreState in an INI file.

Layouts are versioned: a state saved by a build with a different set of panels is ignored (the
default layout is used) rather than restored half-broken. A saved layout that cannot be used
(another version's, or a file cut short or damaged) is said in words (``current_problem``), and
the file can be kept aside (``set_aside``) before the desk's next save writes over it. A save
that does not reach the file (a read-only or full disk) says so: ``sync`` and the methods that
write return why, in words, and None when the file holds what was saved.
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
        self._settings = self._opened()

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

    def save_workspace(self, name: str, geometry: QByteArray, state: QByteArray) -> str | None:
        """Save the arrangement as the workspace ``name`` (``sync``: None, or why the file does
        not hold it; it is listed and can be switched to until the desk closes either way)."""
        name = workspace_name(name)
        self._write(f"workspaces/{name}", geometry, state)
        return self.sync()

    def workspace(self, name: str) -> tuple[QByteArray, QByteArray] | None:
        return self._read(f"workspaces/{name}")

    def workspaces(self) -> list[str]:
        self._settings.beginGroup("workspaces")
        names = self._settings.childGroups()
        self._settings.endGroup()
        return sorted(names)

    def delete_workspace(self, name: str) -> str | None:
        self._settings.remove(f"workspaces/{name}")
        return self.sync()

    def forget_current(self) -> str | None:
        self._settings.remove("current")
        return self.sync()

    def value(self, key: str, default: object = None) -> object:
        return self._settings.value(key, default)

    def set_value(self, key: str, value: object) -> None:
        self._settings.setValue(key, value)

    def remove(self, key: str) -> None:
        self._settings.remove(key)

    def sync(self) -> str | None:
        """Write what is held to the file: None, or why it could not be written, in words."""
        if self._settings.status() == QSettings.Status.AccessError:
            self._settings = self._with_no_error()
        self._settings.sync()
        if self._settings.status() == QSettings.Status.AccessError:
            return f"cannot write {self.path}"
        return None

    def _with_no_error(self) -> QSettings:
        """A new QSettings holding every value held now. Qt keeps the first error a QSettings
        met for good, so after a failed write a later one that succeeds would be reported as
        failed too; the new one says only what its own writes meet."""
        held = {key: self._settings.value(key) for key in self._settings.allKeys()}
        # Taken first: QSettings objects on one file share what they hold, so clearing the new
        # one clears the old one's too.
        fresh = self._opened()
        fresh.clear()
        for key, value in held.items():
            fresh.setValue(key, value)
        return fresh

    def _opened(self) -> QSettings:
        return QSettings(str(self.path), QSettings.Format.IniFormat)

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
