"""Which DalalDesk this is: its version and, for an installer's build, the build stamp.

A pip install knows its version from the package metadata. A frozen bundle (PyInstaller) carries
no metadata of its own, so the build writes ``build.json`` beside the resources
(``packaging/build.py``): the version, the commit it was built from, when and for which platform.
About and ``dalaldesk --version`` show both.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib import metadata

from resources import resource_path

log = logging.getLogger(__name__)

BUILD_FILE = "build.json"
"""Written into a bundle's resources by the packaging build; absent from a pip install."""


@dataclass(frozen=True, slots=True)
class Build:
    version: str
    commit: str = ""
    built: str = ""
    """When the bundle was built, UTC, ``YYYY-MM-DD HH:MM``."""
    platform: str = ""
    """What it was built for (``linux-x86_64``, ``windows-amd64``)."""

    @property
    def frozen(self) -> bool:
        return bool(self.built)

    def describe(self) -> str:
        """``0.1.0 (build 77953ff, 2026-12-04 15:10 UTC, linux-x86_64)`` for an installer's
        build; ``0.1.0 (installed with pip)`` otherwise."""
        if not self.frozen:
            return f"{self.version} (installed with pip)"
        parts = [f"build {self.commit}" if self.commit else "build", f"{self.built} UTC"]
        if self.platform:
            parts.append(self.platform)
        return f"{self.version} ({', '.join(parts)})"


def current_build() -> Build:
    """This desk's build: the bundle's stamp when there is one, else the installed version."""
    try:
        stamp = resource_path(BUILD_FILE)
    except FileNotFoundError:
        return Build(version=_installed_version())
    try:
        data = json.loads(stamp.read_text(encoding="utf-8"))
        return Build(
            version=str(data["version"]),
            commit=str(data.get("commit", "")),
            built=str(data["built"]),
            platform=str(data.get("platform", "")),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning(
            "the build stamp %s could not be read (%s); showing the installed version", stamp, exc
        )
        return Build(version=_installed_version())


def _installed_version() -> str:
    try:
        return metadata.version("dalaldesk")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"
